"""The network failing mid-write, through a fault proxy: every turn, session and end stored once."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import textwrap
import threading
from collections import Counter

import pymongo.errors
import pytest

import roleplay_models
from roleplay_models import RoleplaySession, WriteOutcome, WriteUnconfirmed

import builders
from faultproxy import FaultProxy
from served_apps import App

WORKERS, TURNS_EACH = 4, 200
# A reply held past the client's socket timeout: the write is applied, the client sees a timeout.
# The timeout leaves a loaded machine (four workers, the server and the proxy on two cores) room
# to answer a command that is not delayed; a worker retries a call for as long as it takes.
SOCKET_TIMEOUT_MS, DELAY_SECONDS = 800, 1.0
CLIENT_OPTIONS = {"socketTimeoutMS": SOCKET_TIMEOUT_MS, "serverSelectionTimeoutMS": 5000}

WORKER = textwrap.dedent("""
    import json, sys, time
    import pymongo.errors
    import roleplay_models as rp
    uri, session_id, name, count = sys.argv[1:]

    def retried(call):  # what a client does: the same request again until it is answered
        failures, give_up_at = 0, time.monotonic() + 120
        while True:
            try:
                return call(), failures
            except (pymongo.errors.PyMongoError, rp.ConcurrentModification):
                failures += 1
                if time.monotonic() > give_up_at:
                    raise

    retried(lambda: rp.connect(uri, ensure_indexes=False))
    session, _ = retried(lambda: rp.RoleplaySession.objects.live(session_id))
    print("ready", flush=True)
    sys.stdin.readline()
    outcomes, failed = [], 0
    for n in range(int(count)):
        turn_id = f"{name}-{n}"
        _, failures = retried(lambda: session.add_turn("user", turn_id, turn_id=turn_id))
        failed += failures
        outcomes.append(session.last_outcome.value)
    print(json.dumps({"outcomes": outcomes, "failed_calls": failed}), flush=True)
