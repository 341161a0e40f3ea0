"""connect_from_settings, the Flask JSON provider, the web glue's answers and the readable repr,
without a server."""

from __future__ import annotations

import datetime
import json
import logging
import socket
import warnings

import pytest
from bson import ObjectId
from mongoengine.errors import NotUniqueError, OperationError, ValidationError
from pymongo.errors import AutoReconnect, ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError

import roleplay_models
from roleplay_models import ConfigurationError, connect_from_settings
from roleplay_models.web import (
    BUSY,
    MESSAGE_CHARS,
    UNAVAILABLE,
    OutageLog,
    error_answer,
    find_or_not_found,
)

import builders


def test_settings_db_replaces_the_database_of_host(embedded):
    client = connect_from_settings(
        {"host": "mongomock://localhost/elsewhere?appname=glue", "db": "roleplay_test_unit"})
    assert roleplay_models.Scenario._get_db().name == "roleplay_test_unit"
    assert type(client).__module__.startswith("mongomock")


@pytest.mark.parametrize("settings,message", [
    (["mongodb://localhost/x"], "must be a mapping"),
    ({"db": "roleplay"}, "no 'host'"),
])
def test_bad_settings_are_configuration_errors(settings, message):
    with pytest.raises(ConfigurationError, match=message):
        connect_from_settings(settings)


def test_flask_json_writes_ids_datetimes_and_documents():
    flask = pytest.importorskip("flask")
    from roleplay_models.flask import RoleplayJSONProvider

    app = flask.Flask(__name__)
    app.json = RoleplayJSONProvider(app)
    oid = ObjectId()
    when = datetime.datetime(2024, 3, 1, 9, 30, 5, 123456, tzinfo=datetime.timezone.utc)
    tip = builders.tip(id=oid, created_at=when)
    with app.app_context():
        data = json.loads(flask.json.dumps({"id": oid, "at": when, "tip": tip}))
    assert data["id"] == str(oid) and data["at"] == "2024-03-01T09:30:05.123Z"
    assert data["tip"]["id"] == str(oid) and data["tip"]["title"] == tip.title


def test_every_document_has_a_readable_repr():
    oid = ObjectId()
    scenario = builders.scenario(id=oid, scenario_id="cold-call")
    assert repr(scenario) == f"<Scenario {oid} 'cold-call'>"
    assert repr(builders.tip(title="Ask for the date")) == "<RoleplayTip None 'Ask for the date'>"
    assert repr(builders.session(scenario, session_id="session_x")).endswith("'session_x'>")


NOT_UNIQUE_ON_MONGODB = ("Tried to save duplicate unique keys (E11000 duplicate key error collection: "
                         "db.scenarios index: scenario_id_1 dup key: { scenario_id: \"x\" }, full error: "
                         "{'index': 0, 'code': 11000})")
NOT_UNIQUE_ON_FERRETDB = ("Tried to save duplicate unique keys (E11000 duplicate key error collection: "
                          "db.scenarios, full error: {'index': 0, 'code': 11000})")


@pytest.mark.parametrize("error,status,message", [
    (roleplay_models.RoleplaySession.DoesNotExist("RoleplaySession matching query does not exist."),
     404, "RoleplaySession not found"),
    (roleplay_models.Scenario.DoesNotExist(), 404, "Scenario not found"),
    (ValidationError("ValidationError (RoleplayTip:None) (...)", errors={
        "category": ValidationError("Value must be one of ('closing',)", field_name="category")}),
     400, "category: Value must be one of ('closing',)"),
    (ValidationError("'nope' is not a valid ObjectId", field_name="id"), 400,
     "id: 'nope' is not a valid ObjectId"),
    (roleplay_models.InvalidFilter("page must be from 1 to 10000"), 400, "page must be from 1 to 10000"),
    (roleplay_models.InvalidTransition("session s is ended; cannot become active"), 409,
     "session s is ended; cannot become active"),
    (roleplay_models.SessionNotActive("session s is ended"), 409, "session s is ended"),
    (NotUniqueError(NOT_UNIQUE_ON_MONGODB), 409, "a document with this scenario_id already exists"),
    (NotUniqueError(NOT_UNIQUE_ON_FERRETDB), 409, "a document with the same unique value already exists"),
    (roleplay_models.ServerUnreachable("cannot reach MongoDB at mongodb://h/db"), 503, UNAVAILABLE),
    (ServerSelectionTimeoutError("h:1: [Errno 111] Connection refused"), 503, UNAVAILABLE),
    (AutoReconnect("connection closed"), 503, UNAVAILABLE),
    (NetworkTimeout("timed out"), 503, UNAVAILABLE),
    (ConnectionFailure("down"), 503, UNAVAILABLE),
    (roleplay_models.WriteUnconfirmed("the turn may or may not be stored"), 503, UNAVAILABLE),
    (roleplay_models.ConcurrentModification("roleplaysessions:1 stayed locked"), 503, BUSY),
])
def test_each_error_of_the_package_has_its_answer(error, status, message):
    assert error_answer(error) == (status, message)
    assert error_answer(error).envelope() == {"success": False, "error": message}


