"""The package's errors as HTTP answers, the same from the Flask example and the Django site,
each served over real HTTP by its own process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from typing import Any

import pytest

import roleplay_models as rp

import builders
from conftest import TEST_DB_PREFIX, start_test_server, with_database
from served_apps import EXAMPLES, SITE, App, served

pytest.importorskip("flask")
pytest.importorskip("django")
sys.path.insert(0, str(EXAMPLES))
from flask_app import create_app  # noqa: E402

FAST = "serverSelectionTimeoutMS=500&connectTimeoutMS=500"

@pytest.fixture(params=["flask", "django"])
def app(request, db, run_database_uri):
    yield from served(request.param, run_database_uri)


def refused(status: int, answer: dict[str, Any], code: int) -> str:
    """The error text of a refusal with ``code``, checked to be short and free of internals."""
    assert status == code, answer
    assert answer["success"] is False and set(answer) == {"success", "error"}
    error = answer["error"]
    for internal in ("Traceback", "ObjectId(", "E11000", "{ ", "topology", "mongodb://"):
        assert internal not in error, error
    assert 0 < len(error) < 400
    return error


def stored_sessions() -> list[tuple[str, int]]:
    return sorted((s["status"], len(s.get("conversation_history", [])))
                  for s in rp.RoleplaySession._get_collection().find())


def test_an_unknown_session_is_a_404(app):
    error = refused(*app.call("POST", "/sessions/session_missing/end"), 404)
    assert error == "RoleplaySession not found"
    assert stored_sessions() == []


def test_an_unknown_or_malformed_scenario_id_is_a_404_in_a_url_and_a_400_in_a_body(app):
    unknown = "5f0c1c1c1c1c1c1c1c1c1c1c"
    refused(*app.call("POST", "/sessions", {"scenario_id": unknown, "user_id": "u"}), 404)
    error = refused(*app.call("POST", "/sessions", {"scenario_id": "nope", "user_id": "u"}), 400)
    assert "scenario_id" in error
    if app.kind == "django":  # the Flask example has no route with an id of a scenario
        assert refused(*app.call("GET", f"/scenarios/{unknown}"), 404) == "Scenario not found"
        assert refused(*app.call("GET", "/scenarios/nope"), 404) == "Scenario not found"
        assert refused(*app.call("GET", "/scenarios/" + "z" * 5000), 404) == "Scenario not found"
    assert stored_sessions() == []


def test_an_invalid_value_is_a_400_naming_the_field(app):
    scenario = builders.scenario().save()
    error = refused(*app.call("POST", "/sessions", {"scenario_id": str(scenario.pk)}), 400)
    assert error.startswith("user_id: ")
    refused(*app.call("POST", "/sessions", ["not", "an", "object"]), 400)
    assert stored_sessions() == []


def test_a_change_an_ended_session_does_not_allow_is_a_409_and_changes_nothing(app):
    scenario = builders.scenario().save()
    status, created = app.call("POST", "/sessions", {"scenario_id": str(scenario.pk),
                                                     "user_id": "rep"})
    assert status == 201
    session_id = created["session"]["session_id"]
    assert app.call("POST", f"/sessions/{session_id}/end")[0] == 200
    ended = rp.RoleplaySession._get_collection().find_one({"session_id": session_id})
    error = refused(*app.call("PATCH", f"/sessions/{session_id}", {"status": "active"}), 409)
    assert "ended" in error and "active" in error
    turn = {"turn": {"role": "user", "text": "one more"}}
    assert "ended" in refused(*app.call("PATCH", f"/sessions/{session_id}", turn), 409)
    assert app.call("POST", f"/sessions/{session_id}/end")[0] == 200  # ended already: done
    assert rp.RoleplaySession._get_collection().find_one({"session_id": session_id}) == ended


def test_a_bad_turn_is_a_400_naming_the_field(app):
    session = rp.RoleplaySession.start(builders.scenario().save(), "rep")
    payload = {"turn": {"role": "robot", "text": "x"}}
    error = refused(*app.call("PATCH", f"/sessions/{session.session_id}", payload), 400)
    assert error.startswith("role: ")
    assert stored_sessions() == [("active", 0)]


def test_a_turn_sent_again_with_its_turn_id_is_stored_once(app):
    session = rp.RoleplaySession.start(builders.scenario().save(), "rep")
    payload = {"turn": {"role": "user", "text": "Hello"}, "turn_id": "turn-1"}
    first = app.call("PATCH", f"/sessions/{session.session_id}", payload)
    again = app.call("PATCH", f"/sessions/{session.session_id}", payload)
    assert first == again and first[0] == 200
    assert stored_sessions() == [("active", 1)]
    error = refused(*app.call("PATCH", f"/sessions/{session.session_id}",
                              {**payload, "turn_id": {"$ne": None}}), 400)
    assert error.startswith("turn_id: ")


def closed_port() -> int:
    """A loopback port on which nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("kind", ["flask", "django"])
