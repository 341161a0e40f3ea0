"""The package takes the paths the connected server allows, proven by the commands it sends."""

from __future__ import annotations

import pytest

import roleplay_models
from roleplay_models import RoleplaySession, SessionAnalytics, server_facts
from roleplay_models.locks import LEASE_COLLECTION
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
