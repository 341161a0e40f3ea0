"""A request repeated (a client's retry after a lost reply) is stored once, on the real server."""

from __future__ import annotations

import uuid

import pytest
from bson import ObjectId
from mongoengine import NotUniqueError, ValidationError

from roleplay_models import RoleplaySession, SessionNotActive, WriteOutcome, server_facts
from roleplay_models.db.locks import LEASE_COLLECTION
from roleplay_models.models.session import as_turn_id
from roleplay_models.odm.uniqueness import DuplicateValue

import builders
from builders import stored


@pytest.fixture
def session(db):
    scenario = builders.scenario().save()
    return RoleplaySession.start(scenario, "rep-7", character=builders.character([scenario]).save())



def turn_ids(session):
    return [turn["_id"] for turn in stored(session)["conversation_history"]]


def test_a_turn_repeated_with_its_id_is_stored_once_and_returned_as_stored(session):
    turn_id = ObjectId()
    first = session.add_turn("user", "Hello", turn_id=turn_id)
    assert session.last_outcome is WriteOutcome.STORED and first.id == turn_id
    other_copy = RoleplaySession.objects.live(session.session_id)
    again = other_copy.add_turn("user", "Hello", turn_id=str(turn_id))
    assert other_copy.last_outcome is WriteOutcome.ALREADY_STORED
    assert again.to_mongo() == first.to_mongo()  # the stored entry, its timestamp included
    assert turn_ids(session) == [turn_id]
    assert [turn.id for turn in session.conversation_history] == [turn_id]


def test_a_repeated_turn_is_found_even_after_the_session_ended(session):
    entry = session.add_turn("user", "Last words", turn_id="turn-1")
    session.end()
    assert session.add_turn("user", "Last words", turn_id="turn-1").id == entry.id
    assert session.last_outcome is WriteOutcome.ALREADY_STORED
    with pytest.raises(SessionNotActive):
        session.add_turn("user", "Last words", turn_id="turn-2")
    assert turn_ids(session) == [entry.id]


def test_turn_ids_are_object_ids_or_strings_mapped_to_one_for_good():
    oid = ObjectId()
    assert as_turn_id(oid) == oid and as_turn_id(str(oid)) == oid
    client_made = str(uuid.uuid4())
    assert as_turn_id(client_made) == as_turn_id(client_made) != as_turn_id(client_made + "x")
    assert isinstance(as_turn_id(None), ObjectId) and as_turn_id(None) != as_turn_id(None)


@pytest.mark.parametrize("bad", ["", "x" * 129, {"$gt": ""}, 42, b"123456789012", ["a"]])
def test_a_bad_turn_id_is_refused_and_nothing_is_written(session, bad):
    before = stored(session)
    with pytest.raises(ValidationError, match="turn_id"):
        session.add_turn("user", "Hello", turn_id=bad)
    assert stored(session) == before


def test_start_repeated_with_its_session_id_returns_the_session_it_made(session):
    again = RoleplaySession.start(session.scenario, "rep-7", character=session.character,
                                  session_id=session.session_id)
    assert again.pk == session.pk and again.last_outcome is WriteOutcome.ALREADY_STORED
    assert RoleplaySession.objects.count() == 1
    # the route's answer to the repeat shows the references as its answer to the first does
    shown = ("scenario_id", "character_id")
    assert [again.to_api_dict()[key] for key in shown] == [
        session.to_api_dict()[key] for key in shown]
    assert isinstance(again.to_api_dict()["character_id"], dict)


@pytest.mark.parametrize("change", ["user", "scenario", "character"])
def test_start_with_a_session_id_taken_by_another_session_is_refused(session, change):
    scenario, character, user = session.scenario, session.character, "rep-7"
    if change == "user":
        user = "rep-8"
    elif change == "scenario":
        scenario = builders.scenario(scenario_id="another").save()
    else:
        character = None
    before = stored(session)
    with pytest.raises(NotUniqueError, match="session_id"):
        RoleplaySession.start(scenario, user, character=character, session_id=session.session_id)
    assert RoleplaySession.objects.count() == 1 and stored(session) == before


def test_a_transition_asked_again_is_done_already_and_writes_nothing(session, log):
    assert session.end() is WriteOutcome.STORED
    with log.recording():
        assert session.end() is WriteOutcome.ALREADY_STORED
    assert log.names == ["find"]  # the status read again, nothing written


@pytest.mark.parametrize("given_id", [True, False])
def test_a_turn_sends_the_same_commands_at_ten_and_at_three_hundred_turns(session, log, given_id):
    facts = server_facts(RoleplaySession._get_db().client)
    atomic = facts.atomic_updates
    sizes = {}
    for count in (10, 300):
        while len(turn_ids(session)) < count - 1:
            session.add_turn("user", "x")
        with log.recording():
            session.add_turn("user", "x", turn_id=f"turn-{count}" if given_id else None)
        sizes[count] = [(next(iter(c)), len(str(c))) for c in log.commands]
        # one conditional update, its filter checked by the server as it applies it; where
        # updates are not atomic, inside a lease (a lock document inserted and deleted)
        names = ["update"] if atomic else ["insert", "update", "delete"]
        assert log.names == names
        (update,) = log.commands[names.index("update")]["updates"]
        assert update["q"]["_id"] == session.pk and update["q"]["status"] == "active"
        # not yet stored, also for an id add_turn made (its first attempt may run late)
        pushed = update["u"]["$push"]["conversation_history"]["_id"]
        assert (update["q"]["conversation_history._id"] == {"$ne": pushed}
                if facts.ne_through_arrays
                else update["q"]["$nor"] == [{"conversation_history._id": pushed}])
        if not atomic:
            assert log.commands[0]["insert"] == log.commands[2]["delete"] == LEASE_COLLECTION
    # the same commands with values of the same length (ids, times): no history in any of them
    assert [name for name, _ in sizes[10]] == [name for name, _ in sizes[300]]
    assert all(abs(a - b) <= 8 for (_, a), (_, b) in zip(sizes[10], sizes[300], strict=True))


def test_a_turn_id_given_again_with_another_turn_is_refused_and_nothing_is_written(session):
    session.add_turn("user", "Hello", turn_id="t-1")
    before = stored(session)
    for role, text, audio in [("assistant", "Hello", None), ("user", "Hi", None),
                              ("user", "Hello", 1.5)]:
        with pytest.raises(DuplicateValue, match="turn_id 't-1' already names another turn"):
            session.add_turn(role, text, audio_duration=audio, turn_id="t-1")
    assert stored(session) == before


def test_a_transition_is_not_taken_as_done_on_what_this_object_saw_long_ago(session):
    mine = RoleplaySession.objects.live(session.session_id)
    assert mine.pause() is WriteOutcome.STORED
    assert RoleplaySession.objects.live(session.session_id).resume() is WriteOutcome.STORED
    assert mine.pause() is WriteOutcome.STORED  # it was active again: paused anew
    assert stored(session)["status"] == "paused"


def test_a_turn_refused_while_paused_goes_in_once_another_writer_resumed(session, monkeypatch):
    other = RoleplaySession.objects.live(session.session_id)
    other.pause()
    real_reload = RoleplaySession._reload_lifecycle

    def resumed_by_another_writer_first(self):
        if stored(session)["status"] == "paused":
            other.resume()
        real_reload(self)

    monkeypatch.setattr(RoleplaySession, "_reload_lifecycle", resumed_by_another_writer_first)
    entry = session.add_turn("user", "Still there?")
    assert session.last_outcome is WriteOutcome.STORED
    assert turn_ids(session) == [entry.id]