""")


@pytest.fixture
def proxy(db, run_database_uri):
    with FaultProxy(run_database_uri) as proxy:
        yield proxy
        assert proxy.errors == []


def through(proxy):
    """Connect the package through the proxy, with a socket timeout the delays outlast."""
    roleplay_models.connect(proxy.uri, ensure_indexes=False, **CLIENT_OPTIONS)


@pytest.mark.long
def test_four_workers_of_two_hundred_turns_through_resets_and_delays_lose_and_double_none(
    proxy, run_database_uri
):
    session = RoleplaySession.start(builders.scenario().save(), "rep")
    uri = proxy.uri + ("&" if "?" in proxy.uri else "?") + "&".join(
        f"{key}={value}" for key, value in CLIENT_OPTIONS.items())
    workers = [subprocess.Popen(
        [sys.executable, "-c", WORKER, uri, session.session_id, f"w{i}", str(TURNS_EACH)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(WORKERS)]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
    proxy.randomize(seed=19, reset=0.05, delay=0.02, delay_seconds=DELAY_SECONDS)
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=900)
        assert worker.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    proxy.calm()
    faults = proxy.faults()

    history = RoleplaySession._get_collection().find_one({"_id": session.pk})[
        "conversation_history"]
    texts = [turn["text"] for turn in history]
    asked = {f"w{i}-{n}" for i in range(WORKERS) for n in range(TURNS_EACH)}
    counted = Counter(texts)
    lost = asked - set(counted)
    doubled = {text: n for text, n in counted.items() if n > 1}
    outcomes = Counter(outcome for result in results for outcome in result["outcomes"])
    print(f"\nfaults injected: {faults}; client calls that failed and were repeated: "
          f"{sum(r['failed_calls'] for r in results)}; outcomes: {dict(outcomes)}; "
          f"turns stored: {len(texts)} of {len(asked)}; lost: {len(lost)}; "
          f"duplicated: {len(doubled)}")
    assert sum(faults.values()) > 0  # the run did meet faults
    assert lost == set() and doubled == {}
    assert len(texts) == len({turn["_id"] for turn in history}) == len(asked)
    for i in range(WORKERS):  # each worker's turns in the order it sent them
        assert [t for t in texts if t.startswith(f"w{i}-")] == [
            f"w{i}-{n}" for n in range(TURNS_EACH)]


@pytest.mark.parametrize("turn_id", ["t-1", None])  # None: an id add_turn makes
def test_a_turn_whose_reply_is_lost_is_sent_again_and_stored_once(proxy, turn_id):
    through(proxy)
    session = RoleplaySession.start(builders.scenario().save(), "rep")
    proxy.reset_next("after_request", command="update")
    entry = session.add_turn("user", "Hello", turn_id=turn_id)
    assert proxy.faults()["reset_after_request"] == 1
    assert session.last_outcome is WriteOutcome.ALREADY_STORED  # the retry found it stored
    stored = RoleplaySession._get_collection().find_one({"_id": session.pk})
    assert [turn["_id"] for turn in stored["conversation_history"]] == [entry.id]


def test_a_write_whose_replies_are_lost_twice_is_unconfirmed_and_safe_to_repeat(proxy):
    through(proxy)
    session = RoleplaySession.start(builders.scenario().save(), "rep")
    proxy.reset_next("after_request", times=2)
    with pytest.raises(WriteUnconfirmed, match="same id"):
        session.add_turn("user", "Hello", turn_id="t-1")
    assert proxy.pending() == 0
    entry = session.add_turn("user", "Hello", turn_id="t-1")
    again = session.add_turn("user", "Hello", turn_id="t-1")
    assert again.id == entry.id and session.last_outcome is WriteOutcome.ALREADY_STORED
    stored = RoleplaySession._get_collection().find_one({"_id": session.pk})
    assert [turn["_id"] for turn in stored["conversation_history"]] == [entry.id]


def test_a_session_started_while_replies_are_lost_is_stored_once(proxy):
    through(proxy)
    scenario = builders.scenario().save()
    proxy.reset_next("after_request", command="insert")
    session = RoleplaySession.start(scenario, "rep", session_id="session-fixed")
    assert session.last_outcome is WriteOutcome.ALREADY_STORED
    proxy.delay_next(DELAY_SECONDS, command="insert")  # a client retry after a timeout
    again = RoleplaySession.start(scenario, "rep", session_id="session-fixed")
    assert proxy.faults()["reset_after_request"] == proxy.faults()["delay_forward"] == 1
    assert again.pk == session.pk and again.last_outcome is WriteOutcome.ALREADY_STORED
    assert RoleplaySession.objects(session_id="session-fixed").count() == 1


def test_ends_repeated_through_resets_give_one_final_status_and_no_conflict(proxy):
    through(proxy)
    session = RoleplaySession.start(builders.scenario().save(), "rep")
    results: list[object] = []

    def end(copy):
        for _ in range(20):  # a client repeating its request until it is answered
            try:
                results.append(copy.end())
                return
            except (pymongo.errors.ConnectionFailure, roleplay_models.ConcurrentModification):
                continue  # a 503: WriteUnconfirmed, or the network failing a read
            except Exception as err:  # anything else is collected for the assertion
                results.append(err)
                return
        results.append("never answered")

    copies = [RoleplaySession.objects.live(session.session_id) for _ in range(6)]
    proxy.randomize(seed=7, reset=0.1)
    threads = [threading.Thread(target=end, args=(copy,)) for copy in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    proxy.calm()
    assert all(isinstance(result, WriteOutcome) for result in results), results
    assert len(results) == 6 and results.count(WriteOutcome.STORED) <= 1
    stored = RoleplaySession._get_collection().find_one({"_id": session.pk})
    assert stored["status"] == "ended"
    assert {copy.end_time for copy in copies} == {stored["end_time"]}


def test_patches_retried_with_their_turn_ids_through_several_app_processes_store_each_once(
    proxy
):
    pytest.importorskip("flask")
    scenario = builders.scenario().save()
    uri = proxy.uri + "&" + "&".join(f"{key}={value}" for key, value in CLIENT_OPTIONS.items())
    apps = [App("flask", uri) for _ in range(3)]
    answers: Counter[int] = Counter()

    def sent_until_answered(n: int, method: str, path: str, body: dict[str, object]) -> int:
        for attempt in range(30):  # the frontend: the same request again, to any worker
            try:
                status, answer = apps[(n + attempt) % len(apps)].call(method, path, body)
            except (ConnectionError, http.client.HTTPException):
                continue
            answers[status] += 1
            if status in (200, 201):
                return status
            assert status == 503, answer
        raise AssertionError(f"{method} {path} {body} was never answered")

    try:
        proxy.randomize(seed=3, reset=0.08, delay=0.02, delay_seconds=DELAY_SECONDS)
        for n in range(3):  # the start, repeated as a client would after a 503 or a reset
            sent_until_answered(n, "POST", "/sessions", {
                "scenario_id": str(scenario.pk), "user_id": "rep", "session_id": "session-http"})
        for n in range(60):
            sent_until_answered(n, "PATCH", "/sessions/session-http", {
                "turn": {"role": "user", "text": f"turn {n}"}, "turn_id": f"turn-{n}"})
        proxy.calm()
    finally:
        for app in apps:
            app.stop()
    (stored,) = RoleplaySession._get_collection().find({})
    print(f"\nfaults injected: {proxy.faults()}; answers: {dict(answers)}")
    assert sum(proxy.faults().values()) > 0
    assert stored["session_id"] == "session-http"
    assert [turn["text"] for turn in stored["conversation_history"]] == [
        f"turn {n}" for n in range(60)]
