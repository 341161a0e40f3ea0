"""How the audit names what a raw document breaks: the models' own rules, grouped by stored
field and rule, without a server (loading and validating send nothing)."""

from __future__ import annotations

import datetime
import sys

from bson import ObjectId

import roleplay_models  # noqa: F401  (the audit module is shadowed by its function there)

audit_module = sys.modules["roleplay_models.audit"]
from roleplay_models import RoleplaySession, Scenario  # noqa: E402

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
