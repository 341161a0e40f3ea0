"""Random values of every type at every field: only ValidationError, and nothing invalid written."""

from __future__ import annotations

import datetime

import pytest
from bson import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mongoengine import ValidationError

from roleplay_models import (
    MODELS,
    ConversationEntry,
    KeyMoment,
    RoleplaySession,
    Scenario,
    SessionAnalytics,
    SessionMetadata,
)

import builders

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "   ", " active ", "closing", "beginner", "user", "02:15", "$ne",
                     "507f1f77bcf86cd799439011", "\ud800"]),
    st.binary(max_size=8),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.dates(),
    st.builds(ObjectId),
    st.decimals(allow_nan=False, places=2, max_value=20, min_value=-20),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)

EMBEDDED = {
    (RoleplaySession, "conversation_history"): ConversationEntry,
    (RoleplaySession, "metadata"): SessionMetadata,
    (SessionAnalytics, "key_moments"): KeyMoment,
}
TARGETS = [(model, name, None) for model in MODELS for name in model._fields] + [
    (model, name, sub) for (model, name), cls in EMBEDDED.items() for sub in cls._fields
]


def fresh_document(model, scenario):
    if model is Scenario:
        return builders.scenario()
    if model is RoleplaySession:
        return builders.session(scenario)
    if model is SessionAnalytics:
        return builders.analytics(scenario)
    if model.__name__ == "Character":
        return builders.character([scenario])
    return builders.tip(related_scenarios=[scenario])


def assign(document, name, sub, value):
    if sub is None:
        setattr(document, name, value)
        return
    cls = EMBEDDED[(type(document), name)]
    if cls is SessionMetadata:
        document.metadata = SessionMetadata(**{sub: value})
        return
    template = {"role": "user", "text": "t"} if cls is ConversationEntry else {
        "timestamp": "01:00", "description": "d"}
    entry = cls(**template)
    setattr(entry, sub, value)
    setattr(document, name, [entry])


def counts():
    return {model: model._get_collection().count_documents({}) for model in MODELS}


@pytest.mark.long
@settings(max_examples=2500, deadline=None, suppress_health_check=list(HealthCheck))
@given(target=st.sampled_from(TARGETS), value=values)
def test_random_values_raise_only_validation_errors_and_write_nothing_invalid(db, target, value):
    model, name, sub = target
    for each in MODELS:
        each._get_collection().delete_many({})
    scenario = builders.scenario().save()
    document = fresh_document(model, scenario)
    before = counts()
    try:
        assign(document, name, sub, value)
        document.save()
    except ValidationError:
        assert counts() == before
        return
    raw = model._get_collection().find_one({"_id": document.pk})
    assert raw is not None
    reloaded = model._from_son(raw)
    reloaded.validate()
    assert isinstance(reloaded.created_at, datetime.datetime)
