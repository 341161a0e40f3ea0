"""Where None is stored as null and where as no key: one rule for save() and for the
conditional updates of :mod:`roleplay_models.odm.writes`."""

from __future__ import annotations

import datetime

import pytest
from bson import ObjectId

from roleplay_models import Character, RoleplaySession
from roleplay_models.odm.writes import none_stored_as_null, set_or_unset

STARTED = datetime.datetime(2024, 5, 1, 12)


def test_none_is_null_only_where_the_field_is_declared_null():
    assert none_stored_as_null(RoleplaySession._fields["end_time"])
    assert none_stored_as_null(RoleplaySession._fields["character"])
    assert none_stored_as_null(Character._fields["voice_id"])
    assert not none_stored_as_null(RoleplaySession._fields["paused_at"])
    assert not none_stored_as_null(RoleplaySession._fields["last_turn_at"])


def test_a_conditional_update_sets_null_or_unsets_by_the_stored_name():
    update = set_or_unset(RoleplaySession, {"status": "ended", "end_time": None,
                                            "character": None, "paused_at": None})
    assert update == {"$set": {"status": "ended", "end_time": None, "character_id": None},
                      "$unset": {"paused_at": ""}}


def loaded_session() -> RoleplaySession:
    return RoleplaySession._from_son({
        "_id": ObjectId(), "session_id": "session_x", "scenario_id": ObjectId(),
        "character_id": ObjectId(), "user_id": "rep", "start_time": STARTED,
        "end_time": STARTED, "paused_at": STARTED, "last_turn_at": STARTED})


@pytest.mark.parametrize("name", ["end_time", "character", "paused_at", "last_turn_at"])
def test_save_stores_none_as_a_conditional_update_does(name):
    session = loaded_session()
    setattr(session, name, None)
    set_data, unset_data = session._delta()
    update = set_or_unset(RoleplaySession, {name: None})
    assert set_data == update.get("$set", {})
    assert set(unset_data) == set(update.get("$unset", {}))