def test_a_database_that_does_not_answer_is_a_503_logged_once(kind):
    port = closed_port()
    uri = f"mongodb://127.0.0.1:{port}/{TEST_DB_PREFIX}nowhere?{FAST}"
    app = App(kind, uri)  # boots: nothing is sent at start-up
    try:
        for _ in range(3):
            error = refused(*app.call("GET", "/scenarios"), 503)
            assert error == "the database is unavailable; try again shortly"
    finally:
        log = app.stop()
    warnings = [line for line in log.splitlines() if line.startswith("WARNING roleplay_models.web")]
    assert len(warnings) == 1, log
    assert f"mongodb://127.0.0.1:{port}/{TEST_DB_PREFIX}nowhere" in warnings[0]
    assert "refused" in warnings[0], warnings[0]  # the cause


@pytest.mark.parametrize("kind", ["flask", "django"])
def test_an_outage_is_logged_again_after_the_server_came_back_and_went_away(kind):
    server = start_test_server()
    uri = with_database(server.uri, f"{TEST_DB_PREFIX}outages") + "?" + FAST
    app = App(kind, uri)
    try:
        assert app.call("GET", "/scenarios")[0] == 200
        for _ in range(2):
            server.kill()
            for _ in range(3):
                refused(*app.call("GET", "/scenarios"), 503)
            server.start()
            # back within a few requests (each waits at most the selection timeout while the
            # client finds the server again; a JVM's first answers can be slow)
            statuses = [app.call("GET", "/scenarios")[0]]
            while statuses[-1] == 503 and len(statuses) < 10:
                statuses.append(app.call("GET", "/scenarios")[0])
            assert statuses[-1] == 200, statuses
    finally:
        log = app.stop()
        server.close()
    lines = [line for line in log.splitlines() if " roleplay_models.web " in line]
    assert [line.split()[0] for line in lines] == ["WARNING", "INFO", "WARNING", "INFO"], log
    assert "does not answer" in lines[0] and "answers again" in lines[1]


DJANGO_DUPLICATE = """
import django, json
django.setup()
from django.test import RequestFactory
import roleplay_models as rp
from roleplay_models.django import RoleplayErrorsMiddleware

def view(request):
    rp.Scenario(scenario_id="twice", title="t", description="d", llm_prompt="p").save()
    return None

middleware = RoleplayErrorsMiddleware(view)
request = RequestFactory().post("/scenarios")
try:
    view(request)
except Exception as error:
    answer = middleware.process_exception(request, error)
    print(answer.status_code, answer.content.decode())
"""


def test_a_duplicate_is_a_409_naming_the_field_in_flask_and_django(db, run_database_uri):
    def add_scenario():
        return builders.scenario(scenario_id="twice").save().to_api_dict()

    builders.scenario(scenario_id="twice").save()
    flask_app = create_app({"MONGODB_URI": run_database_uri})
    flask_app.add_url_rule("/scenarios", "add", add_scenario, methods=["POST"])
    answer = flask_app.test_client().post("/scenarios")
    error = refused(answer.status_code, answer.json, 409)
    assert "scenario_id" in error and "already exists" in error
    env = {**os.environ, "MONGODB_URI": run_database_uri, "DJANGO_SETTINGS_MODULE": "settings",
           "PYTHONPATH": os.pathsep.join([str(SITE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", DJANGO_DUPLICATE], env=env, capture_output=True,
                          text=True, timeout=120, cwd=SITE)
    assert done.returncode == 0, done.stderr
    status, _, payload = done.stdout.strip().partition(" ")
    assert refused(int(status), json.loads(payload), 409) == error
    assert rp.Scenario.objects(scenario_id="twice").count() == 1
