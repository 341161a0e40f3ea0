"""Each route's cost as a ratio to raw pymongo doing the same logical work, measured in one run.

Run: python benchmarks/speed.py [--uri URI | --server ferretdb|mongo-java-server]
Prints one row per operation: the package's median time over raw pymongo's, the target, and
whether it is met. The package and raw pymongo take turns, with garbage collected between
runs, so that a slow spell of a noisy machine falls on both. For the session routes it prints
growth instead: a route's cost on a large collection (10,000 sessions) and a long history
(about 1,000 turns) over its cost on a small one (10 sessions, 10 turns), divided by the same
growth of raw pymongo doing the same work: an update by ``_id`` on the condition a route must
check (the session's status), so that of two concurrent requests only one wins.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

from bson import ObjectId

import roleplay_models as rp
from roleplay_models.odm.fields import utc_now

from common import CommandLog, ratio_text, real_server, server_choice

REPEATS = 15
LARGE = 10_000
BULK = 10_000
BATCH = 500  # sessions built and inserted at a time, as ``seed --sessions`` does
LONG = 1_000  # turns in the long history: the most a session holds


def timed(action: Callable[[], object]) -> float:
    gc.collect()  # the garbage of the run before is not this run's cost
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def ratio(package: Callable[[], object], raw: Callable[[], object],
          repeats: int = REPEATS) -> float:
    """Median time of ``package`` over median time of ``raw``, the two taking turns."""
    package_times, raw_times = [], []
    for repeat in range(repeats):
        if repeat % 2:
            raw_times.append(timed(raw))
            package_times.append(timed(package))
        else:
            package_times.append(timed(package))
            raw_times.append(timed(raw))
    return statistics.median(package_times) / statistics.median(raw_times)


def session_document(scenario: rp.Scenario, turns: int, user_id: str = "rep-bench"
                     ) -> rp.RoleplaySession:
    started = utc_now() - timedelta(hours=1)
    return rp.RoleplaySession(
        session_id=f"session_{ObjectId()}", scenario=scenario, user_id=user_id,
        start_time=started,
        conversation_history=[
            rp.ConversationEntry(role="user" if i % 2 == 0 else "assistant",
                                 text=f"Turn {i} of the practice call, with a few words.",
                                 timestamp=started + timedelta(seconds=i))
            for i in range(turns)])


def raw_session(scenario_id: ObjectId, turns: int, user_id: str = "rep-bench"
                ) -> dict[str, object]:
    """A stored session as raw pymongo code would build it."""
    now = utc_now()
    started = now - timedelta(hours=1)
    return {"session_id": f"session_{ObjectId()}", "scenario_id": scenario_id,
            "character_id": None, "user_id": user_id, "status": "active",
            "start_time": started, "end_time": None, "total_duration": 0,
            "voice_enabled": False,
            "conversation_history": [
                {"_id": ObjectId(), "role": "user" if i % 2 == 0 else "assistant",
                 "text": f"Turn {i} of the practice call, with a few words.",
                 "timestamp": started + timedelta(seconds=i)}
                for i in range(turns)],
            "createdAt": now, "updatedAt": now}


def raw_analysis(scenario_id: ObjectId, n: int) -> dict[str, object]:
    now = utc_now()
    return {"session_id": f"session_bench_{n}", "scenario_id": scenario_id, "user_id": "rep",
            **{name: 1 + n % 10 for name in rp.SCORE_FIELDS},
            "conversation_flow_analysis": "ok", "createdAt": now, "updatedAt": now}


def fill(scenario_id: ObjectId, sessions: int, turns: int = 2) -> list[dict[str, object]]:
    """Add ``sessions`` sessions straight through pymongo (the filler is not measured);
    returns them as stored."""
    added: list[dict[str, object]] = []
    for start in range(0, sessions, 1000):
        raws = [raw_session(scenario_id, turns) for _ in range(min(1000, sessions - start))]
        rp.RoleplaySession._get_collection().insert_many(raws)
        added += raws
    return added


def empty_sessions() -> None:
    """Drop the sessions and create their indexes again (FerretDB deletes slowly)."""
    rp.RoleplaySession._get_collection().drop()
    rp.ensure_indexes([rp.RoleplaySession])


def growth(case_ratio: Callable[[ObjectId, int], float], scenario_id: ObjectId,
           large: int) -> float:
    """``case_ratio`` on a long history in ``large`` sessions, over it on 10 turns in 10."""
    empty_sessions()
    fill(scenario_id, 10)
    small = case_ratio(scenario_id, 10)
    fill(scenario_id, large - 10)
    return case_ratio(scenario_id, LONG) / small


def turn_ratio(scenario_id: ObjectId, turns: int) -> float:
    """One turn over raw pymongo's conditional ``$push``, on a session of about ``turns``
    turns."""
    # the long history leaves room for the turns added
    (stored,) = fill(scenario_id, 1, turns if turns < LONG else LONG - 2 * REPEATS)
    live = rp.RoleplaySession.objects.live(stored["session_id"])
    entry = rp.ConversationEntry(role="user", text="Another line of the call.").to_mongo()
    collection = rp.RoleplaySession._get_collection()
    return ratio(lambda: live.add_turn("user", "Another line of the call."),
                 lambda: collection.update_one({"_id": stored["_id"], "status": "active"},
                                               {"$push": {"conversation_history": entry}}))


def transitions_ratio(scenario_id: ObjectId, turns: int) -> float:
    """pause, resume and end of one session of ``turns`` turns (loaded with ``live()``
    beforehand) over raw pymongo's three conditional updates."""
    collection = rp.RoleplaySession._get_collection()
    ours = iter([rp.RoleplaySession.objects.live(stored["session_id"])
                 for stored in fill(scenario_id, REPEATS, turns)])
    theirs = iter([stored["_id"] for stored in fill(scenario_id, REPEATS, turns)])

    def package() -> None:
        live = next(ours)
        live.pause()
        live.resume()
        live.end()

    def raw() -> None:
        pk, now = next(theirs), utc_now()
        collection.update_one({"_id": pk, "status": "active"},
                              {"$set": {"status": "paused", "paused_at": now}})
        collection.update_one({"_id": pk, "status": "paused"},
                              {"$set": {"status": "active", "paused_at": None,
                                        "paused_seconds": 0}})
        collection.update_one({"_id": pk, "status": "active"},
                              {"$set": {"status": "ended", "end_time": now,
                                        "total_duration": 3600}})

    return ratio(package, raw)


