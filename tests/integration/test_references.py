"""References stored as ObjectIds, refused when dangling, and the delete rules."""

from __future__ import annotations

import pytest
from bson import ObjectId
from mongoengine import OperationError, ValidationError

from roleplay_models import Character, RoleplaySession, Scenario

import builders
from builders import stored


def test_references_are_stored_as_object_ids(db):
    scenario = builders.scenario().save()
    character = builders.character([scenario]).save()
    session = builders.session(scenario, character=character).save()
    tip = builders.tip(related_scenarios=[scenario]).save()
    analysis = builders.analytics(scenario).save()
    assert stored(character)["scenario_ids"] == [scenario.pk]
    assert stored(session)["scenario_id"] == scenario.pk
    assert stored(session)["character_id"] == character.pk
    assert stored(tip)["related_scenarios"] == [scenario.pk]
    assert stored(analysis)["scenario_id"] == scenario.pk
    loaded = RoleplaySession.objects.get(pk=session.pk)
    assert loaded.scenario.title == scenario.title and loaded.character.name == character.name


@pytest.mark.parametrize(
    "build,field",
    [
        (lambda missing: builders.session(missing), "scenario"),
        (lambda missing: builders.analytics(missing), "scenario"),
        (lambda missing: builders.character([missing]), "scenarios"),
        (lambda missing: builders.tip(related_scenarios=[missing]), "related_scenarios"),
    ],
    ids=["session", "analytics", "character", "tip"],
)
def test_a_reference_to_a_missing_scenario_is_refused(db, build, field):
    missing = Scenario(id=ObjectId(), scenario_id="gone", title="t", description="d", llm_prompt="p")
    document = build(missing)
    with pytest.raises(ValidationError) as caught:
        document.save()
    assert field in caught.value.to_dict()
    assert type(document).objects.count() == 0


def test_an_unsaved_reference_is_refused(db):
    with pytest.raises(ValidationError):
        builders.session(builders.scenario()).save()
    assert RoleplaySession.objects.count() == 0


@pytest.mark.parametrize("referrer", ["session", "analytics"])
def test_deleting_a_scenario_used_by_a_session_or_analysis_is_refused(db, referrer):
    scenario = builders.scenario().save()
    other = builders.scenario().save()
    getattr(builders, referrer)(scenario).save()
    character = builders.character([scenario, other]).save()
    with pytest.raises(OperationError, match="refers to it"):
        scenario.delete()
    with pytest.raises(OperationError, match="refers to it"):
        Scenario.objects(pk=scenario.pk).delete()
    assert Scenario.objects(pk=scenario.pk).count() == 1
    assert stored(character)["scenario_ids"] == [scenario.pk, other.pk]


def test_deleting_a_scenario_pulls_it_from_characters_and_tips(db):
    kept, deleted = builders.scenario().save(), builders.scenario().save()
    character = builders.character([kept, deleted]).save()
    tip = builders.tip(related_scenarios=[deleted, kept]).save()
    deleted.delete()
    assert Scenario.objects(pk=deleted.pk).count() == 0
    assert stored(character)["scenario_ids"] == [kept.pk]
    assert stored(tip)["related_scenarios"] == [kept.pk]


def test_deleting_a_character_used_by_a_session_is_refused(db):
    scenario = builders.scenario().save()
    character = builders.character([scenario]).save()
    builders.session(scenario, character=character).save()
    with pytest.raises(OperationError, match="refers to it"):
        character.delete()
    assert Character.objects.count() == 1