@pytest.mark.parametrize("error", [KeyError("x"), RuntimeError("bug"), ValueError("bug"),
                                   OperationError("cannot delete")])
def test_any_other_error_is_left_to_the_app(error):
    assert error_answer(error) is None


def test_an_answer_quotes_at_most_a_prefix_of_a_huge_value():
    answer = error_answer(ValidationError(f"{'z' * 100_000!r} is not a valid ObjectId", field_name="id"))
    assert answer.status == 400 and len(answer.message) <= MESSAGE_CHARS + 3


def test_get_or_404_finds_refuses_operators_and_is_not_found_for_a_malformed_id(embedded):
    scenario = builders.scenario().save()
    assert find_or_not_found(roleplay_models.Scenario.objects, pk=str(scenario.pk)) == scenario
    for pk in ("nope", "z" * 10_000, str(ObjectId())):
        with pytest.raises(roleplay_models.Scenario.DoesNotExist):
            find_or_not_found(roleplay_models.Scenario.objects, pk=pk)
    for value in ({"$ne": None}, ["cold-call"]):
        with pytest.raises(roleplay_models.InvalidFilter, match="scenario_id must be a single value"):
            find_or_not_found(roleplay_models.Scenario.objects, scenario_id=value)


def test_flask_answers_the_packages_errors_with_the_envelope(embedded, caplog):
    flask = pytest.importorskip("flask")
    from roleplay_models.flask import get_or_404, init_app

    app = flask.Flask(__name__)
    app.config["MONGODB_URI"] = "mongomock://localhost/roleplay_test_unit"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", roleplay_models.IndexRefusedWarning)
        init_app(app)
    raised = {"duplicate": NotUniqueError(NOT_UNIQUE_ON_MONGODB), "bug": RuntimeError("bug"),
              "busy": roleplay_models.ConcurrentModification("roleplaysessions:1 stayed locked")}

    @app.get("/scenarios/<scenario_id>")
    def scenario(scenario_id):
        return get_or_404(roleplay_models.Scenario.objects, pk=scenario_id).to_api_dict()

    @app.get("/raise/<name>")
    def raise_(name):
        raise raised[name]

    client = app.test_client()
    for path in ("/scenarios/nope", f"/scenarios/{ObjectId()}"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert answer.json == {"success": False, "error": "Scenario not found"}
    answer = client.get("/raise/duplicate")
    assert answer.status_code == 409
    assert answer.json["error"] == "a document with this scenario_id already exists"
    assert client.get("/raise/bug").status_code == 500  # not the glue's to answer
    caplog.set_level(logging.INFO, logger="roleplay_models.web")
    answer = client.get("/raise/busy")
    assert (answer.status_code, answer.json["error"]) == (503, BUSY)
    # a busy session is not an outage of the database
    assert [r for r in caplog.records if r.name == "roleplay_models.web"] == []


def test_an_outage_is_logged_once_with_the_cause_and_no_password(caplog):
    pymongo = pytest.importorskip("pymongo")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    roleplay_models.connect(f"mongodb://rep:secret@127.0.0.1:{port}/roleplay_test_unit"
                            "?serverSelectionTimeoutMS=100", wait=False)
    try:
        outages = OutageLog()
        caplog.set_level(logging.INFO, logger="roleplay_models.web")
        for _ in range(3):
            try:
                roleplay_models.Scenario.objects.first()
            except pymongo.errors.ConnectionFailure as error:
                outages.failed(error)
            outages.request_done(met_outage=True)
            outages.request_done(met_outage=False)  # no server found: the outage goes on
    finally:
        roleplay_models.disconnect()
    assert len(caplog.records) == 1 and caplog.records[0].levelname == "WARNING"
    logged = caplog.records[0].getMessage()
    assert f"mongodb://127.0.0.1:{port}/roleplay_test_unit" in logged and "refused" in logged
    assert "secret" not in logged and "Topology" not in logged
