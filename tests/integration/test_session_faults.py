"""Turns while the server is killed (SIGKILL) and restarted on the same data."""

from __future__ import annotations

import threading
import time

import pytest
from pymongo.errors import ConnectionFailure

import roleplay_models
from roleplay_models import RoleplaySession

import builders
from conftest import TEST_DB_PREFIX, start_test_server, with_database

TIMEOUTS_MS = {"serverSelectionTimeoutMS": 1500, "connectTimeoutMS": 1000, "socketTimeoutMS": 2000}
# a socket timeout, and the package's one retry waiting out a selection timeout, with slack
SLOWEST_CALL_S = 6.0


@pytest.fixture
def own_server():
    server = start_test_server()
    if not server.durable:
        server.close()
        pytest.skip(f"{server.name} keeps its data in memory: a kill loses every turn")
    roleplay_models.connect(with_database(server.uri, f"{TEST_DB_PREFIX}faults"), **TIMEOUTS_MS)
    roleplay_models.ensure_indexes()
    yield server
    roleplay_models.disconnect()
    server.close()


def test_every_returned_turn_survives_a_kill_and_the_client_recovers(own_server):
    session = RoleplaySession.start(builders.scenario().save(), "rep")
    calls = []  # (phase, entry or exception, seconds)
    phase = {"now": "before"}
    stop = threading.Event()

    def workload():
        while not stop.is_set():
            started = time.monotonic()
            try:
                outcome = session.add_turn("user", f"turn {len(calls)}")
            except Exception as err:  # sorted out below
                outcome = err
            calls.append((phase["now"], outcome, time.monotonic() - started))

    def returned(which):
        return [c for c in calls if c[0] == which and not isinstance(c[1], Exception)]

    worker = threading.Thread(target=workload)
    worker.start()
    try:
        while len(returned("before")) < 30:
            time.sleep(0.01)
        phase["now"] = "outage"
        own_server.kill()
        # down until calls fail: longer than the package's own retry can hide
        deadline = time.monotonic() + 60
        while not any(c[0] == "outage" and isinstance(c[1], Exception) for c in calls):
            assert time.monotonic() < deadline, "no call failed while the server was down"
            time.sleep(0.05)
        phase["now"] = "after"
        own_server.start()
        deadline = time.monotonic() + 60
        while len(returned("after")) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=30)

    errors = [c[1] for c in calls if isinstance(c[1], Exception)]
    assert errors, "no call failed while the server was down"
    assert all(isinstance(err, ConnectionFailure) for err in errors), errors
    assert max(seconds for _, _, seconds in calls) <= SLOWEST_CALL_S
    assert len(returned("after")) >= 30
    stored = {e["_id"] for e in RoleplaySession._get_collection().find_one(
        {"_id": session.pk})["conversation_history"]}
    returned_ids = {c[1].id for c in calls if not isinstance(c[1], Exception)}
    assert returned_ids <= stored