Row = tuple[str, str, str, bool]


def row(name: str, value: float, most: float) -> Row:
    return name, ratio_text(value, most), f"<= {most:g}", value <= most


def rows(large: int) -> Iterator[Row]:
    scenario = rp.Scenario(scenario_id="bench", title="Bench", description="d",
                           llm_prompt="p").save()
    sessions = rp.RoleplaySession._get_collection()

    loaded = rp.Scenario.objects.get(pk=scenario.pk)
    yield row("start() with a loaded scenario", ratio(
        lambda: rp.RoleplaySession.start(loaded, "rep-bench"),
        lambda: sessions.insert_one(raw_session(scenario.pk, 0))), 2.5)

    long = rp.RoleplaySession.objects.insert(session_document(scenario, 200))
    yield row("load a 200-turn session", ratio(
        lambda: rp.RoleplaySession.objects.get(pk=long.pk),
        lambda: sessions.find_one({"_id": long.pk})), 4)

    def package_bulk() -> None:
        for _ in range(0, BULK, BATCH):
            rp.RoleplaySession.objects.insert(
                [session_document(scenario, 10, "rep-bulk") for _ in range(BATCH)],
                load_bulk=False)

    def raw_bulk() -> None:
        for _ in range(0, BULK, BATCH):
            sessions.insert_many([raw_session(scenario.pk, 10, "rep-bulk")
                                  for _ in range(BATCH)])

    yield row(f"bulk insert {BULK:,} sessions of 10 turns, {BATCH} at a time",
              ratio(package_bulk, raw_bulk, repeats=3), 3)

    empty_sessions()  # a page is read among LARGE sessions
    fill(scenario.pk, LARGE)

    def raw_populated_page() -> None:
        sessions.count_documents({})
        rows = list(sessions.find().sort([("createdAt", -1), ("_id", -1)]).limit(20))
        for collection, key in (("scenarios", "scenario_id"), ("characters", "character_id")):
            ids = list({row[key] for row in rows if row.get(key)})
            list(sessions.database[collection].find({"_id": {"$in": ids}}))

    yield row("page of 20 sessions as API JSON", ratio(
        lambda: rp.RoleplaySession.objects.newest_first().api_page(1, 20),
        raw_populated_page), 1.2)

    analytics = rp.SessionAnalytics._get_collection()
    analytics.insert_many([raw_analysis(scenario.pk, n) for n in range(LARGE)])
    # the same figures from one plain $group per scenario
    scores = {name: {"$sum": f"${name}"} for name in rp.SCORE_FIELDS}
    plain_group = [{"$group": {"_id": "$scenario_id", "n": {"$sum": 1},
                               "best": {"$max": "$overall_score"}, **scores}}]
    if rp.server_facts(sessions.database.client).group_accumulators:  # the target's servers
        yield row("summary()", ratio(
            lambda: rp.SessionAnalytics.objects.summary(),
            lambda: list(analytics.aggregate(plain_group)), repeats=9), 1.2)

    cases = f"(10->{large:,} sessions, 10->{LONG:,} turns)"
    yield row(f"add_turn growth {cases}", growth(turn_ratio, scenario.pk, large), 1.2)
    yield row(f"pause+resume+end growth {cases}",
              growth(transitions_ratio, scenario.pk, large), 1.2)


def main() -> None:
    log = CommandLog()
    with real_server(log, server_choice(__doc__)) as server:
        print(f"Server: {server}")
        print(f"{'operation':<66} {'x raw':>6}  {'target':<7} met")
        for name, value, target, met in rows(LARGE):
            print(f"{name:<66} {value:>6}  {target:<7} {'yes' if met else 'no'}", flush=True)


if __name__ == "__main__":
    main()
