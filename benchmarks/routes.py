"""How the example app's PATCH route (a turn) grows with the history and with the collection,
beside raw pymongo's same route, and the commands each session route sends.

Run: python benchmarks/routes.py [--repeats N] [--collection-repeats N]
                                 [--uri URI | --server ferretdb|mongo-java-server]
Every route is served by the Flask example (``examples/flask_app.py``) through Flask's test
client, so the web framework's cost falls on each alike. Raw pymongo's same route, added to that
app: find the session by ``session_id`` (projection without the history), ``$push`` the turn
with a filter on the status, answer the stored turn and the state it read. The routes take
turns, one request each on sessions of their own, garbage collected before each. A route's
growth is its median time in the large case over its median in the small one; the target is
on that growth over raw pymongo's (the speed issue's: at most 1.2).
With the history (--repeats requests each, 41 by default): a session of 10 turns, then one of
800; the example's route before it answered the state alone (the whole session read again) is
shown for comparison. With the collection (--collection-repeats, 15 by default): a session of 10
turns among about 100 sessions, then among about 2,000, the sessions emptied first and padded
with 10-turn sessions inserted straight through pymongo.
Prints the commands of one request of each session route too: starting a session (and the same
start again, as a client's retry), then each route on a session of 800 turns.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from flask import Flask, jsonify

import roleplay_models as rp
from roleplay_models.db.connection import with_database
from roleplay_models.odm.fields import utc_now

from common import SERVERS, CommandLog, server_choice

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from flask_app import create_app  # noqa: E402

__all__ = ("main",)

API = "/api/roleplay"
SHORT, LONG = 10, 800  # turns in a session, for the growth with the history
SMALL, LARGE = 100, 2_000  # sessions in the collection, for the growth with the collection
RAW = "raw pymongo"
TARGET = 1.2  # the speed issue's: the route grows at most 1.2x as fast as raw pymongo's


def session_document(scenario_id: ObjectId, turns: int) -> dict[str, Any]:
    """A session of ``turns`` turns as raw pymongo code would store it."""
    now = utc_now()
    started = now - timedelta(hours=1)
    return {
        "session_id": f"session_{ObjectId()}", "scenario_id": scenario_id, "character_id": None,
        "user_id": "rep-bench", "status": "active", "start_time": started, "end_time": None,
        "total_duration": 0, "voice_enabled": False,
        "conversation_history": [
            {"_id": ObjectId(), "role": "user" if i % 2 == 0 else "assistant",
             "text": f"Turn {i} of the practice call, with a few words.",
             "timestamp": started + timedelta(seconds=i), "audio_duration": None}
            for i in range(turns)],
        "createdAt": now, "updatedAt": now}


def stored_session(scenario_id: ObjectId, turns: int) -> str:
    """A session of ``turns`` turns, inserted straight through pymongo; its session_id."""
    session = session_document(scenario_id, turns)
    rp.RoleplaySession._get_collection().insert_one(session)
    return str(session["session_id"])


def empty_sessions() -> None:
    """Drop the sessions and make their indexes again."""
    rp.RoleplaySession._get_collection().drop()
    rp.ensure_indexes([rp.RoleplaySession])


def pad_collection(scenario_id: ObjectId, sessions: int) -> int:
    """Insert sessions of SHORT turns straight through pymongo (insert_many) until at least
    ``sessions`` are stored; how many are."""
    collection = rp.RoleplaySession._get_collection()
    missing = sessions - collection.count_documents({})
    if missing > 0:
        collection.insert_many([session_document(scenario_id, SHORT) for _ in range(missing)])
    return collection.count_documents({})


def add_raw_routes(app: Flask) -> None:
    """Raw pymongo's PATCH route, and the example's route as it was (the whole session)."""
    sessions = rp.RoleplaySession._get_collection()

    @app.patch("/raw/sessions/<session_id>")
    def raw_turn(session_id: str) -> Any:
        found = sessions.find_one({"session_id": session_id}, {"conversation_history": 0})
        if found is None:
            return jsonify(success=False, error="RoleplaySession not found"), 404
        now = utc_now()
        entry = {"_id": ObjectId(), "role": "user", "text": "Another line of the call.",
                 "timestamp": now, "audio_duration": None}
        done = sessions.update_one({"_id": found["_id"], "status": "active"},
                                   {"$push": {"conversation_history": entry},
                                    "$set": {"updatedAt": now}, "$max": {"last_turn_at": now}})
        if done.matched_count != 1:
            return jsonify(success=False, error="the session is not active"), 409
        found["updatedAt"] = now
        state = {"id": found.pop("_id"), **found}
        return jsonify(success=True, session=state, turn={"id": entry.pop("_id"), **entry})

    @app.patch("/before/sessions/<session_id>")
    def whole_session_turn(session_id: str) -> Any:
        session = rp.RoleplaySession.objects.live(session_id)
        session.add_turn("user", "Another line of the call.")
        return jsonify(success=True,
                       session=rp.RoleplaySession.objects(pk=session.pk).api_dicts()[0])


def timed(request: Callable[[], Any]) -> float:
    gc.collect()  # the garbage of the request before is not this one's cost
    started = time.perf_counter()
    answer = request()
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200, answer.json
    return elapsed


ROUTES = {"example": f"{API}/sessions", RAW: "/raw/sessions", "before": "/before/sessions"}


def medians(client: Any, scenario_id: ObjectId, turns: int, repeats: int,
            routes: dict[str, str] = ROUTES) -> dict[str, float]:
    """Each route's median seconds for a turn on a session of about ``turns`` turns, the
    routes taking turns (in a rotating order) on sessions of their own."""
    targets = {name: f"{prefix}/{stored_session(scenario_id, turns)}"
               for name, prefix in routes.items()}
    body = {"turn": {"role": "user", "text": "Another line of the call."}}
    for path in targets.values():  # warm: the first request of a route pays for its setup
        client.patch(path, json=body)
    times: dict[str, list[float]] = {name: [] for name in targets}
    names = list(targets)
    for repeat in range(repeats):
        first = repeat % len(names)
        for name in names[first:] + names[:first]:
            times[name].append(timed(lambda path=targets[name]: client.patch(path, json=body)))
    return {name: statistics.median(values) for name, values in times.items()}


def commands(client: Any, log: CommandLog, scenario: rp.Scenario, character: rp.Character
             ) -> list[tuple[str, list[str]]]:
    """The commands one request of each session route sends: starting a session (twice with
    the same session_id, as a client's retry), then each route on a session of LONG turns."""
    start = {"scenario_id": str(scenario.pk), "user_id": "rep-bench",
             "character_id": str(character.pk), "session_id": f"session_{ObjectId()}"}
    path = f"{API}/sessions/{stored_session(scenario.pk, LONG)}"
    requests = [
        ("POST /sessions", lambda: client.post(f"{API}/sessions", json=start)),
        ("POST /sessions again", lambda: client.post(f"{API}/sessions", json=start)),
        ("PATCH a turn", lambda: client.patch(path, json={
            "turn": {"role": "user", "text": "Hi"}, "turn_id": "bench-turn"})),
        ("PATCH the same turn again", lambda: client.patch(path, json={
            "turn": {"role": "user", "text": "Hi"}, "turn_id": "bench-turn"})),
        ("PATCH status paused", lambda: client.patch(path, json={"status": "paused"})),
        ("PATCH status active", lambda: client.patch(path, json={"status": "active"})),
        ("POST /end", lambda: client.post(f"{path}/end")),
        ("GET the whole session", lambda: client.get(path)),
    ]
    sent = []
    for name, request in requests:
        with log.recording():
            assert request().status_code in (200, 201)  # 201: a session started
        sent.append((name, log.names))
    return sent


@contextlib.contextmanager
def served(choice: argparse.Namespace, log: CommandLog) -> Iterator[tuple[Flask, str]]:
    """The example app on ``--uri`` (or ``$MONGODB_URI``), else on a fresh server of the
    ``--server`` kind, in a throwaway database dropped at the end; and the server's label."""
    with contextlib.ExitStack() as stack:
        if choice.uri:
            base = choice.uri
        else:
            base = stack.enter_context(SERVERS[choice.server]()).uri
        uri = with_database(base, f"roleplay_bench_{uuid.uuid4().hex[:8]}")
        app = create_app({"MONGODB_SETTINGS": {"host": uri, "event_listeners": [log]}})
        add_raw_routes(app)
        client = app.extensions["roleplay_models"]
        try:
            with warnings.catch_warnings():  # a refused text index is no news for a benchmark
                warnings.simplefilter("ignore", rp.IndexRefusedWarning)
                assert app.test_client().get(f"{API}/sessions").status_code == 200  # indexes
            yield app, rp.server_facts(client).describe()
        finally:
            client.drop_database(client.get_default_database().name)
            rp.disconnect()


def report(heading: str, small: dict[str, float], large: dict[str, float]) -> None:
    """Each route's median ms and growth from ``small`` to ``large``, and each route's growth
    over raw pymongo's against the target."""
    print(heading)
    for name in small:
        print(f"  {name:<12} {small[name] * 1000:8.2f} -> {large[name] * 1000:8.2f}"
              f"   growth {large[name] / small[name]:5.2f}")
    raw_growth = large[RAW] / small[RAW]
    for name in small:
        if name != RAW:
            ratio = large[name] / small[name] / raw_growth
            met = "yes" if ratio <= TARGET else "no"
            print(f"{name} route's growth over raw pymongo's: {ratio:.2f}"
                  f" (target <= {TARGET}: {met})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=41,
                        help="requests of each route in each case of the history"
                             " (default 41; at most 150)")
    # FerretDB v1 reads every stored session for a query by session_id: a turn among 2,000
    # takes a second or two there
    parser.add_argument("--collection-repeats", type=int, default=15,
                        help="requests of each route in each case of the collection"
                             " (default 15; at most 150)")
    choice = server_choice(__doc__, parser)
    for flag, repeats in (("--repeats", choice.repeats),
                          ("--collection-repeats", choice.collection_repeats)):
        if not 1 <= repeats <= 150:  # a session holds at most 1,000 turns
            parser.error(f"{flag} must be from 1 to 150")
    log = CommandLog()
    with served(choice, log) as (app, server):
        client = app.test_client()
        scenario = rp.Scenario(scenario_id="bench", title="Bench", description="d",
                               llm_prompt="p").save()
        character = rp.Character(name="Dana", role="CFO", personality="p", background="b",
                                 scenarios=[scenario]).save()
        print(f"Server: {server}")
        print(f"Commands per request (PATCH, /end and GET on a session of {LONG} turns):")
        for name, names in commands(client, log, scenario, character):
            print(f"  {name:<28} {len(names)}  {' '.join(names)}")
        short = medians(client, scenario.pk, SHORT, choice.repeats)
        long = medians(client, scenario.pk, LONG, choice.repeats)
        report(f"PATCH a turn, median ms of {choice.repeats} ({SHORT} -> {LONG} turns):",
               short, long)
        turn_routes = {name: ROUTES[name] for name in ("example", RAW)}
        # on FerretDB a request's time grows with all the collection holds: the long histories
        # left by the cases above made a turn among 100 sessions take over 3x as long
        empty_sessions()
        small_count = pad_collection(scenario.pk, SMALL)
        small = medians(client, scenario.pk, SHORT, choice.collection_repeats, turn_routes)
        large_count = pad_collection(scenario.pk, LARGE)
        large = medians(client, scenario.pk, SHORT, choice.collection_repeats, turn_routes)
        report(f"PATCH a turn on a session of {SHORT} turns, median ms of"
               f" {choice.collection_repeats}"
               f" ({small_count:,} -> {large_count:,} sessions in the collection):",
               small, large)


if __name__ == "__main__":
    main()
