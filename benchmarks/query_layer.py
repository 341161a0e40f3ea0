"""Round trips of populated pages, serialization paths, and the analytics summary.

Run: python benchmarks/query_layer.py [--uri URI | --server ferretdb|mongo-java-server]
Targets: a populated page in <= 3 round trips at 10 and 200 rows; the fast path within 3x of
raw pymongo + bson for a 50-row page of 50-turn sessions.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable

from bson import json_util

from roleplay_models import (
    SCORE_FIELDS,
    Character,
    ConversationEntry,
    RoleplaySession,
    Scenario,
    SessionAnalytics,
    populate,
)
from roleplay_models.odm.api import api_shape, populated_dicts
from roleplay_models.odm.references import load_references

from common import CommandLog, real_server, server_choice


def best_time(action: Callable[[], object], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def seed_sessions(count: int, turns: int) -> None:
    scenarios = Scenario.objects.insert([
        Scenario(scenario_id=f"bench-{i}", title=f"Scenario {i}", description="d", llm_prompt="p")
        for i in range(count)])
    characters = Character.objects.insert([
        Character(name=f"C{i}", role="CFO", personality="p", background="b", scenarios=[s])
        for i, s in enumerate(scenarios)])
    history = [ConversationEntry(role="user" if t % 2 else "assistant",
                                 text="We are reviewing vendors next quarter, send details.")
               for t in range(turns)]
    RoleplaySession.objects.insert([
        RoleplaySession(session_id=f"session_bench_{i}", scenario=s, character=c,
                        user_id="bench-rep", conversation_history=history)
        for i, (s, c) in enumerate(zip(scenarios, characters, strict=True))])


def round_trips(log: CommandLog) -> None:
    print("Round trips for a page of sessions with scenario and character populated:")
    for size in (10, 200):
        with log.recording():
            RoleplaySession.objects.newest_first().limit(size).populated()
        print(f"  {size:>3} rows: {len(log.names)} ({', '.join(log.names)})")


def serialization() -> None:
    """Time turning one fetched page into JSON, then the same with the fetch included."""
    page = RoleplaySession.objects.newest_first().limit(50)
    raws = list(page.clone().as_pymongo())
    found = populated_dicts(RoleplaySession, load_references(RoleplaySession, raws))
    shape = api_shape(RoleplaySession)

    def documents_from(rows: list) -> str:
        sessions = populate([RoleplaySession._from_son(row) for row in rows])
        return json.dumps([s.to_api_dict() for s in sessions])

    conversions = {
        "raw pymongo + bson": lambda: json_util.dumps(raws),
        "fast path": lambda: json.dumps([shape.dump(raw, found) for raw in raws]),
        "Documents": lambda: documents_from(raws),
    }
    end_to_end = {
        "raw pymongo + bson": lambda: json_util.dumps(list(
            RoleplaySession._get_collection().find().sort("createdAt", -1).limit(50))),
        "fast path": lambda: json.dumps(page.clone().api_dicts()),
        "Documents": lambda: json.dumps([s.to_api_dict() for s in page.clone().populated()]),
    }
    for title, actions in (("converting a fetched page", conversions),
                           ("fetching and converting", end_to_end)):
        timings = {name: best_time(action) for name, action in actions.items()}
        base = timings["raw pymongo + bson"]
        print(f"50-row page of 50-turn sessions to JSON, {title} (best of 5):")
        for name, seconds in timings.items():
            print(f"  {name:<20} {seconds * 1000:8.1f} ms  {seconds / base:5.2f}x raw")
        print(f"  fast path / raw = {timings['fast path'] / base:.2f} (target <= 3)")


def summary() -> None:
    rng = random.Random(1)
    scenarios = list(Scenario.objects.limit(20))
    SessionAnalytics._get_collection().insert_many([
        SessionAnalytics(session_id=f"a{i}", scenario=rng.choice(scenarios), user_id="bench-rep",
                         conversation_flow_analysis="f",
                         **{n: rng.choice(range(1, 11)) for n in SCORE_FIELDS}).to_mongo()
        for i in range(10_000)])

    def in_python() -> dict:
        rows = list(SessionAnalytics.objects)
        return {n: sum(getattr(r, n) for r in rows) / len(rows) for n in SCORE_FIELDS}

    aggregated = best_time(lambda: SessionAnalytics.objects.summary(), repeats=3)
    loaded = best_time(in_python, repeats=3)
    print("Summary over 10,000 analytics (best of 3):")
    print(f"  summary() aggregation   {aggregated * 1000:8.1f} ms")
    print(f"  all loaded as Documents {loaded * 1000:8.1f} ms"
          f"  ({loaded / aggregated:.1f}x the aggregation)")


def main() -> None:
    log = CommandLog()
    with real_server(log, server_choice(__doc__)) as server:
        print(f"Server: {server}")
        seed_sessions(200, 50)
        round_trips(log)
        serialization()
        summary()


if __name__ == "__main__":
    main()
