"""The example Flask app's ten routes, through Flask's test client, on the real server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from roleplay_models import RoleplaySession, SessionAnalytics

import builders

flask = pytest.importorskip("flask")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from flask_app import create_app  # noqa: E402

API = "/api/roleplay"


@pytest.fixture
def client(db, run_database_uri):
    app = create_app({"MONGODB_SETTINGS": {"host": run_database_uri, "tz_aware": True}})
    return app.test_client()


@pytest.fixture
def catalog(client):
    scenario = builders.scenario(title="Cold call", description="Budget talk").save()
    character = builders.character([scenario], role="CFO").save()
    builders.tip(category="closing", is_featured=True, related_scenarios=[scenario]).save()
    return scenario, character


def stored_sessions():
    return RoleplaySession._get_collection().count_documents({})


def test_a_whole_practice_session_through_the_routes(client, catalog):
    scenario, character = catalog
    assert client.get(f"{API}/scenarios?search=budget").json["scenarios"][0]["title"] == "Cold call"
    found = client.get(f"{API}/characters?role=cfo").json["characters"]
    assert found[0]["scenario_ids"][0]["title"] == "Cold call"
    created = client.post(f"{API}/sessions", json={
        "scenario_id": str(scenario.pk), "character_id": str(character.pk), "user_id": "rep-1"})
    assert created.status_code == 201 and created.json["success"] is True
    session_id = created.json["session"]["session_id"]
    turn = client.patch(f"{API}/sessions/{session_id}",
                        json={"turn": {"role": "user", "text": "Hello"}}).json
    assert turn["turn"]["text"] == "Hello" and turn["session"]["status"] == "active"
    assert "conversation_history" not in turn["session"]  # the whole session is a GET away
    whole = client.get(f"{API}/sessions/{session_id}").json["session"]
    assert whole["conversation_history"] == [turn["turn"]]
    assert whole["scenario_id"]["title"] == "Cold call"
    assert client.patch(f"{API}/sessions/{session_id}", json={"status": "paused"}).json[
        "session"]["status"] == "paused"
    assert client.patch(f"{API}/sessions/{session_id}", json={"status": "active"}).status_code == 200
    ended = client.post(f"{API}/sessions/{session_id}/end")
    assert ended.json["session"]["status"] == "ended" and ended.json["session"]["end_time"]
    listed = client.get(f"{API}/sessions?user_id=rep-1&page=1&limit=5").json
    assert listed["pagination"] == {"total": 1, "page": 1, "limit": 5, "pages": 1}
    assert listed["sessions"][0]["scenario_id"]["title"] == "Cold call"
    SessionAnalytics.record(RoleplaySession.objects.get(session_id=session_id), overall_score=8,
                            communication_score=7, objection_handling_score=6,
                            rapport_building_score=9, closing_technique_score=5,
                            conversation_flow_analysis="Good")
    analysis = client.get(f"{API}/analytics/{session_id}").json["analytics"]
    assert analysis["scenario_id"]["title"] == "Cold call" and analysis["overall_score"] == 8
    summary = client.get(f"{API}/analytics?user_id=rep-1").json
    assert summary["summary"]["count"] == 1 and len(summary["analytics"]) == 1
    assert client.get(f"{API}/tips?category=closing&featured=true").json["tips"][0][
        "related_scenarios"][0]["title"] == "Cold call"
    assert len(client.get(f"{API}/tips/recent?limit=3").json["tips"]) == 1


@pytest.mark.parametrize(
    "method,path,payload,status",
    [
        ("get", "/sessions?user_id[$ne]=x", None, 200),
        ("get", "/sessions?status=deleted", None, 400),
        ("get", "/sessions?page=0", None, 400),
        ("get", "/sessions?limit=5000", None, 400),
        ("get", "/tips?category=gossip", None, 400),
        ("get", "/tips?featured=maybe", None, 400),
        ("get", "/tips/recent?limit=-1", None, 400),
        ("post", "/sessions", {"scenario_id": "not-an-id", "user_id": "u"}, 400),
        ("post", "/sessions", {"scenario_id": {"$ne": None}, "user_id": "u"}, 400),
        ("post", "/sessions", {"scenario_id": "5f0c1c1c1c1c1c1c1c1c1c1c", "user_id": "u"}, 404),
        ("post", "/sessions", {"user_id": "u"}, 400),
        ("post", "/sessions", ["not", "an", "object"], 400),
        ("patch", "/sessions/session_missing", {"status": "paused"}, 404),
        ("post", "/sessions/session_missing/end", None, 404),
        ("get", "/sessions/session_missing", None, 404),
        ("get", "/analytics/session_missing", None, 404),
    ],
)
def test_bad_input_gets_a_clear_error_and_writes_nothing(client, catalog, method, path, payload,
                                                        status):
    response = getattr(client, method)(API + path, json=payload)
    assert response.status_code == status, response.json
    assert response.json["success"] is (status == 200)
    if status != 200:
        assert response.json["error"]
    assert stored_sessions() == 0


def test_user_id_operator_in_a_query_string_is_a_plain_key(client, catalog):
    scenario, _ = catalog
    builders.session(scenario, user_id="rep-2").save()
    leaked = client.get(f"{API}/sessions?user_id[$ne]=nobody").json
    assert leaked["success"] is True and leaked["pagination"]["total"] == 1  # filter ignored
    exact = client.get(f"{API}/sessions?user_id=nobody").json
    assert exact["pagination"]["total"] == 0


def test_bad_turns_are_400_and_state_conflicts_409_and_write_nothing(client, catalog):
    scenario, _ = catalog
    session_id = client.post(f"{API}/sessions", json={
        "scenario_id": str(scenario.pk), "user_id": "rep-1"}).json["session"]["session_id"]
    for payload in ({"turn": {"role": "robot", "text": "x"}}, {"turn": {"role": "user", "text": ""}},
                    {"turn": "hello"}, {"status": "ended"}):
        response = client.patch(f"{API}/sessions/{session_id}", json=payload)
        assert response.status_code == 400 and response.json["success"] is False, payload
    client.post(f"{API}/sessions/{session_id}/end")
    resumed = client.patch(f"{API}/sessions/{session_id}", json={"status": "active"})
    assert resumed.status_code == 409 and "ended" in resumed.json["error"]
    turn = client.patch(f"{API}/sessions/{session_id}", json={"turn": {"role": "user", "text": "hi"}})
    assert turn.status_code == 409 and turn.json["success"] is False
    stored = RoleplaySession.objects.get(session_id=session_id)
    assert stored.conversation_history == [] and stored.status == "ended"


def test_a_turn_naming_the_bad_field_and_unknown_urls_keep_the_envelope(client, catalog):
    scenario, _ = catalog
    session_id = client.post(f"{API}/sessions", json={
        "scenario_id": str(scenario.pk), "user_id": "rep-1"}).json["session"]["session_id"]
    bad = client.patch(f"{API}/sessions/{session_id}", json={"turn": {"role": "robot", "text": "x"}})
    assert bad.json["error"].startswith("role: ") and "ValidationError" not in bad.json["error"]
    unknown = client.get(f"{API}/nothing-here")
    assert unknown.status_code == 404 and unknown.json["success"] is False
