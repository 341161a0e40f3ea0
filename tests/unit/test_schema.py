"""Every field of the five models against the schema in ``schema_spec`` (no server)."""

from __future__ import annotations

import datetime

import pytest
from mongoengine import ValidationError

from roleplay_models import ConversationEntry, KeyMoment, RoleplaySession, SessionAnalytics

import builders
from schema_spec import (
    BOOKKEEPING,
    CHOICES,
    COLLECTIONS,
    DEFAULTS,
    NOW,
    REQUIRED_STRINGS,
    SCORES,
    STORED_NAMES,
    TIMESTAMPS,
    TRIMMED,
    TRIMMED_LISTS,
)


def valid(model, embedded=None):
    """A valid instance of ``model``, with its scenario saved when it needs one."""
    if model.__name__ in ("Scenario", "Character", "RoleplayTip"):
        return getattr(builders, {"Scenario": "scenario", "Character": "character",
                                  "RoleplayTip": "tip"}[model.__name__])()
    scenario = builders.scenario().save()
    return builders.session(scenario) if model is RoleplaySession else builders.analytics(scenario)


def field_errors(document):
    with pytest.raises(ValidationError) as caught:
        document.validate()
    return caught.value.to_dict()


@pytest.mark.parametrize("model", list(COLLECTIONS), ids=lambda m: m.__name__)
def test_collection_is_mongoose_default(model):
    assert model._get_collection_name() == COLLECTIONS[model]


@pytest.mark.parametrize("model", list(STORED_NAMES), ids=lambda m: m.__name__)
def test_every_field_is_stored_under_its_mongoose_name(model):
    expected = {**STORED_NAMES[model], **BOOKKEEPING.get(model, {}), **TIMESTAMPS, "id": "_id"}
    assert {name: field.db_field for name, field in model._fields.items()} == expected


@pytest.mark.parametrize(
    "model,name,default",
    [(m, n, d) for m, fields in DEFAULTS.items() for n, d in fields.items()],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_defaults(model, name, default):
    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
    value = getattr(model(), name)
    if default is NOW:
        assert before <= value <= datetime.datetime.now(datetime.timezone.utc)
    else:
        assert value == default


def test_session_metadata_defaults_to_an_empty_object():
    metadata = RoleplaySession().metadata
    assert (metadata.ip_address, metadata.user_agent, metadata.session_quality) == (None, None, None)


@pytest.mark.parametrize(
    "model,name", [(m, n) for m, names in REQUIRED_STRINGS.items() for n in names],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
@pytest.mark.parametrize("blank", [None, "", "   ", "\t\n"])
def test_required_strings_refuse_blank(embedded, model, name, blank):
    document = valid(model)
    setattr(document, name, blank)
    assert name in field_errors(document)


@pytest.mark.parametrize(
    "model,name", [(m, n) for m, names in TRIMMED.items() for n in names],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_trimmed_fields_are_trimmed_on_assignment_and_storage(model, name):
    document = valid(model)
    setattr(document, name, "  Padded value \n")
    assert getattr(document, name) == "Padded value"
    assert document.to_mongo()[STORED_NAMES[model][name]] == "Padded value"


@pytest.mark.parametrize(
    "model,name", [(m, n) for m, names in TRIMMED_LISTS.items() for n in names],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_trimmed_list_entries_are_stored_trimmed(embedded, model, name):
    document = valid(model)
    setattr(document, name, ["  first ", "second\t"])
    document.validate()
    assert document.to_mongo()[STORED_NAMES[model][name]] == ["first", "second"]


@pytest.mark.parametrize("key", list(CHOICES), ids=lambda k: f"{k[0].__name__}.{k[1]}")
def test_choices_accept_each_value_and_refuse_others(embedded, key):
    model, name = key
    document = valid(model)
    for choice in CHOICES[key]:
        setattr(document, name, choice)
        document.validate()
    for wrong in ("unknown", CHOICES[key][0].upper(), ["active"], {"$ne": None}, 3):
        setattr(document, name, wrong)
        assert name in field_errors(document)


@pytest.mark.parametrize("name", SCORES)
def test_scores_are_one_to_ten_inclusive_with_fractions(embedded, name):
    document = valid(SessionAnalytics)
    for good in (1, 1.0, 5.25, 10, 10.0):
        setattr(document, name, good)
        document.validate()
    for bad in (0.999, 10.001, 0, 11, -1, None, "7", True, float("nan"), float("inf")):
        setattr(document, name, bad)
        assert name in field_errors(document)


def test_key_moment_fields(embedded):
    document = valid(SessionAnalytics)
    for impact in (-10, 0, 2.5, 10):
        document.key_moments = [KeyMoment(timestamp="02:15", description="x", score_impact=impact)]
        document.validate()
    assert KeyMoment(timestamp="0:01", description="x").score_impact == 0
    for moment in (
        KeyMoment(timestamp="02:15", description="x", score_impact=-10.5),
        KeyMoment(timestamp="02:15", description="x", score_impact=11),
        KeyMoment(timestamp="", description="x"),
        KeyMoment(timestamp="02:15", description=" "),
    ):
        document.key_moments = [moment]
        assert "key_moments" in field_errors(document)


def test_conversation_entry_fields(embedded):
    document = valid(RoleplaySession)
    entry = ConversationEntry(role="assistant", text="Hi")
    assert entry.audio_duration is None and entry.timestamp.tzinfo is not None
    for good in (ConversationEntry(role="user", text="a", audio_duration=0),
                 ConversationEntry(role="assistant", text="a", audio_duration=2.5)):
        document.conversation_history = [good]
        document.validate()
    for bad in (ConversationEntry(role="system", text="a"), ConversationEntry(role="user", text=""),
                ConversationEntry(role="user", text="a", audio_duration=-0.1),
                ConversationEntry(text="a")):
        document.conversation_history = [bad]
        assert "conversation_history" in field_errors(document)


def test_total_duration_is_never_negative(embedded):
    document = valid(RoleplaySession)
    document.total_duration = -1
    assert "total_duration" in field_errors(document)


@pytest.mark.parametrize(
    "model,name,value",
    [
        (RoleplaySession, "user_id", 42),
        (RoleplaySession, "voice_enabled", "yes"),
        (RoleplaySession, "start_time", "2024-01-01"),
        (RoleplaySession, "conversation_history", "hello"),
        (RoleplaySession, "scenario", "not-an-id"),
        (RoleplaySession, "metadata", {"ip_address": "1.2.3.4"}),
        (SessionAnalytics, "strengths", [1, 2]),
        (SessionAnalytics, "key_moments", [{"timestamp": "1"}]),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_wrong_types_are_refused_naming_the_field(embedded, model, name, value):
    document = valid(model)
    setattr(document, name, value)
    assert name in field_errors(document)
