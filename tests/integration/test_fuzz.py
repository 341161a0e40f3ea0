"""Hostile input to every query helper and, over real HTTP, to every example route: no 5xx, no write."""

from __future__ import annotations

import http.client
import json
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import roleplay_models as rp

import builders

flask = pytest.importorskip("flask")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from flask_app import create_app  # noqa: E402

API = "/api/roleplay"
FUZZ = settings(max_examples=120, deadline=None, derandomize=True,  # the same inputs every run
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12)
hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["²", "³", "٣", "9223372036854775808", "1" * 400, "-1", "0", " ", "$ne",
                     '{"$ne": null}', ".*", "\x00", "\ufeff", "true", "[]"]),
)
arguments = st.one_of(json_values, hostile_text)


def counts():
    """How many documents each model has, and each session's status and number of turns."""
    sessions = rp.RoleplaySession._get_collection().find(
        {}, {"session_id": 1, "status": 1, "conversation_history._id": 1})
    return ([model._get_collection().count_documents({}) for model in rp.MODELS],
            sorted((s["session_id"], s["status"], len(s.get("conversation_history", [])))
                   for s in sessions))


HELPERS = [
    lambda v: rp.Scenario.objects.active().search(v).api_dicts(),
    lambda v: rp.Character.objects.active().with_role(v).api_dicts(),
    lambda v: rp.RoleplaySession.objects.for_user(v).api_dicts(),
    lambda v: rp.RoleplaySession.objects.with_status(v).api_dicts(),
    lambda v: rp.RoleplaySession.objects.by_session_id(v).api_dicts(),
    lambda v: rp.RoleplaySession.objects.newest_first().api_page(v, 5).as_dict(),
    lambda v: rp.RoleplaySession.objects.newest_first().paginate(1, v).as_dict(),
    lambda v: rp.SessionAnalytics.objects.for_session(v).api_dicts(),
    lambda v: rp.SessionAnalytics.objects.summary(user_id=v),
    lambda v: rp.RoleplayTip.objects.matching(category=v).api_dicts(),
    lambda v: rp.RoleplayTip.objects.matching(session_id=v, featured=v).api_dicts(),
    lambda v: rp.RoleplayTip.objects.matching(difficulty_level=v).api_dicts(),
    lambda v: rp.RoleplayTip.objects.recent(v).api_dicts(),
]


@pytest.fixture
def catalog(db):
    scenario = builders.scenario(title="Cold call").save()
    builders.character([scenario]).save()
    builders.tip(related_scenarios=[scenario]).save()
    rp.RoleplaySession.start(scenario, "rep-1")
    return scenario


@FUZZ
@given(helper=st.sampled_from(range(len(HELPERS))), value=arguments)
def test_query_helpers_answer_or_refuse_clearly_and_write_nothing(catalog, helper, value):
    before = counts()
    try:
        HELPERS[helper](value)
    except rp.InvalidFilter as err:
        assert len(str(err)) < 200
    assert counts() == before


@pytest.fixture(scope="module")
def http_server(run_database_uri):
    """The example app served over real HTTP by werkzeug on a free loopback port."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, create_app({"MONGODB_URI": run_database_uri}),
                         threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    thread.join(timeout=10)


ROUTES = [
    ("GET", f"{API}/scenarios"), ("GET", f"{API}/characters"), ("POST", f"{API}/sessions"),
    ("GET", f"{API}/sessions"), ("PATCH", f"{API}/sessions/{{id}}"),
    ("POST", f"{API}/sessions/{{id}}/end"), ("GET", f"{API}/analytics/{{id}}"),
    ("GET", f"{API}/analytics/summary"), ("GET", f"{API}/tips"), ("GET", f"{API}/tips/recent"),
]
PARAMS = ["search", "role", "user_id", "status", "page", "limit", "category", "session_id",
          "difficulty_level", "featured"]
valid_turns = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]),
                                     "text": st.text(min_size=1, max_size=20)})
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    st.just(b"[" * 50_000),
    st.builds(lambda turn: json.dumps({"turn": turn}).encode(), json_values),
    st.builds(lambda status: json.dumps({"status": status}).encode(), json_values),
    st.builds(lambda turn, status: json.dumps({"turn": turn, "status": status}).encode(),
              st.one_of(json_values, valid_turns), st.one_of(json_values, st.sampled_from(
                  ["active", "paused", "ended"]))),
    valid_turns.map(lambda turn: json.dumps({"turn": turn}).encode()),
)


@FUZZ
@given(route=st.sampled_from(ROUTES),
       path_id=st.one_of(hostile_text, st.just("SESSION")),
       query=st.dictionaries(st.sampled_from(PARAMS), hostile_text, max_size=4),
       body=bodies)
def test_example_routes_over_http_never_answer_5xx_and_refusals_write_nothing(
    catalog, http_server, route, path_id, query, body
):
    method, template = route
    if path_id == "SESSION":
        path_id = rp.RoleplaySession.objects.first().session_id
    path = template.replace("{id}", urllib.parse.quote(path_id, safe="")) or "/"
    url = path + ("?" + urllib.parse.urlencode(query) if query else "")
    before = counts()
    connection = http.client.HTTPConnection("127.0.0.1", http_server, timeout=30)
    connection.request(method, url, body=body if method != "GET" else None,
                       headers={"Content-Type": "application/json"})
    answer = connection.getresponse()
    payload = answer.read()
    connection.close()
    assert answer.status < 500, (method, url, body[:200], payload[:300])
    if answer.status >= 400:
        assert json.loads(payload)["success"] is False
        assert counts() == before, (method, url)
