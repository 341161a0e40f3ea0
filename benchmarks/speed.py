"""Each route's cost as a ratio to raw pymongo doing the same logical work, measured in one run.

Run: python benchmarks/speed.py [--uri URI | --server ferretdb|mongo-java-server]
Prints one row per operation: the package's median time over raw pymongo's, the target, and
whether it is met. For add_turn it prints growth instead: its cost on a large collection
(10,000 sessions) and a long history (about 960 turns) over a small one (10 sessions, 10 turns),
divided by the same growth of raw pymongo's ``$push``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import timedelta

from bson import ObjectId

import roleplay_models as rp
from roleplay_models.odm.fields import utc_now

from common import CommandLog, real_server, server_choice

REPEATS = 15
LARGE = 10_000
BULK = 2_000


def median_time(action: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def session_document(scenario: rp.Scenario, turns: int) -> rp.RoleplaySession:
    started = utc_now() - timedelta(hours=1)
    return rp.RoleplaySession(
        session_id=f"session_{ObjectId()}", scenario=scenario, user_id="rep-bench",
        start_time=started,
        conversation_history=[
            rp.ConversationEntry(role="user" if i % 2 == 0 else "assistant",
                                 text=f"Turn {i} of the practice call, with a few words.",
                                 timestamp=started + timedelta(seconds=i))
            for i in range(turns)])


def raw_session(scenario_id: ObjectId, turns: int) -> dict[str, object]:
    """A stored session as raw pymongo code would build it."""
    now = utc_now()
    return {"session_id": f"session_{ObjectId()}", "scenario_id": scenario_id,
            "character_id": None, "user_id": "rep-bench", "status": "active",
            "start_time": now, "end_time": None, "total_duration": 0, "voice_enabled": False,
            "conversation_history": [
                {"_id": ObjectId(), "role": "user" if i % 2 == 0 else "assistant",
                 "text": f"Turn {i} of the practice call, with a few words.", "timestamp": now}
                for i in range(turns)],
            "createdAt": now, "updatedAt": now}


def raw_analysis(scenario_id: ObjectId, n: int) -> dict[str, object]:
    now = utc_now()
    return {"session_id": f"session_bench_{n}", "scenario_id": scenario_id, "user_id": "rep",
            **{name: 1 + n % 10 for name in rp.SCORE_FIELDS},
            "conversation_flow_analysis": "ok", "createdAt": now, "updatedAt": now}


def fill(scenario: rp.Scenario, sessions: int) -> None:
    """Add ``sessions`` small sessions straight through pymongo (the filler is not measured)."""
    raws = [session_document(scenario, 2).to_mongo().to_dict() for _ in range(sessions)]
    for start in range(0, len(raws), 1000):
        rp.RoleplaySession._get_collection().insert_many(raws[start:start + 1000])


def turn_growth(scenario: rp.Scenario, large: int) -> tuple[float, float]:
    """(package growth, raw growth) of one turn from the small case to the large one."""
    collection = rp.RoleplaySession._get_collection()

    def costs() -> tuple[float, float]:
        session = rp.RoleplaySession.objects.insert(session_document(scenario, turns))
        live = rp.RoleplaySession.objects.live(session.session_id)
        package = median_time(lambda: live.add_turn("user", "Another line of the call."))
        entry = rp.ConversationEntry(role="user", text="Another line of the call.")
        raw = median_time(lambda: collection.update_one(
            {"_id": session.pk}, {"$push": {"conversation_history": entry.to_mongo()}}))
        return package, raw

    turns = 10
    small = costs()
    fill(scenario, large - 10)
    turns = 990 - 2 * REPEATS
    big = costs()
    return big[0] / small[0], big[1] / small[1]


def rows(large: int) -> list[tuple[str, float, str, bool]]:
    scenario = rp.Scenario(scenario_id="bench", title="Bench", description="d",
                           llm_prompt="p").save()
    sessions = rp.RoleplaySession._get_collection()
    found: list[tuple[str, float, str, bool]] = []

    loaded = rp.Scenario.objects.get(pk=scenario.pk)
    start = median_time(lambda: rp.RoleplaySession.start(loaded, "rep-bench"))
    raw_start = median_time(lambda: sessions.insert_one(
        session_document(scenario, 0).to_mongo().to_dict()))
    found.append(("start() with a loaded scenario", start / raw_start, "<= 2.5",
                  start / raw_start <= 2.5))

    long = rp.RoleplaySession.objects.insert(session_document(scenario, 200))
    load = median_time(lambda: rp.RoleplaySession.objects.get(pk=long.pk))
    raw_load = median_time(lambda: sessions.find_one({"_id": long.pk}))
    found.append(("load a 200-turn session", load / raw_load, "<= 4", load / raw_load <= 4))

    def build_and_insert() -> None:
        rp.RoleplaySession.objects.insert(
            [session_document(scenario, 10) for _ in range(BULK)], load_bulk=False)

    def build_and_insert_raw() -> None:
        sessions.insert_many([raw_session(scenario.pk, 10) for _ in range(BULK)])

    bulk = median_time(build_and_insert, repeats=3)
    raw_bulk = median_time(build_and_insert_raw, repeats=3)
    found.append((f"bulk insert {BULK:,} sessions", bulk / raw_bulk, "<= 3", bulk / raw_bulk <= 3))

    def raw_populated_page() -> None:
        sessions.count_documents({})
        rows = list(sessions.find().sort([("createdAt", -1), ("_id", -1)]).limit(20))
        for collection, key in (("scenarios", "scenario_id"), ("characters", "character_id")):
            ids = list({row[key] for row in rows if row.get(key)})
            list(sessions.database[collection].find({"_id": {"$in": ids}}))

    page = median_time(lambda: rp.RoleplaySession.objects.newest_first().api_page(1, 20))
    raw_page = median_time(raw_populated_page)
    found.append(("page of 20 sessions as API JSON", page / raw_page, "<= 1.2",
                  page / raw_page <= 1.2))

    analytics = rp.SessionAnalytics._get_collection()
    analytics.insert_many([raw_analysis(scenario.pk, n) for n in range(LARGE)])
    # the same figures from one plain $group per scenario
    scores = {name: {"$sum": f"${name}"} for name in rp.SCORE_FIELDS}
    plain_group = [{"$group": {"_id": "$scenario_id", "n": {"$sum": 1},
                               "best": {"$max": "$overall_score"}, **scores}}]
    if rp.server_facts(sessions.database.client).group_accumulators:  # the target's servers
        summary = median_time(lambda: rp.SessionAnalytics.objects.summary(), repeats=5)
        raw_summary = median_time(lambda: list(analytics.aggregate(plain_group)), repeats=5)
        found.append(("summary()", summary / raw_summary, "<= 1.2", summary / raw_summary <= 1.2))

    package, raw = turn_growth(scenario, large)
    found.append((f"add_turn growth (10->{large} sessions, 10->960 turns)", package / raw,
                  "<= 1.2", package / raw <= 1.2))
    return found


def main() -> None:
    log = CommandLog()
    with real_server(log, server_choice(__doc__)) as server:
        print(f"Server: {server}")
        print(f"{'operation':<52} {'x raw':>7}  {'target':<7} met")
        for name, ratio, target, met in rows(LARGE):
            print(f"{name:<52} {ratio:>7.2f}  {target:<7} {'yes' if met else 'no'}")


if __name__ == "__main__":
    main()
