"""Reference errors say what is wrong: an id that cannot be an ObjectId at validate(), a
missing document at save, each naming the field and reading as one sentence."""

from __future__ import annotations

import pytest
from bson import ObjectId
from mongoengine import ValidationError

from roleplay_models import Character, RoleplaySession

import builders


@pytest.mark.parametrize("given", ["not-an-id", "", 42])
def test_a_malformed_id_is_refused_by_validate_naming_the_field(given):
    session = RoleplaySession(session_id="s", scenario=given, user_id="u")
    with pytest.raises(ValidationError) as refused:
        session.validate()
    assert list(refused.value.errors) == ["scenario"]
    assert str(refused.value) == (f"ValidationError (RoleplaySession:None) "
                                  f"({given!r} is not a valid ObjectId: ['scenario'])")


def test_a_malformed_id_assigned_later_or_in_a_list_is_refused(db):
    session = builders.session(builders.scenario().save())
    session.scenario = "not-an-id"
    with pytest.raises(ValidationError, match="'not-an-id' is not a valid ObjectId"):
        session.save()
    character = builders.character(scenarios=[])
    character.scenarios = [ObjectId(), "not-an-id"]
    with pytest.raises(ValidationError, match=r"not a valid ObjectId: \['scenarios'\]"):
        character.validate()
    assert RoleplaySession.objects.count() == 0 and Character.objects.count() == 0


def test_a_missing_reference_reads_as_one_sentence(db):
    missing = ObjectId()
    session = builders.session(builders.scenario().save())
    session.scenario = missing
    with pytest.raises(ValidationError) as refused:
        session.save()
    assert str(refused.value) == (
        "ValidationError (RoleplaySession:None) (refers to a Scenario that does not exist "
        f"(ObjectId('{missing}')): ['scenario'])")
    assert list(refused.value.errors) == ["scenario"]
    assert RoleplaySession.objects.count() == 0


def test_a_bulk_insert_names_the_document_with_the_missing_reference(db):
    scenario = builders.scenario().save()
    good = builders.session(scenario, session_id="session_good")
    bad = builders.session(scenario, session_id="session_bad")
    bad.scenario = ObjectId()
    with pytest.raises(ValidationError, match="refers to a Scenario that does not exist"):
        RoleplaySession.objects.insert([good, bad])
    assert RoleplaySession.objects.count() == 0
