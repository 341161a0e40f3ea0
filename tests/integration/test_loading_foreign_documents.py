"""Documents another program stored are read as stored: a stray key never stands for a field
stored under another key, a null reference stays null, and a document mongoengine cannot
load is an error, never a row silently missing from a list."""

from __future__ import annotations

import datetime

import pytest
from bson import ObjectId
from mongoengine.errors import InvalidDocumentError

from roleplay_models import Character, RoleplaySession, RoleplayTip

import builders

WHEN = datetime.datetime(2024, 3, 1, 9, 30, tzinfo=datetime.timezone.utc)


def insert_session(db, scenario, **keys):
    raw = {"_id": ObjectId(), "session_id": builders.unique("session"),
           "scenario_id": scenario.pk, "character_id": None, "user_id": "u",
           "status": "active", "start_time": WHEN, "end_time": None, "total_duration": 0,
           "voice_enabled": False, "conversation_history": [], **keys}
    db[RoleplaySession._meta["collection"]].insert_one(raw)
    return raw


def stored(db, model, raw_id):
    return db[model._meta["collection"]].find_one({"_id": raw_id})


def test_a_stray_id_key_is_not_the_documents_id_and_its_save_goes_to_its_own_document(db):
    scenario = builders.scenario().save()
    other = insert_session(db, scenario)
    mine = insert_session(db, scenario, id=str(other["_id"]))  # a key mongoose would not read
    loaded = RoleplaySession.objects.by_session_id(mine["session_id"]).get()
    assert loaded.pk == mine["_id"]
    assert loaded.to_api_dict()["id"] == str(mine["_id"])
    loaded.user_id = "changed"
    loaded.save()
    assert stored(db, RoleplaySession, mine["_id"])["user_id"] == "changed"
    assert stored(db, RoleplaySession, other["_id"]) == other  # untouched
    assert RoleplaySession.objects.live(mine["session_id"]).pause().value == "stored"
    assert stored(db, RoleplaySession, other["_id"])["status"] == "active"


def test_a_fields_name_stored_beside_its_stored_key_does_not_replace_its_value(db):
    scenario = builders.scenario().save()
    raw = insert_session(db, scenario, createdAt=WHEN, created_at="legacy")
    loaded = RoleplaySession.objects.by_session_id(raw["session_id"]).get()
    assert loaded.created_at == WHEN
    listed = RoleplaySession.objects.by_session_id(raw["session_id"]).api_dicts()[0]
    assert loaded.to_api_dict()["created_at"] == listed["created_at"] == "2024-03-01T09:30:00.000Z"


def test_a_fields_name_stored_alone_is_still_read_as_the_field(db):
    scenario = builders.scenario().save()
    raw = insert_session(db, scenario, created_at=WHEN)  # stored under the field's name
    assert RoleplaySession.objects.by_session_id(raw["session_id"]).get().created_at == WHEN


@pytest.mark.parametrize("model", [Character, RoleplayTip])
def test_a_null_in_a_list_of_references_is_read_as_null_every_time(db, model):
    scenario = builders.scenario().save()
    if model is Character:
        raw = {"_id": ObjectId(), "name": "N", "role": "CFO", "personality": "p",
               "background": "b", "scenario_ids": [scenario.pk, None]}
        attribute, key = "scenarios", "scenario_ids"
    else:
        raw = {"_id": ObjectId(), "category": "closing", "title": "t", "content": "c",
               "difficulty_level": "beginner", "related_scenarios": [scenario.pk, None]}
        attribute, key = "related_scenarios", "related_scenarios"
    db[model._meta["collection"]].insert_one(raw)
    expected = [str(scenario.pk), None]
    assert [model.objects(pk=raw["_id"]).get().to_api_dict()[key] for _ in range(2)] == [
        expected, expected]
    assert model.objects(pk=raw["_id"]).api_dicts(populate=False)[0][key] == expected
    loaded = model.objects(pk=raw["_id"]).get()
    assert getattr(loaded, attribute)[1] is None
    assert loaded.to_mongo()[key] == [scenario.pk, None]
    setattr(loaded, "name" if model is Character else "title", "changed")
    loaded.save()  # an unrelated change is saved, the list left as stored
    after = stored(db, model, raw["_id"])
    assert after[key] == [scenario.pk, None]
    assert after["name" if model is Character else "title"] == "changed"


@pytest.mark.parametrize("key", ["_created", "__auto_convert"])
def test_a_document_mongoengine_cannot_load_fails_a_list_rather_than_leaving_it_out(db, key):
    scenario = builders.scenario().save()
    user = builders.unique("user")
    refused = [insert_session(db, scenario, user_id=user, **extra)
               for extra in ({}, {key: True}, {}, {key: True})][1::2]
    query = RoleplaySession.objects.for_user(user)
    assert query.count() == 4
    for listing in (lambda: list(query.clone()), lambda: query.clone().populated(),
                    lambda: query.clone().paginate(1, 20)):
        with pytest.raises(InvalidDocumentError, match=key):
            listing()
    assert len(query.clone().api_dicts()) == 4  # read as pymongo documents, all four
    said = []
    for raw in refused:
        with pytest.raises(InvalidDocumentError) as caught:
            RoleplaySession._from_son(stored(db, RoleplaySession, raw["_id"]))
        said.append(str(caught.value).splitlines())
    # the same first line for each (the audit counts them as one finding), then the id
    assert said[0][0] == said[1][0] and [lines[-1] for lines in said] == [
        f"(its _id: {raw['_id']})" for raw in refused]
