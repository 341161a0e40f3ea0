"""Unique keys and declared indexes, on the real server."""

from __future__ import annotations

import pytest
from bson.binary import UuidRepresentation
from mongoengine import NotUniqueError

import roleplay_models
from roleplay_models import RoleplaySession, Scenario, SessionAnalytics

import builders
from schema_spec import INDEXES, TEXT_INDEX


def stored_indexes(model):
    return {
        tuple(info["key"].items()): bool(info.get("unique"))
        for info in model._get_collection().list_indexes()
        if info["name"] != "_id_"
    }


@pytest.mark.parametrize("model", list(INDEXES), ids=lambda m: m.__name__)
def test_every_declared_index_exists_with_its_uniqueness(db, model):
    existing = stored_indexes(model)
    for keys, unique in INDEXES[model]:
        assert existing.get(tuple(keys)) == unique, keys


def test_ensure_indexes_reports_the_text_index_created_or_refused_and_creates_the_rest(db):
    report = roleplay_models.ensure_indexes()
    declared = sum(len(v) for v in INDEXES.values())
    text_keys = tuple(TEXT_INDEX[1])
    refused_keys = [r.keys for r in report.refused]
    assert refused_keys in ([], [text_keys])
    assert len(report.created) == declared + (0 if refused_keys else 1)
    assert all(r.reason for r in report.refused)


def test_the_connection_is_tz_aware_with_standard_uuids(db):
    options = db.client.codec_options
    assert options.tz_aware is True
    assert options.uuid_representation == UuidRepresentation.STANDARD


def test_scenario_id_is_unique(db):
    builders.scenario(scenario_id="cfo").save()
    with pytest.raises(NotUniqueError):
        builders.scenario(scenario_id="cfo", title="Another").save()
    assert Scenario.objects(scenario_id="cfo").count() == 1


def test_session_id_is_unique_for_sessions_and_for_analytics(db):
    scenario = builders.scenario().save()
    builders.session(scenario, session_id="s-1").save()
    with pytest.raises(NotUniqueError):
        builders.session(scenario, session_id="s-1").save()
    builders.analytics(scenario, session_id="s-1").save()
    with pytest.raises(NotUniqueError):
        builders.analytics(scenario, session_id="s-1").save()
    assert RoleplaySession.objects(session_id="s-1").count() == 1
    assert SessionAnalytics.objects(session_id="s-1").count() == 1
