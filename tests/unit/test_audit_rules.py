"""How the audit names what a raw document breaks: the models' own rules, grouped by stored
field and rule, without a server (loading and validating send nothing)."""

from __future__ import annotations

import copy
import datetime
import sys

import pytest
from bson import DBRef, ObjectId
from bson.datetime_ms import DatetimeMS
from hypothesis import given, settings
from hypothesis import strategies as st
from mongoengine import ValidationError, signals

import roleplay_models  # noqa: F401  (the audit module is shadowed by its function there)

audit_module = sys.modules["roleplay_models.audit"]
from roleplay_models import (  # noqa: E402
    ConversationEntry,
    RoleplaySession,
    Scenario,
    SessionMetadata,
    configure_limits,
    current_limits,
)

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def session(**changes):
    turn = {"_id": ObjectId(), "role": "user", "text": "Hello", "timestamp": NOW}
    return {"_id": ObjectId(), "session_id": "s", "scenario_id": ObjectId(), "user_id": "u",
            "status": "completed", "start_time": NOW, "conversation_history": [turn, dict(turn)],
            **changes}


def test_a_valid_raw_document_breaks_nothing_and_mongooses_version_key_is_expected():
    raw = session(__v=3)
    assert audit_module._refusals(RoleplaySession, raw) == set()
    shape = audit_module._shape(RoleplaySession, audit_module.KNOWN_EXTRA_KEYS)
    assert list(audit_module._unknown_keys(raw, shape)) == []


def test_texts_over_the_limit_by_different_amounts_are_one_rule():
    first = session(conversation_history=[{"role": "user", "text": "x" * 9000}])
    second = session(conversation_history=[{"role": "user", "text": "y" * 12000}])
    assert audit_module._refusals(RoleplaySession, first) == audit_module._refusals(
        RoleplaySession, second) == {("conversation_history[].text", "over 8192 bytes of UTF-8")}


def test_fields_are_named_as_stored_and_an_unloadable_field_leaves_the_rest_validated():
    raw = {"_id": ObjectId(), "scenario_id": "x", "title": "t", "description": "d",
           "llmPrompt": "  ", "is_active": 0}
    assert audit_module._refusals(Scenario, raw) == {("llmPrompt", "required"),
                                                     ("is_active", "not true or false")}
    raw = session(metadata=["web"], user_id=None)
    assert audit_module._refusals(RoleplaySession, raw) == {
        ("metadata", "cannot be loaded: not an embedded document"), ("user_id", "required")}


def test_unknown_keys_are_found_at_every_depth():
    raw = session(legacy=1, metadata={"ip_address": "1.2.3.4", "browser": "x"})
    raw["conversation_history"][1]["mood"] = "calm"
    shape = audit_module._shape(RoleplaySession, audit_module.KNOWN_EXTRA_KEYS)
    assert sorted(audit_module._unknown_keys(raw, shape)) == [
        "conversation_history[].mood", "legacy", "metadata.browser"]


def test_loading_keeps_stored_strings_as_they_are():
    raw = {"_id": ObjectId(), "scenario_id": "x", "title": "  padded  ", "description": "d",
           "llmPrompt": "p"}
    assert audit_module._refusals(Scenario, raw) == set()
    assert raw["title"] == "  padded  "


def test_a_value_that_could_be_an_operator_or_a_pattern_is_never_looked_up():
    assert not audit_module._can_be_an_id({"$ne": None})
    assert not audit_module._can_be_an_id([ObjectId()])
    assert audit_module._can_be_an_id(ObjectId()) and audit_module._can_be_an_id("abc")


# --- the quick check: a document it passes is one the models refuse nothing in ------------

def scenario_raw(**changes):
    return {"_id": ObjectId(), "scenario_id": "x", "title": "t", "description": "d",
            "llmPrompt": "p", "is_active": True, "createdAt": NOW, **changes}


def findings_both_ways(model, raw):
    """The audit's findings for ``raw`` with the quick check, and the model's own."""
    quick = audit_module._findings(model, audit_module._class_check(model), copy.deepcopy(raw))
    return quick, audit_module._refusals(model, copy.deepcopy(raw))


def test_a_valid_session_and_scenario_pass_the_quick_check_without_being_loaded(monkeypatch):
    for model, raw in ((RoleplaySession, session(__v=0, metadata={"user_agent": "x"})),
                       (Scenario, scenario_raw())):
        check = audit_module._class_check(model)
        assert check is not None
        monkeypatch.setattr(audit_module, "_refusals", None)  # calling it would fail
        assert audit_module._findings(model, check, raw) == set()
        monkeypatch.undo()


