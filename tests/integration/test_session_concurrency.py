"""Concurrent turns, racing transitions and duplicate ids, on the real server."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from mongoengine import NotUniqueError

from roleplay_models import InvalidTransition, RoleplaySession, SessionNotActive, WriteOutcome

import builders


def run_together(count, work):
    """Run ``work(i)`` in ``count`` threads released at once; return results or exceptions."""
    barrier = threading.Barrier(count)

    def call(i):
        barrier.wait()
        try:
            return work(i)
        except Exception as err:  # collected for the test to inspect
            return err

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(call, range(count)))


def started(db):
    return RoleplaySession.start(builders.scenario().save(), "rep")


@pytest.mark.long
def test_eight_threads_of_a_hundred_and_twenty_five_turns_lose_none(db):
    session = started(db)  # 8 x 125: as many turns as a session may hold

    def add_turns(thread):
        mine = RoleplaySession.objects.get(pk=session.pk)
        for i in range(125):
            mine.add_turn("user", f"t{thread}-{i}")

    results = run_together(8, add_turns)
    assert results == [None] * 8
    texts = [e["text"] for e in RoleplaySession._get_collection().find_one(
        {"_id": session.pk})["conversation_history"]]
    assert len(texts) == 1000
    for thread in range(8):
        assert [t for t in texts if t.startswith(f"t{thread}-")] == [
            f"t{thread}-{i}" for i in range(125)]


def test_sixteen_racing_ends_have_one_winner_and_the_rest_find_it_done(db):
    session = started(db)
    copies = [RoleplaySession.objects.get(pk=session.pk) for _ in range(16)]
    results = run_together(16, lambda i: copies[i].end())
    winners = [i for i, r in enumerate(results) if r is WriteOutcome.STORED]
    assert len(winners) == 1
    assert results.count(WriteOutcome.ALREADY_STORED) == 15
    raw = RoleplaySession._get_collection().find_one({"_id": session.pk})
    assert raw["status"] == "ended"
    assert {copy.end_time for copy in copies} == {raw["end_time"]}
    assert {copy.total_duration for copy in copies} == {raw["total_duration"]}


def test_racing_end_and_complete_have_one_winner_and_one_conflict(db):
    session = started(db)
    copies = [RoleplaySession.objects.get(pk=session.pk) for _ in range(16)]
    results = run_together(16, lambda i: copies[i].end() if i % 2 else copies[i].complete())
    raw = RoleplaySession._get_collection().find_one({"_id": session.pk})
    winners = [i for i, r in enumerate(results) if r is WriteOutcome.STORED]
    assert len(winners) == 1
    same = [i for i in range(16) if i % 2 == winners[0] % 2]
    assert all(results[i] in (WriteOutcome.STORED, WriteOutcome.ALREADY_STORED) for i in same)
    assert all(isinstance(results[i], InvalidTransition) for i in range(16) if i not in same)
    assert raw["status"] == ("ended" if winners[0] % 2 else "completed")


def race_turns_against_end(session):
    """Three threads add turns while a fourth ends the session after twenty of them."""
    twenty_turns = threading.Event()
    stored_turns = []

    def add_turns(thread):
        mine = RoleplaySession.objects.get(pk=session.pk)
        while True:
            try:
                stored_turns.append(mine.add_turn("user", f"t{thread}"))
            except SessionNotActive:
                return
            if len(stored_turns) >= 20:
                twenty_turns.set()

    def end_after_twenty_turns():
        mine = RoleplaySession.objects.get(pk=session.pk)
        twenty_turns.wait(timeout=30)
        mine.end()

    results = run_together(4, lambda i: end_after_twenty_turns() if i == 0 else add_turns(i))
    return results, stored_turns


def test_no_turn_is_stored_after_end_time(db):
    for _ in range(5):
        session = started(db)
        results, stored_turns = race_turns_against_end(session)
        assert results == [None] * 4
        raw = RoleplaySession._get_collection().find_one({"_id": session.pk})
        assert len(raw["conversation_history"]) == len(stored_turns) >= 20
        assert max(e["timestamp"] for e in raw["conversation_history"]) <= raw["end_time"]


def test_sixteen_sessions_with_one_id_save_once(db):
    scenario = builders.scenario().save()
    results = run_together(
        16, lambda i: builders.session(scenario, session_id="session_same").save())
    assert sum(isinstance(r, RoleplaySession) for r in results) == 1
    assert sum(isinstance(r, NotUniqueError) for r in results) == 15
    assert RoleplaySession.objects(session_id="session_same").count() == 1
