"""connect_from_settings, the Flask JSON provider and the readable repr, without a server."""

from __future__ import annotations

import datetime
import json

import pytest
from bson import ObjectId

import roleplay_models
from roleplay_models import ConfigurationError, connect_from_settings

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
