"""How the example app's PATCH route (a turn) grows with the history, beside raw pymongo's same
route, and the commands each session route sends.

Run: python benchmarks/routes.py [--repeats N] [--uri URI | --server ferretdb|mongo-java-server]
Every route is served by the Flask example (``examples/flask_app.py``) through Flask's test
client, so the web framework's cost falls on each alike. Raw pymongo's same route, added to that
app: find the session by ``session_id`` (projection without the history), ``$push`` the turn
with a filter on the status, answer the stored turn and the state it read. For a session of 10
turns and one of 800 the routes take turns, one request each, garbage collected before each;
growth is the route's median time at 800 over its median at 10, divided by raw pymongo's. The
example's route before this answer (the whole session, read again) is shown for comparison.
Prints the commands of one request of each session route too.
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
SHORT, LONG = 10, 800
TARGET = 1.2  # the speed issue's: the route grows at most 1.2x as fast as raw pymongo's


def stored_session(scenario_id: ObjectId, turns: int) -> str:
    """A session of ``turns`` turns, inserted straight through pymongo; its session_id."""
    now = utc_now()
    started = now - timedelta(hours=1)
    session_id = f"session_{ObjectId()}"
    rp.RoleplaySession._get_collection().insert_one({
        "session_id": session_id, "scenario_id": scenario_id, "character_id": None,
        "user_id": "rep-bench", "status": "active", "start_time": started, "end_time": None,
        "total_duration": 0, "voice_enabled": False,
        "conversation_history": [
            {"_id": ObjectId(), "role": "user" if i % 2 == 0 else "assistant",
             "text": f"Turn {i} of the practice call, with a few words.",
             "timestamp": started + timedelta(seconds=i), "audio_duration": None}
            for i in range(turns)],
        "createdAt": now, "updatedAt": now})
    return session_id


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


ROUTES = {"example": f"{API}/sessions", "raw pymongo": "/raw/sessions",
          "before": "/before/sessions"}


def medians(client: Any, scenario_id: ObjectId, turns: int, repeats: int) -> dict[str, float]:
    """Each route's median seconds for a turn on a session of about ``turns`` turns, the
    routes taking turns (in a rotating order) on sessions of their own."""
    targets = {name: f"{prefix}/{stored_session(scenario_id, turns)}"
               for name, prefix in ROUTES.items()}
    body = {"turn": {"role": "user", "text": "Another line of the call."}}
    for path in targets.values():  # warm: the first request of a route pays for its setup
        client.patch(path, json=body)
    times: dict[str, list[float]] = {name: [] for name in targets}
    names = list(targets)
    for repeat in range(repeats):
        for name in names[repeat % 3:] + names[:repeat % 3]:
            times[name].append(timed(lambda path=targets[name]: client.patch(path, json=body)))
    return {name: statistics.median(values) for name, values in times.items()}


def commands(client: Any, log: CommandLog, scenario_id: ObjectId) -> list[tuple[str, list[str]]]:
    """The commands one request of each session route sends, on a session of LONG turns."""
    path = f"{API}/sessions/{stored_session(scenario_id, LONG)}"
    requests = [
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
            assert request().status_code == 200
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=41,
                        help="requests of each route at each length (default 41; at most 150)")
    choice = server_choice(__doc__, parser)
    if not 1 <= choice.repeats <= 150:  # a session holds at most 1,000 turns
        parser.error("--repeats must be from 1 to 150")
    log = CommandLog()
    with served(choice, log) as (app, server):
        client = app.test_client()
        scenario = rp.Scenario(scenario_id="bench", title="Bench", description="d",
                               llm_prompt="p").save()
        print(f"Server: {server}")
        print("Commands per request (a session of 800 turns):")
        for name, names in commands(client, log, scenario.pk):
            print(f"  {name:<28} {len(names)}  {' '.join(names)}")
        short = medians(client, scenario.pk, SHORT, choice.repeats)
        long = medians(client, scenario.pk, LONG, choice.repeats)
        print(f"PATCH a turn, median ms of {choice.repeats} ({SHORT} -> {LONG} turns):")
        for name in ROUTES:
            print(f"  {name:<12} {short[name] * 1000:8.2f} -> {long[name] * 1000:8.2f}"
                  f"   growth {long[name] / short[name]:5.2f}")
        raw_growth = long["raw pymongo"] / short["raw pymongo"]
        for name in ("example", "before"):
            ratio = long[name] / short[name] / raw_growth
            met = "yes" if ratio <= TARGET else "no"
            print(f"{name} route's growth over raw pymongo's: {ratio:.2f}"
                  f" (target <= {TARGET}: {met})")


if __name__ == "__main__":
    main()
