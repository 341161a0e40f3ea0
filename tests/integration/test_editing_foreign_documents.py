"""Documents mongoose stored with values this package refuses take unrelated changes, as
mongoose's ``validateModifiedOnly``; a change to a refused value is still refused."""

from __future__ import annotations

import datetime

import pytest
from bson import ObjectId
from mongoengine import ValidationError

from roleplay_models import RoleplaySession, Scenario, SessionAnalytics

import builders

WHEN = datetime.datetime(2024, 3, 1, 9, 30, tzinfo=datetime.timezone.utc)
STAMPS = {"createdAt": WHEN, "updatedAt": WHEN, "__v": 0}


def insert_scenario(db):
    """A scenario as mongoose stored it, with a description this package refuses."""
    raw = {"_id": ObjectId(), "scenario_id": "blank-description", "title": "T",
           "description": "   ", "llmPrompt": "P", "is_active": True, **STAMPS}
    db[Scenario._meta["collection"]].insert_one(raw)
    return raw


def insert_session(db, scenario_id):
    """A session holding a turn whose role ("system") this package refuses."""
    raw = {"_id": ObjectId(), "session_id": "session_foreign", "scenario_id": scenario_id,
           "character_id": None, "user_id": "u", "status": "active", "start_time": WHEN,
           "end_time": None, "total_duration": 0, "voice_enabled": False,
           "conversation_history": [
               {"_id": ObjectId(), "role": "system", "text": "You are Dana.", "timestamp": WHEN}],
           **STAMPS}
    db[RoleplaySession._meta["collection"]].insert_one(raw)
    return raw


def insert_analysis(db, scenario_id):
    """An analysis without its five required scores."""
    raw = {"_id": ObjectId(), "session_id": "session_foreign", "scenario_id": scenario_id,
           "user_id": "u", "conversation_flow_analysis": "ok", "strengths": ["a"], **STAMPS}
    db[SessionAnalytics._meta["collection"]].insert_one(raw)
    return raw


def stored(db, model, raw):
    return db[model._meta["collection"]].find_one({"_id": raw["_id"]})


def unchanged_except(before, after, *changed):
    """Every key of ``before`` but ``changed`` (and the update stamp) is stored as it was."""
    left = set(before) - {*changed, "updatedAt"}
    return {key: after.get(key) for key in left} == {key: before[key] for key in left}


def test_the_foreign_documents_are_refused_by_validate_called_by_hand(db):
    scenario = insert_scenario(db)
    insert_session(db, scenario["_id"])
    insert_analysis(db, scenario["_id"])
    for model, field in ((Scenario, "description"), (RoleplaySession, "conversation_history"),
                         (SessionAnalytics, "overall_score")):
        with pytest.raises(ValidationError, match=field):
            model.objects.get().validate()


def test_a_scenario_with_a_blank_description_takes_an_unrelated_change(db):
    raw = insert_scenario(db)
    scenario = Scenario.objects.get(pk=raw["_id"])
    scenario.is_active = False
    scenario.save()
    after = stored(db, Scenario, raw)
    assert after["is_active"] is False and after["description"] == "   "
    assert after["updatedAt"] > WHEN
    assert unchanged_except(raw, after, "is_active")


def test_a_session_with_a_system_turn_takes_an_unrelated_change(db):
    scenario = insert_scenario(db)
    raw = insert_session(db, scenario["_id"])
    session = RoleplaySession.objects.get(pk=raw["_id"])
    session.user_id = "rep-7"
    session.save()
    after = stored(db, RoleplaySession, raw)
    assert after["user_id"] == "rep-7"
    assert after["conversation_history"] == raw["conversation_history"]
    assert unchanged_except(raw, after, "user_id")


def test_an_analysis_without_scores_takes_an_unrelated_change(db):
    scenario = insert_scenario(db)
    raw = insert_analysis(db, scenario["_id"])
    analysis = SessionAnalytics.objects.get(pk=raw["_id"])
    analysis.strengths.append("  clear ask  ")
    analysis.save()
    after = stored(db, SessionAnalytics, raw)
    assert after["strengths"] == ["a", "clear ask"]
    assert "overall_score" not in after
    assert unchanged_except(raw, after, "strengths")


@pytest.mark.parametrize(("insert", "model", "change", "field"), [
    (lambda db, s: insert_scenario(db), Scenario, {"description": ""}, "description"),
    (lambda db, s: insert_scenario(db), Scenario, {"is_active": "false"}, "is_active"),
    (insert_session, RoleplaySession, {"status": "paused-ish"}, "status"),
    (insert_analysis, SessionAnalytics, {"overall_score": 11}, "overall_score"),
], ids=["blank", "not-a-bool", "unknown-status", "out-of-range"])
def test_a_change_to_a_refused_value_is_still_refused_and_nothing_is_written(
        db, insert, model, change, field):
    scenario = insert_scenario(db) if model is not Scenario else None
    raw = insert(db, scenario["_id"] if scenario else None)
    document = model.objects.get(pk=raw["_id"])
    for name, value in change.items():
        setattr(document, name, value)
    with pytest.raises(ValidationError, match=field) as refused:
        document.save()
    assert list(refused.value.errors) == [field]  # the foreign values are not its concern
    assert stored(db, model, raw) == raw


def test_a_change_inside_a_field_checks_the_whole_field(db):
    scenario = insert_scenario(db)
    raw = insert_session(db, scenario["_id"])
    session = RoleplaySession.objects.get(pk=raw["_id"])
    session.conversation_history[0].text = "You are Sam."
    with pytest.raises(ValidationError, match="conversation_history"):
        session.save()
    assert stored(db, RoleplaySession, raw) == raw


def test_a_new_document_is_validated_whole(db):
    with pytest.raises(ValidationError, match="description"):
        Scenario(scenario_id="new", title="T", description="   ", llm_prompt="P").save()
    assert Scenario.objects.count() == 0


def test_saving_a_document_another_writer_deleted_is_refused_and_creates_nothing(db):
    raw = insert_scenario(db)
    scenario = Scenario.objects.get(pk=raw["_id"])
    db[Scenario._meta["collection"]].delete_one({"_id": raw["_id"]})
    scenario.is_active = False
    with pytest.raises(Scenario.DoesNotExist, match="no longer exists"):
        scenario.save()
    assert db[Scenario._meta["collection"]].count_documents({}) == 0


def test_the_id_of_a_stored_document_cannot_change(db):
    raw = insert_scenario(db)
    scenario = Scenario.objects.get(pk=raw["_id"])
    scenario.id = ObjectId()
    with pytest.raises(ValidationError, match="id cannot change"):
        scenario.save()
    assert list(db[Scenario._meta["collection"]].find()) == [raw]


def test_a_new_document_given_its_id_after_it_was_built_is_inserted_whole(db):
    scenario = builders.scenario()
    chosen = ObjectId()
    scenario.id = chosen  # mongoengine takes such a document for a stored one
    scenario.save()
    stored = db[Scenario._meta["collection"]].find_one({"_id": chosen})
    assert stored["title"] == scenario.title and stored["createdAt"] == scenario.created_at
    incomplete = Scenario(title="t")
    incomplete.id = ObjectId()
    with pytest.raises(ValidationError, match="description"):
        incomplete.save()
    assert db[Scenario._meta["collection"]].count_documents({}) == 1
