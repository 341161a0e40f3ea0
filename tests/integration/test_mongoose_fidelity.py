"""What is stored is what mongoose stores: booleans, nulls, trim, and loading never rewrites."""

from __future__ import annotations

import datetime

import pytest
from bson import ObjectId
from mongoengine import ValidationError

import roleplay_models.odm.writes
from roleplay_models import (
    Character,
    ConversationEntry,
    RoleplaySession,
    RoleplayTip,
    Scenario,
    SessionAnalytics,
)

import builders
from builders import stored

BOOLEAN_FIELDS = [
    (Scenario, "is_active", builders.scenario),
    (Character, "is_active", builders.character),
    (RoleplayTip, "is_active", builders.tip),
    (RoleplayTip, "is_featured", builders.tip),
]
NOT_BOOLEANS = ["false", "0", "", "true", 0, 1, 0.0, [], {}]


def count(model):
    return model._get_collection().count_documents({})


@pytest.mark.parametrize("model,name,build", BOOLEAN_FIELDS)
@pytest.mark.parametrize("value", NOT_BOOLEANS, ids=repr)
def test_a_boolean_field_refuses_anything_but_a_bool_given_to_the_constructor(
    db, model, name, build, value
):
    with pytest.raises(ValidationError, match=name):
        build(**{name: value}).save()
    assert count(model) == 0


@pytest.mark.parametrize("model,name,build", BOOLEAN_FIELDS)
def test_a_boolean_field_refuses_a_string_set_as_an_attribute_or_in_an_update(db, model, name, build):
    document = build().save()
    before = stored(document)
    setattr(document, name, "false")
    with pytest.raises(ValidationError, match=name):
        document.save()
    with pytest.raises(ValidationError, match=name):
        model.objects(pk=document.pk).update(**{f"set__{name}": "false"})
    with pytest.raises(ValidationError, match=name):
        model.objects(pk=document.pk).modify(**{name: "0"})
    with pytest.raises(ValidationError, match=name):
        model.objects(pk=document.pk).update_one(**{name: 0})
    assert stored(document) == before


@pytest.mark.parametrize("value", ["false", "0", 0, "true"])
def test_start_refuses_a_voice_enabled_that_is_not_a_bool(db, value):
    scenario = builders.scenario().save()
    with pytest.raises(ValidationError, match="voice_enabled"):
        RoleplaySession.start(scenario, "rep-1", voice_enabled=value)
    assert count(RoleplaySession) == 0


def test_booleans_given_as_bools_are_stored_as_bools(db):
    scenario = builders.scenario(is_active=False).save()
    session = RoleplaySession.start(scenario, "rep-1", voice_enabled=True)
    assert stored(scenario)["is_active"] is False
    assert stored(session)["voice_enabled"] is True


def test_null_defaults_are_stored_as_null_and_an_empty_metadata_is_left_out(db):
    scenario = builders.scenario().save()
    character = builders.character([scenario]).save()
    tip = builders.tip().save()
    session = RoleplaySession.start(scenario, "rep-1")
    assert "voice_id" in stored(character) and stored(character)["voice_id"] is None
    assert "session_id" in stored(tip) and stored(tip)["session_id"] is None
    raw = stored(session)
    assert raw["character_id"] is None and raw["end_time"] is None
    assert "metadata" not in raw
    for bookkeeping in ("paused_at", "paused_seconds", "last_turn_at"):
        assert bookkeeping not in raw  # mongoose does not know them: no key until used


def test_a_save_that_sets_a_nullable_field_back_to_none_stores_null(db):
    scenario = builders.scenario().save()
    character = builders.character([scenario], voice_id="alloy").save()
    character.voice_id = None
    character.save()
    raw = stored(character)
    assert "voice_id" in raw and raw["voice_id"] is None
    session = builders.session(scenario, character=character).save()
    session.character = None
    session.save()
    raw = stored(session)
    assert "character_id" in raw and raw["character_id"] is None


def test_documents_with_or_without_the_null_keys_load(db):
    scenario = builders.scenario().save()
    raw = builders.character([scenario]).to_mongo().to_dict()
    del raw["voice_id"]
    Character._get_collection().insert_one(raw)
    loaded = Character.objects.get(pk=raw["_id"])
    assert loaded.voice_id is None
    loaded.validate()


@pytest.mark.parametrize("raw,trimmed", [
    ("\u001c title \u001f", "\u001c title \u001f"),    # not whitespace to JavaScript
    ("\u0085title\u0085", "\u0085title\u0085"),
    ("\ufefftitle\ufeff", "title"),                      # BOM is whitespace to JavaScript
    ("\u00a0\u2028\u3000 title \t\n", "title"),
])
def test_trim_is_javascripts_trim(db, raw, trimmed):
    scenario = builders.scenario(title=raw).save()
    assert scenario.title == trimmed
    assert stored(scenario)["title"] == trimmed


@pytest.mark.parametrize("blank", ["\ufeff", " \u2029\u00a0"])
def test_a_required_string_that_javascript_trims_to_nothing_is_refused(db, blank):
    with pytest.raises(ValidationError, match="title"):
        builders.scenario(title=blank).save()
    assert count(Scenario) == 0


def test_a_required_string_of_characters_javascript_keeps_is_accepted(db):
    scenario = builders.scenario(title="\u0085").save()
    assert stored(scenario)["title"] == "\u0085"


