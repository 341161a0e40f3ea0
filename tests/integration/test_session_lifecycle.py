"""A session's turns and lifecycle, one conditional update each, on the real server."""

from __future__ import annotations

import datetime

import pytest
from mongoengine import NotUniqueError, ValidationError

import roleplay_models.odm.writes
from roleplay_models import (
    ConversationEntry,
    InvalidTransition,
    RoleplaySession,
    SessionAnalytics,
    SessionNotActive,
    SessionNotFinished,
    WriteOutcome,
)

import builders
from builders import stored


@pytest.fixture
def session(db):
    scenario = builders.scenario().save()
    character = builders.character([scenario]).save()
    return RoleplaySession.start(scenario, "rep-7", character=character,
                                 metadata={"ip_address": "127.0.0.1"})


@pytest.fixture
def clock(session, monkeypatch):
    """The session's clock, from its start, moved by the test."""
    clock = builders.Clock(session.start_time)
    monkeypatch.setattr(roleplay_models.odm.writes, "utc_now", clock)
    return clock


def test_start_saves_an_active_session_with_a_fresh_id(session):
    raw = stored(session)
    assert raw["status"] == "active" and raw["user_id"] == "rep-7"
    assert raw["session_id"].startswith("session_") and len(raw["session_id"]) == 8 + 32
    assert raw["metadata"] == {"ip_address": "127.0.0.1"}
    other = RoleplaySession.start(session.scenario, "rep-7")
    assert other.session_id != session.session_id


def test_start_refuses_unknown_metadata_keys_and_writes_nothing(db):
    scenario = builders.scenario().save()
    with pytest.raises(ValidationError, match="metadata"):
        RoleplaySession.start(scenario, "rep", metadata={"ip": "x"})
    with pytest.raises(ValidationError):
        RoleplaySession.start(scenario, "  ")
    assert RoleplaySession.objects.count() == 0


def test_add_turn_pushes_the_entry_and_keeps_the_local_object_in_step(session):
    first = session.add_turn("user", "Hello Dana")
    second = session.add_turn("assistant", "Make it quick.", audio_duration=1.5)
    history = stored(session)["conversation_history"]
    assert [e["_id"] for e in history] == [first.id, second.id]
    assert history[1] == second.to_mongo().to_dict()
    assert [e.text for e in session.conversation_history] == ["Hello Dana", "Make it quick."]
    assert session._get_changed_fields() == []
    assert stored(session)["updatedAt"] == session.updated_at >= second.timestamp


@pytest.mark.parametrize(
    "role,text,audio",
    [("system", "hi", None), ("user", "", None), ("user", "   ", None), ("user", 42, None),
     ("user", None, None), ("user", "hi", -1), ("user", "hi", "long")],
)
def test_add_turn_refuses_bad_input_and_writes_nothing(session, role, text, audio):
    before = stored(session)
    with pytest.raises(ValidationError):
        session.add_turn(role, text, audio_duration=audio)
    assert stored(session) == before


@pytest.mark.parametrize("status", ["paused", "ended", "completed"])
def test_add_turn_is_refused_unless_active(session, status):
    {"paused": session.pause, "ended": session.end, "completed": session.complete}[status]()
    with pytest.raises(SessionNotActive, match=status):
        session.add_turn("user", "still there?")
    assert stored(session)["conversation_history"] == []


def test_add_turn_sees_a_status_changed_by_another_writer(session):
    RoleplaySession.objects.get(pk=session.pk).end()
    with pytest.raises(SessionNotActive):
        session.add_turn("user", "hello?")
    assert session.status == "ended"


ALLOWED = {
    "active": {"pause": "paused", "end": "ended", "complete": "completed"},
    "paused": {"resume": "active", "end": "ended", "complete": "completed"},
    "ended": {},
    "completed": {},
}


TARGETS = {"pause": "paused", "resume": "active", "end": "ended", "complete": "completed"}


def reach(session, status):
    if status == "paused":
        session.pause()
    elif status == "ended":
        session.end()
    elif status == "completed":
        session.complete()