def test_the_classs_own_clean_runs_a_session_over_the_turn_limit_is_the_models_finding():
    most = current_limits().turns_per_session
    turn = session()["conversation_history"][0]
    raw = session(conversation_history=[dict(turn, _id=ObjectId()) for _ in range(most + 1)])
    quick, model = findings_both_ways(RoleplaySession, raw)
    assert quick == model == {("(document)", f"a session holds at most {most} turns")}


def test_limits_in_force_are_read_by_the_quick_check_too():
    raw = session(conversation_history=[{"role": "user", "text": "x" * 3000}])
    assert findings_both_ways(RoleplaySession, raw) == (set(), set())
    previous = current_limits().turn_text_bytes
    configure_limits(turn_text_bytes=2048)
    try:
        quick, model = findings_both_ways(RoleplaySession, raw)
    finally:
        configure_limits(turn_text_bytes=previous)
    assert quick == model == {("conversation_history[].text", "over 2048 bytes of UTF-8")}


def refuse(value):
    raise ValidationError("refused")


@pytest.mark.parametrize("option,value", [("validation", refuse), ("choices", ["other"])])
def test_a_check_given_to_a_field_whose_values_otherwise_pass_as_they_are_runs(
        monkeypatch, option, value):
    # a turn's id is valid as any ObjectId, unless the field is given more checks
    monkeypatch.setattr(ConversationEntry._fields["id"], option, value)
    quick, model = findings_both_ways(RoleplaySession, session())
    assert quick == model and [where for where, _ in model] == ["conversation_history[]._id"]


def pre_init_receiver(sender, document, values, **kwargs):
    values["status"] = "nonsense"


def test_a_receiver_of_building_turns_the_quick_check_off():
    check = audit_module._class_check(RoleplaySession)
    assert not audit_module._watched(check)
    signals.pre_init.connect(pre_init_receiver, sender=ConversationEntry)
    try:
        assert audit_module._watched(check)
    finally:
        signals.pre_init.disconnect(pre_init_receiver, sender=ConversationEntry)
    assert not audit_module._watched(check)


stored_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
    st.sampled_from(["", "  ", "user", "assistant", " user", "active", "\ud800", "\ufeff",
                     "507f1f77bcf86cd799439011", "x" * 9000]),
    st.datetimes(timezones=st.none() | st.timezones()), st.builds(ObjectId),
    st.just(DatetimeMS(2**62)), st.just(DBRef("scenarios", ObjectId())),
    st.lists(st.sampled_from([{}, {"role": "user", "text": "t"}, "x", None]), max_size=2),
    st.dictionaries(st.sampled_from(["ip_address", "role", "text", "_cls", "x"]),
                    st.sampled_from(["a", 1, None]), max_size=2),
)
SESSION_KEYS = sorted({f.db_field for f in RoleplaySession._fields.values()}
                      | {"id", "pk", "_cls", "scenario", "character", "created_at", "__v", "x"})
TURN_KEYS = sorted({f.db_field for f in ConversationEntry._fields.values()} | {"id", "_cls", "x"})
METADATA_KEYS = sorted({f.db_field for f in SessionMetadata._fields.values()} | {"pk", "x"})
SCENARIO_KEYS = sorted({f.db_field for f in Scenario._fields.values()} | {"id", "title_", "x"})
ABSENT = object()
changes = st.lists(st.tuples(st.sampled_from(["session", "turn", "metadata", "scenario"]),
                             st.sampled_from(sorted(set(SESSION_KEYS + TURN_KEYS + METADATA_KEYS
                                                        + SCENARIO_KEYS))),
                             st.one_of(st.just(ABSENT), stored_values)), max_size=3)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(changes)
def test_the_quick_check_gives_the_models_findings_for_any_stored_values(changed):
    raw = session(metadata={"ip_address": "1.2.3.4"}, voice_enabled=False, end_time=None,
                  character_id=None, total_duration=3, createdAt=NOW, updatedAt=NOW)
    scenario = scenario_raw()
    targets = {"session": raw, "turn": raw["conversation_history"][1],
               "metadata": raw["metadata"], "scenario": scenario}
    for where, key, value in changed:
        target = targets[where]  # one replaced by an earlier change is changed unseen
        if value is ABSENT:
            target.pop(key, None)
        else:
            target[key] = value
    for model, document in ((RoleplaySession, raw), (Scenario, scenario)):
        quick, models = findings_both_ways(model, document)
        assert quick == models


@pytest.mark.parametrize("model", roleplay_models.MODELS)
def test_the_quick_check_covers_the_models_it_can_and_declines_the_rest(model):
    """Sessions and scenarios are checked without loading; a model with a list of references
    or of strings (the rest) is loaded whole, as before."""
    covered = audit_module._class_check(model) is not None
    assert covered == (model in (RoleplaySession, Scenario))