def mongoose_character(scenario):
    raw = {"_id": ObjectId(), "name": "  Dana  ", "role": " CFO ", "personality": "P",
           "background": "B", "objections": ["  padded objection  "], "voice_id": None,
           "scenario_ids": [scenario.pk], "is_active": True, "created_by": "system", "__v": 0}
    Character._get_collection().insert_one(raw)
    return raw


def test_loading_never_trims_what_is_stored(db):
    scenario = builders.scenario().save()
    raw = mongoose_character(scenario)
    character = Character.objects.get(pk=raw["_id"])
    assert (character.name, character.role) == ("  Dana  ", " CFO ")
    assert list(character.objections) == ["  padded objection  "]
    assert character._get_changed_fields() == []
    character.reload()
    assert character.name == "  Dana  " and character._get_changed_fields() == []


def test_appending_to_a_loaded_list_trims_only_the_new_entry(db):
    scenario = builders.scenario().save()
    raw = mongoose_character(scenario)
    character = Character.objects.get(pk=raw["_id"])
    character.objections.append("  new objection  ")
    character.save()
    after = stored(character)
    assert after["objections"] == ["  padded objection  ", "new objection"]
    assert (after["name"], after["role"]) == ("  Dana  ", " CFO ")


def test_the_program_trims_on_assignment_on_list_changes_and_in_updates(db):
    scenario = builders.scenario().save()
    character = builders.character([scenario], objections=["  a  "]).save()
    character.name = "  Sam  "
    character.objections.extend(["  b  "])
    character.objections.insert(0, "  c  ")
    character.objections[1] = "  d  "
    character.save()
    assert stored(character)["objections"] == ["c", "d", "b"]
    assert stored(character)["name"] == "Sam"
    Character.objects(pk=character.pk).update(set__role="  VP  ", push__objections="  e  ")
    assert stored(character)["role"] == "VP"
    assert stored(character)["objections"][-1] == "e"


def in_step(document):
    """The object holds what is stored and has nothing marked for the next save."""
    raw = stored(document)
    assert document._get_changed_fields() == []
    assert document.to_mongo().to_dict() == raw


def test_after_every_write_the_object_equals_what_is_stored(db):
    scenario = builders.scenario().save()
    in_step(scenario)
    character = builders.character([scenario]).save()
    in_step(character)
    session = RoleplaySession.start(scenario, "rep-1", character=character,
                                    metadata={"user_agent": "pytest"})
    in_step(session)
    session.add_turn("user", "Hello")
    in_step(session)
    session.pause()
    in_step(session)
    session.resume()
    in_step(session)
    session.add_turn("assistant", "Quick.", audio_duration=0.5)
    in_step(session)
    session.complete()
    in_step(session)
    analysis = SessionAnalytics.record(
        session, overall_score=7, communication_score=7, objection_handling_score=7,
        rapport_building_score=7, closing_technique_score=7, conversation_flow_analysis="ok")
    in_step(analysis)
    scenario.modify(set__description="Changed")
    in_step(scenario)


def test_a_bulk_insert_leaves_each_object_equal_to_what_is_stored(db):
    scenario = builders.scenario().save()
    sessions = [builders.session(scenario, conversation_history=[
        ConversationEntry(role="user", text="Hello"), ConversationEntry(role="assistant",
                                                                        text="Hi")])
        for _ in range(3)]
    sessions[0].conversation_history[1].text = "Changed before the insert"
    sessions[1].status = "paused"
    RoleplaySession.objects.insert(sessions, load_bulk=False)
    for session in sessions:
        in_step(session)
    assert stored(sessions[0])["conversation_history"][1]["text"] == "Changed before the insert"


@pytest.mark.parametrize("zone", [datetime.timezone.utc, None], ids=["utc", "naive"])
def test_add_turn_stays_in_step_when_the_clock_moves_between_building_and_storing(
    db, monkeypatch, zone
):
    scenario = builders.scenario().save()
    session = RoleplaySession.start(scenario, "rep-1")
    ticks = iter(datetime.datetime(2025, 1, 1, 12, 0, 0, ms * 1000, tzinfo=zone)
                 for ms in range(100, 200))
    # Every reading of the clock inside add_turn is a millisecond later than the one before.
    monkeypatch.setattr(roleplay_models.odm.writes, "utc_now", lambda: next(ticks))
    entry = session.add_turn("user", "Hello")
    in_step(session)
    assert stored(session)["conversation_history"][0]["timestamp"] == entry.timestamp
    assert entry.timestamp.tzinfo is datetime.timezone.utc  # as setting the field stores it


def test_emptying_the_metadata_of_a_saved_session_removes_the_key(db):
    session = RoleplaySession.start(builders.scenario().save(), "rep-1",
                                    metadata={"user_agent": "UA"})
    session.metadata = roleplay_models.SessionMetadata()
    session.save()
    assert "metadata" not in stored(session)
    in_step(session)


def test_list_values_of_updates_are_trimmed_too(db):
    character = builders.character([builders.scenario().save()], objections=[]).save()
    Character.objects(pk=character.pk).update(push_all__objections=["  a  ", " b "])
    Character.objects(pk=character.pk).update(add_to_set__objections="  c  ")
    Character.objects(pk=character.pk).update(add_to_set__objections=["  d  "])
    assert stored(character)["objections"] == ["a", "b", "c", "d"]
