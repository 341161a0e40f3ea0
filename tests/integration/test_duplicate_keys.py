"""A duplicate unique value is a NotUniqueError naming the field and the value, on save(),
``RoleplaySession.start()`` and bulk insert alike, on every server."""

from __future__ import annotations

import uuid

import pytest
from mongoengine import NotUniqueError
from mongoengine.errors import BulkWriteError

from roleplay_models import RoleplaySession, Scenario, SessionAnalytics
from roleplay_models.odm.filters import preview

import builders


def test_save_names_the_field_and_the_value(db):
    builders.scenario(scenario_id="cold-call").save()
    with pytest.raises(NotUniqueError) as refused:
        builders.scenario(scenario_id="cold-call", title="Another").save()
    assert str(refused.value) == "scenario_id 'cold-call' already exists"
    assert Scenario.objects(scenario_id="cold-call").count() == 1


def test_an_update_to_a_taken_value_names_it(db):
    builders.scenario(scenario_id="cold-call").save()
    other = builders.scenario(scenario_id="warm-call").save()
    other.scenario_id = "cold-call"
    with pytest.raises(NotUniqueError, match="^scenario_id 'cold-call' already exists$"):
        other.save()
    assert Scenario.objects(scenario_id="warm-call").count() == 1


def test_start_names_the_session_id(db, monkeypatch):
    scenario = builders.scenario().save()
    fixed = uuid.UUID(int=7)
    monkeypatch.setattr(uuid, "uuid4", lambda: fixed)
    RoleplaySession.start(scenario, user_id="rep-1")
    with pytest.raises(NotUniqueError) as refused:
        RoleplaySession.start(scenario, user_id="rep-2")
    # at most 40 characters of a value are quoted
    assert str(refused.value) == (f"session_id {preview(f'session_{fixed.hex}')} already exists"
                                  " for another user, scenario or character")
    assert refused.value.values == (f"session_{fixed.hex}",)
    assert RoleplaySession.objects.count() == 1


def test_a_second_analysis_names_the_session_id(db):
    scenario = builders.scenario().save()
    builders.analytics(scenario, session_id="s-1").save()
    with pytest.raises(NotUniqueError, match="^session_id 's-1' already exists$"):
        builders.analytics(scenario, session_id="s-1").save()


def test_bulk_insert_of_one_names_the_field_and_the_value(db):
    Scenario.objects.insert(builders.scenario(scenario_id="cold-call"))
    with pytest.raises(NotUniqueError, match="^scenario_id 'cold-call' already exists$"):
        Scenario.objects.insert(builders.scenario(scenario_id="cold-call"))


def test_bulk_insert_names_the_document_that_repeats_a_value(db):
    scenario = builders.scenario().save()
    RoleplaySession.objects.insert([builders.session(scenario, session_id="session_twice")],
                                   load_bulk=False)
    with pytest.raises(NotUniqueError) as refused:
        RoleplaySession.objects.insert([builders.session(scenario, session_id="session_new"),
                                        builders.session(scenario, session_id="session_twice")],
                                       load_bulk=False)
    assert str(refused.value) == "session_id 'session_twice' already exists"
    assert isinstance(refused.value, BulkWriteError)  # what handlers of bulk inserts catch
    assert refused.value.fields == ("session_id",) and refused.value.values == ("session_twice",)


def test_the_message_never_holds_the_document(db):
    builders.scenario(scenario_id="cold-call", llm_prompt="a very secret prompt").save()
    with pytest.raises(NotUniqueError) as refused:
        builders.scenario(scenario_id="cold-call", llm_prompt="a very secret prompt").save()
    assert "secret" not in str(refused.value) and "E11000" not in str(refused.value)


def test_a_duplicate_in_a_model_with_one_unique_field(db):
    scenario = builders.scenario().save()
    first = builders.analytics(scenario, session_id="s-2")
    SessionAnalytics.objects.insert([first], load_bulk=False)
    with pytest.raises(NotUniqueError, match="^session_id 's-2' already exists$"):
        SessionAnalytics.objects.insert([builders.analytics(scenario, session_id="s-2")],
                                        load_bulk=False)
