"""The package takes the paths the connected server allows, proven by the commands it sends."""

from __future__ import annotations

import pytest

import roleplay_models
from roleplay_models import RoleplaySession, SessionAnalytics, server_facts
from roleplay_models.db.locks import LEASE_COLLECTION
from roleplay_models.testing import CommandLog

import builders


@pytest.fixture
def log(db, run_database_uri):
    listener = CommandLog()
    client = roleplay_models.connect(run_database_uri, ensure_indexes=False,
                                     event_listeners=[listener])
    server_facts(client)  # asked once per client, before what is measured
    yield listener
    roleplay_models.disconnect()


def lease_commands(log):
    return [c for c in log.commands if LEASE_COLLECTION in (c.get("insert"), c.get("delete"))]


def test_the_package_detects_what_the_server_can_do(log, expected_capabilities):
    facts = server_facts(RoleplaySession._get_db().client)
    found = {name: getattr(facts, name) for name in expected_capabilities}
    assert found == expected_capabilities, facts.describe()


def test_session_writes_are_lock_free_exactly_where_updates_are_atomic(
    log, expected_capabilities
):
    session = RoleplaySession.start(builders.scenario().save(), "rep")
    atomic = expected_capabilities["atomic_updates"]
    with log.recording():
        session.add_turn("user", "Hello")
        session.end()
    updates = [c for c in log.commands if "update" in c]
    assert len(updates) == 2
    if atomic:
        assert log.names == ["update", "update"]  # one conditional update each, nothing else
    else:
        assert len(lease_commands(log)) == 4  # a lease taken and given back around each


def test_the_summary_is_grouped_on_the_server_exactly_where_group_works(
    log, expected_capabilities
):
    scenario = builders.scenario().save()
    for score in (6, 8):
        builders.analytics(scenario, overall_score=score).save()
    grouped = expected_capabilities["group_accumulators"]
    with log.recording():
        summary = SessionAnalytics.objects.summary()
    assert summary["count"] == 2 and summary["averages"]["overall_score"] == 7
    (aggregate,) = [c for c in log.commands if "aggregate" in c]
    stages = [next(iter(stage)) for stage in aggregate["pipeline"]]
    assert stages == (["$match", "$group"] if grouped else ["$match", "$project"])


def test_start_with_a_loaded_scenario_is_one_round_trip(log):
    scenario = builders.scenario().save()
    loaded = type(scenario).objects.get(pk=scenario.pk)
    with log.recording():
        RoleplaySession.start(loaded, "rep")
    assert log.names == ["insert"]


def test_a_live_session_is_loaded_without_its_history_and_turns_stay_cheap(
    log, expected_capabilities
):
    session = RoleplaySession.start(builders.scenario().save(), "rep")
    for n in range(5):
        session.add_turn("user", f"turn {n}")
    with log.recording():
        live = RoleplaySession.objects.live(session.session_id)
        live.add_turn("assistant", "Go on.")
        live.pause()
    find, *checks = [c for c in log.commands if c.get("find") == "roleplaysessions"]
    assert find["projection"] == {"conversation_history": 0}
    updates = [c for c in log.commands if c.get("update") == "roleplaysessions"]
    assert len(updates) == 2
    if expected_capabilities["atomic_updates"]:
        assert checks == []  # the updates' filters alone decide
    else:
        # FerretDB finds a document through its key only for a filter on _id alone
        session_filters = [c["filter"] for c in checks]
        session_filters += [u["q"] for c in updates for u in c["updates"]]
        assert len(session_filters) == 4
        assert all(f == {"_id": session.pk} for f in session_filters)
    stored = RoleplaySession.objects(pk=session.pk).api_dicts()[0]
    assert [t["text"] for t in stored["conversation_history"]][-2:] == ["turn 4", "Go on."]
    assert stored["status"] == "paused" and live.status == "paused"
    with pytest.raises(ValueError, match="no history"):
        live.to_api_dict()