@pytest.mark.parametrize("start", list(ALLOWED))
@pytest.mark.parametrize("method", ["pause", "resume", "end", "complete"])
def test_the_transition_table(session, start, method):
    reach(session, start)
    before = stored(session)
    if method in ALLOWED[start]:
        assert getattr(session, method)() is WriteOutcome.STORED
        assert stored(session)["status"] == session.status == ALLOWED[start][method]
    elif TARGETS[method] == start:  # asked again: done already, nothing written
        assert getattr(session, method)() is WriteOutcome.ALREADY_STORED
        assert stored(session) == before
    else:
        with pytest.raises(InvalidTransition, match=start):
            getattr(session, method)()
        assert stored(session) == before


def test_end_sets_end_time_and_a_stable_duration(session):
    session.end()
    raw = stored(session)
    assert raw["end_time"] == session.end_time and raw["end_time"] >= raw["start_time"]
    assert isinstance(raw["total_duration"], int) and raw["total_duration"] >= 0
    with pytest.raises(InvalidTransition):
        session.complete()
    assert stored(session)["end_time"] == raw["end_time"]


def test_total_duration_leaves_out_the_pause(session, clock):
    clock.advance(1.2)
    session.pause()
    clock.advance(2.5)
    session.resume()
    clock.advance(1.0)
    session.complete()
    assert (session.end_time - session.start_time).total_seconds() == 4.7
    assert stored(session)["total_duration"] == 2  # 4.7 s less the 2.5 s pause, whole seconds


def test_ending_while_paused_leaves_out_the_open_pause(session, clock):
    clock.advance(1.1)
    session.pause()
    clock.advance(2.0)
    session.end()
    assert stored(session)["total_duration"] == 1
    assert stored(session)["end_time"] == session.start_time + datetime.timedelta(seconds=3.1)


def test_a_save_after_turns_does_not_rewrite_the_history(session):
    session.add_turn("user", "one")
    RoleplaySession.objects.get(pk=session.pk).add_turn("assistant", "two")
    session.voice_enabled = True
    session.save()
    raw = stored(session)
    assert [e["text"] for e in raw["conversation_history"]] == ["one", "two"]
    assert raw["voice_enabled"] is True


def test_record_copies_the_session_and_is_refused_twice(session):
    scores = dict(overall_score=8, communication_score=7, objection_handling_score=6.5,
                  rapport_building_score=9, closing_technique_score=7,
                  conversation_flow_analysis="Solid.",
                  key_moments=[{"timestamp": "00:40", "description": "Opened well"}])
    with pytest.raises(SessionNotFinished):
        SessionAnalytics.record(session, **scores)
    session.complete()
    analysis = SessionAnalytics.record(session, **scores)
    assert (analysis.session_id, analysis.scenario.pk, analysis.user_id) == (
        session.session_id, session.scenario.pk, "rep-7")
    assert session.analytics == analysis
    with pytest.raises(NotUniqueError):
        SessionAnalytics.record(session, **scores)
    with pytest.raises(TypeError, match="user_id"):
        SessionAnalytics.record(session, user_id="someone-else", **scores)
    assert SessionAnalytics.objects.count() == 1


def test_record_refuses_bad_scores_and_writes_nothing(session):
    session.end()
    with pytest.raises(ValidationError, match="overall_score"):
        SessionAnalytics.record(session, overall_score=11, communication_score=7,
                                objection_handling_score=6, rapport_building_score=9,
                                closing_technique_score=7, conversation_flow_analysis="x")
    assert SessionAnalytics.objects.count() == 0 and session.analytics is None


def test_a_turn_entry_keeps_its_id_across_reloads(session):
    entry = session.add_turn("user", "hi")
    loaded = RoleplaySession.objects.get(pk=session.pk).conversation_history[0]
    assert isinstance(loaded, ConversationEntry) and loaded.id == entry.id
    assert loaded.timestamp == entry.timestamp
