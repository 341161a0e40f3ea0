"""created_at / updated_at parity with mongoose ``timestamps: true``, on the real server."""

from __future__ import annotations

import datetime

import pytest
from mongoengine import ValidationError

import roleplay_models.odm.timestamps
from roleplay_models import RoleplayTip, Scenario
from roleplay_models.odm.fields import utc_now

import builders
from builders import stored


@pytest.fixture
def tick(monkeypatch):
    """Moves the stamps' clock on by a millisecond, their resolution."""
    clock = builders.Clock(utc_now())
    monkeypatch.setattr(roleplay_models.odm.timestamps, "utc_now", clock)
    return lambda: clock.advance(0.001)


def test_a_new_document_gets_both_stamps_equal_and_utc_aware(db):
    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(milliseconds=1)
    scenario = builders.scenario().save()
    assert scenario.created_at == scenario.updated_at
    assert before <= scenario.created_at <= datetime.datetime.now(datetime.timezone.utc)
    loaded = Scenario.objects.get(pk=scenario.pk)
    assert loaded.created_at == scenario.created_at
    assert loaded.created_at.utcoffset() == datetime.timedelta(0)
    assert stored(scenario)["createdAt"] == scenario.created_at


def test_explicit_stamps_on_a_new_document_are_kept(db):
    when = datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    scenario = builders.scenario(created_at=when, updated_at=when).save()
    assert Scenario.objects.get(pk=scenario.pk).created_at == when


def test_a_save_that_changes_something_moves_updated_at_only(db, tick):
    scenario = builders.scenario().save()
    created, updated = scenario.created_at, scenario.updated_at
    tick()
    scenario.save()
    assert stored(scenario)["updatedAt"] == updated  # nothing changed
    scenario.title = "Changed"
    scenario.save()
    row = stored(scenario)
    assert row["createdAt"] == created and row["updatedAt"] > updated
    assert row["updatedAt"] == scenario.updated_at


def test_created_at_cannot_be_changed_after_creation(db):
    scenario = builders.scenario().save()
    scenario.created_at = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    with pytest.raises(ValidationError, match="created_at"):
        scenario.save()
    with pytest.raises(ValidationError, match="created_at"):
        Scenario.objects(pk=scenario.pk).update(set__created_at=datetime.datetime(2000, 1, 1))
    assert stored(scenario)["createdAt"] != scenario.created_at


@pytest.mark.parametrize(
    "update",
    [
        lambda doc: Scenario.objects(pk=doc.pk).update(set__title="u"),
        lambda doc: Scenario.objects(pk=doc.pk).update_one(set__title="u"),
        lambda doc: Scenario.objects(pk=doc.pk).modify(set__title="u"),
        lambda doc: doc.update(set__title="u"),
        lambda doc: doc.modify(set__title="u"),
        lambda doc: Scenario.objects(pk=doc.pk).update(__raw__={"$set": {"title": "u"}}),
    ],
    ids=["QuerySet.update", "update_one", "QuerySet.modify", "Document.update", "Document.modify",
         "raw"],
)
def test_atomic_updates_move_updated_at(db, update, tick):
    scenario = builders.scenario().save()
    tick()
    update(scenario)
    row = stored(scenario)
    assert row["title"] == "u"
    assert row["updatedAt"] > row["createdAt"] == scenario.created_at


def test_an_upsert_sets_created_at_on_insert_only(db, tick):
    Scenario.objects(scenario_id="up").update_one(
        upsert=True, set__title="t", set__description="d", set__llm_prompt="p"
    )
    first = Scenario._get_collection().find_one({"scenario_id": "up"})
    assert first["createdAt"] == first["updatedAt"]
    tick()
    Scenario.objects(scenario_id="up").update_one(upsert=True, set__title="t2")
    second = Scenario._get_collection().find_one({"scenario_id": "up"})
    assert second["createdAt"] == first["createdAt"] and second["updatedAt"] > first["updatedAt"]


def test_an_update_with_an_invalid_choice_is_refused(db):
    tip = builders.tip().save()
    with pytest.raises(ValidationError):
        RoleplayTip.objects(pk=tip.pk).update(set__category="gossip")
    assert stored(tip)["category"] == "closing"


def test_bulk_insert_stamps_and_validates(db):
    inserted = Scenario.objects.insert([builders.scenario(), builders.scenario()])
    assert all(s.created_at and s.created_at == s.updated_at for s in inserted)
    with pytest.raises(ValidationError):
        Scenario.objects.insert([builders.scenario(), builders.scenario(title="   ")])
    assert Scenario.objects.count() == 2
