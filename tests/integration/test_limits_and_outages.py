"""Bounds on what one request stores, ids that find what they stored, and a database that goes away."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from mongoengine import ValidationError
from mongoengine.errors import BulkWriteError

import roleplay_models
from roleplay_models import (
    ConversationEntry,
    InvalidFilter,
    RoleplaySession,
    Scenario,
    configure_limits,
    current_limits,
)
from roleplay_models.odm import document
from roleplay_models.odm.filters import as_object_id
from roleplay_models.odm.limits import encoded_within_limits

import builders
from builders import stored
from conftest import TEST_DB_PREFIX, start_test_server, with_database

flask = pytest.importorskip("flask")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from flask_app import create_app  # noqa: E402

API = "/api/roleplay"


@pytest.fixture
def limits():
    """Limits changed by a test are put back afterwards."""
    before = current_limits()
    yield configure_limits
    configure_limits(**vars(before))


def test_a_turn_over_the_text_limit_is_refused_and_nothing_is_written(db):
    session = RoleplaySession.start(builders.scenario().save(), "rep")
    before = stored(session)
    most = current_limits().turn_text_bytes
    with pytest.raises(ValidationError, match="text") as caught:
        session.add_turn("user", "é" * (most // 2 + 1))
    assert len(str(caught.value)) < 300
    assert stored(session) == before
    session.add_turn("user", "é" * (most // 2))  # exactly at the limit is accepted
    assert len(stored(session)["conversation_history"]) == 1


def test_a_session_holds_at_most_the_configured_number_of_turns(db, limits):
    limits(turns_per_session=3)
    session = RoleplaySession.start(builders.scenario().save(), "rep")
    for n in range(3):
        session.add_turn("user", f"turn {n}")
    with pytest.raises(ValidationError, match="most turns allowed"):
        session.add_turn("user", "one too many")
    assert len(stored(session)["conversation_history"]) == 3
    other = builders.session(Scenario.objects.first(), conversation_history=[
        ConversationEntry(role="user", text="x") for _ in range(4)])
    with pytest.raises(ValidationError, match="at most 3 turns"):
        other.save()
    assert RoleplaySession.objects.count() == 1


def test_limits_that_could_outgrow_a_document_are_refused(limits):
    with pytest.raises(ValueError, match="exceeds document_bytes"):
        limits(turns_per_session=10_000)
    with pytest.raises(ValueError, match="at least 1"):
        limits(turn_text_bytes=0)
    with pytest.raises(TypeError, match="unknown limits: turns"):
        limits(turns=5)


def test_a_document_over_the_size_limit_is_refused_on_save_and_bulk_insert(db):
    huge = "x" * (16 * 1024 * 1024)
    with pytest.raises(ValidationError, match="limit is"):
        builders.scenario(description=huge).save()
    with pytest.raises(ValidationError, match="limit is"):
        Scenario.objects.insert([builders.scenario(), builders.scenario(description=huge)])
    scenario = builders.scenario().save()
    scenario.description = huge
    with pytest.raises(ValidationError, match="limit is"):
        scenario.save()
    assert Scenario.objects.count() == 1 and stored(scenario)["description"] != huge


def test_a_bulk_insert_encodes_each_document_once_for_the_size_check_and_the_write(
        db, monkeypatch):
    scenario = builders.scenario().save()
    encoded = []
    to_mongo = RoleplaySession.to_mongo

    def counted(document, *args, **kwargs):
        encoded.append(document.session_id)
        return to_mongo(document, *args, **kwargs)

    monkeypatch.setattr(RoleplaySession, "to_mongo", counted)
    sessions = [builders.session(scenario) for _ in range(3)]
    RoleplaySession.objects.insert(sessions, load_bulk=False)
    assert sorted(encoded) == sorted(s.session_id for s in sessions)
    assert all(stored(s)["session_id"] == s.session_id for s in sessions)


def test_a_save_of_a_new_document_sends_the_bson_whose_size_was_checked(log, monkeypatch):
    checked = []

    def recorded(model, son, codec_options):
        checked.append(encoded_within_limits(model, son, codec_options))
        return checked[-1]

    monkeypatch.setattr(document, "encoded_within_limits", recorded)
    concern = {"w": 1, "wtimeout": 5000}
    with log.recording() as commands:
        scenario = builders.scenario().save()
        session = builders.session(scenario).save(write_concern=concern)
    inserts = [command for command in commands if "insert" in command]
    assert [bytes(sent.raw) for insert in inserts for sent in insert["documents"]] == checked
    assert len(checked) == 2
    # the collection's own write concern, else the one given over it
    own = Scenario._get_collection().write_concern.document
    assert [insert.get("writeConcern") for insert in inserts] == [own or None, own | concern]
    assert stored(session)["_id"] == session.pk and stored(scenario)["_id"] == scenario.pk


def test_a_failed_bulk_insert_names_the_document_it_could_not_write(db):
    scenario = builders.scenario().save()
    first = builders.session(scenario, session_id="session_twice")
    RoleplaySession.objects.insert([first], load_bulk=False)
    with pytest.raises(BulkWriteError) as refused:
        RoleplaySession.objects.insert([builders.session(scenario, session_id="session_twice"),
                                        builders.session(scenario)], load_bulk=False)
    assert "session_twice" in str(refused.value) and "RawBSON" not in str(refused.value)


def test_a_tuple_of_turns_is_held_to_the_turn_limit(db, limits):
    limits(turns_per_session=2)
    session = builders.session(builders.scenario().save())
    session.conversation_history = tuple(ConversationEntry(role="user", text=f"t{i}")
                                         for i in range(3))
    with pytest.raises(ValidationError, match="at most 2 turns"):
        session.save()
    assert RoleplaySession.objects.count() == 0


def test_a_page_of_the_fullest_sessions_allowed_stays_readable(db, limits):
    limits(turns_per_session=200)
    scenario = builders.scenario().save()
    text = "y" * current_limits().turn_text_bytes
    fullest = [builders.session(scenario, conversation_history=[
        ConversationEntry(role="user", text=text) for _ in range(200)]) for _ in range(3)]
    RoleplaySession.objects.insert(fullest, load_bulk=False)
    page = RoleplaySession.objects.newest_first().api_page(1, 20)
    assert page.total == 3 and all(len(s["conversation_history"]) == 200 for s in page.items)


def test_a_user_id_finds_what_was_stored_with_it(db):
    scenario = builders.scenario().save()
    padded = RoleplaySession.start(scenario, " rep 7 ")
    RoleplaySession.start(scenario, "rep 7")
    assert [s.pk for s in RoleplaySession.objects.for_user(" rep 7 ")] == [padded.pk]
    assert RoleplaySession.objects.for_user("rep 7").count() == 1


def test_an_error_quotes_only_a_short_prefix_of_a_bad_value():
    with pytest.raises(InvalidFilter) as caught:
        as_object_id("scenario_id", "z" * 1_000_000)
    assert len(str(caught.value)) < 120


def test_the_sessions_json_leaves_out_metadata_unless_asked(db):
    session = RoleplaySession.start(builders.scenario().save(), "rep",
                                    metadata={"ip_address": "10.1.2.3", "user_agent": "UA"})
    assert "metadata" not in RoleplaySession.objects.api_dicts()[0]
    assert "metadata" not in session.to_api_dict()
    assert RoleplaySession.objects.api_dicts(private=True)[0]["metadata"]["ip_address"] == "10.1.2.3"
    assert session.to_api_dict(private=True)["metadata"]["user_agent"] == "UA"


@pytest.fixture
def app_client(db, run_database_uri):
    return create_app({"MONGODB_URI": run_database_uri}).test_client()


@pytest.mark.parametrize("query", [
    "page=%C2%B2", "limit=%C2%B3", "page=9223372036854775808", "page=1" + "0" * 400,
    "limit=101", "page=0", "limit=-1", "page=10001", "user_id=", "status=open",
])
def test_bad_paging_and_filters_are_400s(app_client, query):
    answer = app_client.get(f"{API}/sessions?{query}")
    assert answer.status_code == 400 and answer.json["success"] is False
    assert len(answer.json["error"]) < 200


def test_a_deeply_nested_body_is_a_400_and_writes_nothing(app_client):
    answer = app_client.post(f"{API}/sessions", data="[" * 100_000,
                             content_type="application/json")
    assert answer.status_code == 400 and answer.json["success"] is False
    assert RoleplaySession.objects.count() == 0


def test_a_patch_with_a_turn_and_a_status_is_a_400_and_writes_nothing(app_client):
    session = RoleplaySession.start(builders.scenario().save(), "rep")
    answer = app_client.patch(f"{API}/sessions/{session.session_id}",
                              json={"turn": {"role": "user", "text": "hi"}, "status": "active"})
    assert answer.status_code == 400 and stored(session)["conversation_history"] == []


def test_every_route_is_reachable_and_an_empty_patch_is_a_400(app_client):
    session = RoleplaySession.start(builders.scenario().save(), "rep")
    assert app_client.get(f"{API}/analytics/summary").status_code == 200
    assert app_client.get(f"{API}/analytics/summary").json["summary"]["count"] == 0
    empty = app_client.patch(f"{API}/sessions/{session.session_id}", json={"note": "x"})
    assert empty.status_code == 400 and "turn" in empty.json["error"]
    assert app_client.get(f"{API}/ready").json == {"ready": True}


def test_the_app_boots_while_the_database_is_down_answers_503_and_recovers():
    server = start_test_server()
    uri = with_database(server.uri, f"{TEST_DB_PREFIX}outage")
    config = {"MONGODB_URI": uri + "?serverSelectionTimeoutMS=500&connectTimeoutMS=500"}
    try:
        server.kill()
        app = create_app(config)  # boots: nothing is sent to the server at creation
        client = app.test_client()
        started = time.monotonic()
        down = client.get(f"{API}/scenarios")
        assert down.status_code == 503 and down.json["success"] is False
        assert time.monotonic() - started < 5  # the selection timeout, not a hang
        assert client.get(f"{API}/ready").status_code == 503
        server.start()
        # recovers by itself: within a few requests (each waits at most the selection timeout
        # while the client finds the server again; a JVM's first answers can be slow)
        answers = []
        while len(answers) < 10 and (not answers or answers[-1].status_code == 503):
            answers.append(client.get(f"{API}/scenarios"))
        up = answers[-1]
        assert up.status_code == 200 and up.json == {"success": True, "scenarios": []}
        assert client.get(f"{API}/ready").status_code == 200
        created = Scenario._get_collection().index_information()
        assert "scenario_id_1" in created  # the indexes came with the first answered request
    finally:
        roleplay_models.disconnect()
        server.close()
