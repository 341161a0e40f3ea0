"""The fast paths of ``roleplay_models.odm.fast_paths`` give what mongoengine's own code gives.

Each test builds, loads, validates and encodes the same input twice: through the fast paths,
and through mongoengine's generic code (the class's layout set to None, which is what a class
the fast paths do not cover has), and compares everything the document holds.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import threading
import weakref
from collections.abc import Iterator
from functools import partial
from typing import Any

import bson
import pytest
from bson import SON, DBRef, ObjectId
from bson.code import Code
from bson.codec_options import CodecOptions, TypeDecoder, TypeRegistry
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from mongoengine import EmbeddedDocument, ValidationError, signals
from mongoengine.base import BaseDocument, BaseList
from mongoengine.dereference import DeReference
from mongoengine.fields import (
    DictField,
    EmbeddedDocumentField,
    IntField,
    ListField,
    ObjectIdField,
    ReferenceField,
    StringField,
)

from roleplay_models import (
    MODELS,
    Character,
    ConversationEntry,
    KeyMoment,
    RoleplaySession,
    Scenario,
    SessionAnalytics,
    SessionMetadata,
)
from roleplay_models.odm import fast_paths, stored_bson
from roleplay_models.odm.api import api_shape
from roleplay_models.odm.document import RoleplayDocument, RoleplayEmbeddedDocument
from roleplay_models.odm.fast_paths import (
    EmbeddedListField,
    encoding_as_dicts,
    encoding_for_api,
    encoding_for_api_entered,
    encoding_left,
    is_built,
    layout_of,
)
from roleplay_models.odm.fields import (
    NumberField,
    StrictBooleanField,
    TextField,
    TrimmedTextListField,
    UTCDateTimeField,
    loading_from_database,
    utc_now,
)
from roleplay_models.odm.stored_bson import (
    ReadDocument,
    decoded,
    decoded_for_json,
    reading_codec,
    son_of,
)

# how a QuerySet of this package reads a session: as RawBSONDocument, times as aware UTC
READ_AS_BSON = reading_codec(CodecOptions(tz_aware=True, tzinfo=datetime.timezone.utc))
SAME_INPUTS = settings(max_examples=150, deadline=None, derandomize=True)
EMBEDDED = (ConversationEntry, KeyMoment, SessionMetadata)
GENERATED = object()  # stands for a value made by a callable default (a fresh id, the time)


@contextlib.contextmanager
def generic(*classes: type) -> Iterator[None]:
    """mongoengine's own code for ``classes`` inside."""
    saved = {cls: cls.__dict__["_fast_layout"] for cls in classes
             if "_fast_layout" in cls.__dict__}
    for cls in classes:
        cls._fast_layout = None
    try:
        yield
    finally:
        for cls in classes:
            if cls in saved:
                cls._fast_layout = saved[cls]
            else:  # worked out afresh when next needed
                del cls._fast_layout


def outcome(action: Any) -> tuple[str, Any]:
    try:
        return "ok", action()
    except Exception as error:  # the same error, type and words, is part of the same result
        return type(error).__name__, str(error)


def made_by_default(document: Any, name: str, given: dict[str, Any]) -> bool:
    field = document._fields.get(name)
    return field is not None and callable(field.default) and given.get(name) is None


def state(document: Any, given: dict[str, Any]) -> dict[str, Any]:
    """Everything a built document holds, values made by callable defaults (fresh ids, the
    time) marked as such; ``given`` holds the values it was built from, by field name."""
    data = [(name, (GENERATED if made_by_default(document, name, given) else value,
                    type(value)))
            for name, value in document._data.items()]
    son = document.to_mongo()
    son_items = [(key, GENERATED if made_by_default(
                    document, document._reverse_db_field_map.get(key, key), given) else value)
                 for key, value in son.items()]
    displays = [f"get_{name}_display" for name, field in document._fields.items()
                if field.choices]
    return {
        "data": data,
        "changed": document._changed_fields,
        "initialised": document._initialised,
        "created": document._created,
        "instance": document._instance,
        "cls": document._cls,
        "dynamic": document._dynamic_fields,
        "displays": [(key, getattr(document, key)()) for key in displays],
        "son": son_items,
        "son type": type(son),
        "valid": outcome(document.validate),
    }


def both_ways(make: Any, classes: tuple[type, ...], given: dict[str, Any]) -> None:
    fast = outcome(lambda: state(make(), given))
    with generic(*classes):
        slow = outcome(lambda: state(make(), given))
    assert fast == slow


texts = st.one_of(st.text(max_size=12), st.sampled_from([" user ", "user", "assistant", "\ufeff"]),
                  st.none(), st.integers(), st.lists(st.text(max_size=2), max_size=2),
                  st.datetimes(datetime.datetime(2000, 1, 1)))  # read back in UTC
times = st.one_of(st.datetimes(timezones=st.none() | st.timezones()), st.none(),
                  st.just("2024-05-01"))
numbers = st.one_of(st.integers(), st.floats(), st.booleans(), st.none(), st.text(max_size=3))
ids = st.one_of(st.builds(ObjectId), st.none(), st.just("not an id"),
                st.just("6B0C5877239D959DF3A1139D"))  # an id as hex: parsed when loaded
FIELD_VALUES = {
    ConversationEntry: {"id": ids, "role": texts, "text": texts, "timestamp": times,
                        "audio_duration": numbers},
    KeyMoment: {"id": ids, "timestamp": texts, "description": texts, "score_impact": numbers},
    SessionMetadata: {"ip_address": texts, "user_agent": texts, "session_quality": texts},
}
UNKNOWN = st.dictionaries(st.sampled_from(["__v", "extra", "pk", "_cls"]),
                          st.one_of(st.integers(), st.text(max_size=3)), max_size=1)


def values_of(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    fields = FIELD_VALUES[cls]
    return st.fixed_dictionaries({}, optional=fields)


@SAME_INPUTS
@given(st.sampled_from(EMBEDDED).flatmap(
    lambda cls: st.tuples(st.just(cls), values_of(cls), UNKNOWN)))
def test_building_gives_what_mongoengine_gives(case):
    cls, values, unknown = case
    both_ways(lambda: cls(**values, **unknown), (cls,), values)


def normal(value: Any) -> Any:
    """``value`` with the embedded documents in it as their class and data, values made by
    callable defaults (fresh ids, the time) marked as such."""
    if isinstance(value, (list, tuple)):
        return [normal(item) for item in value]
    if isinstance(value, EmbeddedDocument):
        return (type(value).__name__, [
            (name, GENERATED if made_by_default(value, name, {}) else normal(item))
            for name, item in value._data.items()])
    return value


SCENARIO = Scenario(scenario_id="s", title="t", description="d", llm_prompt="p", id=ObjectId())
# a reference may hold a Character too (a session shows its character populated)
CHARACTER = Character(name="n", role="r", personality="p", background="b",
                      scenarios=[SCENARIO], id=ObjectId())
# a reference's encoding refuses a document not saved, and gives the id of one whose id is a
# string of hex (as a program may set it) as an ObjectId, which no populated dict is found
# by: its JSON is the id
UNSAVED = Scenario(scenario_id="u", title="t", description="d", llm_prompt="p")
HEX_ID = Scenario(scenario_id="h", title="t", description="d", llm_prompt="p")
HEX_ID._data["id"] = str(ObjectId())
ENTRIES = st.lists(st.one_of(st.builds(ConversationEntry, role=st.just("user"), text=texts,
                                       timestamp=times),
                             st.fixed_dictionaries({"role": texts, "text": texts})),
                   max_size=3)


def field_values(field: Any) -> st.SearchStrategy[Any]:
    """Values of every kind for one field of the five models."""
    if isinstance(field, TrimmedTextListField):
        return st.one_of(st.lists(texts, max_size=3), st.none())
    if isinstance(field, (ReferenceField, ListField)) and not isinstance(
            field, EmbeddedListField):
        return st.one_of(st.sampled_from([SCENARIO, SCENARIO.pk, CHARACTER, UNSAVED, HEX_ID,
                                          None, "x"]),
                         st.lists(st.sampled_from([SCENARIO, SCENARIO.pk, CHARACTER]),
                                  max_size=2))
    if isinstance(field, EmbeddedListField):
        return st.one_of(ENTRIES, st.none())
    if isinstance(field, EmbeddedDocumentField):
        return st.one_of(st.none(), st.just({}), st.builds(SessionMetadata, user_agent=texts),
                         st.fixed_dictionaries({"ip_address": texts}))
    if isinstance(field, UTCDateTimeField):
        return times
    if isinstance(field, (NumberField, StrictBooleanField)):
        return numbers
    if field.name == "id":
        return ids
    return texts


def model_values(model: type) -> st.SearchStrategy[dict[str, Any]]:
    """Values of every kind for the fields of one of the five models."""
    fields = {name: field_values(field) for name, field in model._fields.items()
              if name not in ("created_at", "updated_at")}
    return st.fixed_dictionaries({}, optional=fields)


def valid_values(model: type) -> dict[str, Any]:
    """Values for the required fields of ``model`` that it accepts."""
    def valid(field: Any) -> Any:
        if field.choices:
            return field.choices[0]
        if isinstance(field, ReferenceField):
            return SCENARIO
        return 1 if isinstance(field, NumberField) else "x"
    return {name: valid(field) for name, field in model._fields.items() if field.required}


# one of the five models, one of its fields and a value for it
ONE_FIELD_CASES = st.sampled_from(MODELS).flatmap(
    lambda model: st.sampled_from(sorted(model._fields)).flatmap(
        lambda name: st.tuples(st.just(model), st.just(name),
                               field_values(model._fields[name]))))


def model_state(document: Any, given: dict[str, Any]) -> dict[str, Any]:
    """What a model's document holds, its embedded documents as ``normal`` gives them; values
    made by callable defaults where ``given`` (by field name) holds none marked as such."""
    return {
        "data": [(name, GENERATED if made_by_default(document, name, given) else normal(value))
                 for name, value in document._data.items()],
        "created": document._created, "initialised": document._initialised,
        "displays": [getattr(document, f"get_{name}_display")()
                     for name, field in type(document)._fields.items() if field.choices],
        "valid": outcome(document.validate),
    }


def encoded(document: Any, given: dict[str, Any]) -> Any:
    """``document.to_mongo()``, its type and its items in order, as ``normal`` gives them;
    values made by callable defaults where ``given`` holds none marked as such, also in the
    embedded documents it holds (each encoded as its class and items)."""
    son = outcome(document.to_mongo)
    if son[0] != "ok":
        return son

    def items(holder: Any, mapping: Any, given: dict[str, Any]) -> list[tuple[str, Any]]:
        return [(key, value_of(holder, key, value, given)) for key, value in mapping.items()]

    def given_to(document: Any, given: Any) -> dict[str, Any]:
        # what an embedded document was given (a dict by field name or stored key, or the
        # document itself), by field name
        if isinstance(given, EmbeddedDocument):
            return dict(given._data)
        if isinstance(given, dict):
            return {document._reverse_db_field_map.get(key, key): v for key, v in given.items()}
        return {}

    def value_of(holder: Any, key: str, value: Any, given: dict[str, Any]) -> Any:
        name = holder._reverse_db_field_map.get(key, key)
        if made_by_default(holder, name, given):
            return GENERATED
        held, inputs = holder._data.get(name), given.get(name)
        if isinstance(held, EmbeddedDocument) and isinstance(value, dict):
            return type(value), items(held, value, given_to(held, inputs))
        if isinstance(held, list) and isinstance(value, list):
            inputs = inputs if isinstance(inputs, list) else []
            inputs = inputs + [None] * (len(held) - len(inputs))
            return [(type(item), items(inner, item, given_to(inner, raw)))
                    if isinstance(inner, EmbeddedDocument) and isinstance(item, dict)
                    else normal(item) for item, inner, raw in zip(value, held, inputs, strict=False)]
        return normal(value)

    return type(son[1]), items(document, son[1], given)


# one of the five models, and values for its fields
MODEL_CASES = st.sampled_from(MODELS).flatmap(
    lambda model: st.tuples(st.just(model), model_values(model)))


@SAME_INPUTS
@given(MODEL_CASES)
def test_building_a_model_gives_what_mongoengine_gives(case):
    model, values = case
    fast, slow = built_both_ways(model, values)
    assert fast == slow


def built_both_ways(model: type, values: dict[str, Any]) -> tuple[Any, Any]:
    """What ``model(**values)`` holds, encodes and makes of validation: through the fast
    paths, then through mongoengine's own code."""
    def build() -> Any:
        document = model(**values)
        return {**model_state(document, values), "son": encoded(document, values),
                "changed": getattr(document, "_changed_fields", None)}

    fast = outcome(build)
    with generic(model, *EMBEDDED):
        slow = outcome(build)
    return fast, slow


@SAME_INPUTS
@given(ONE_FIELD_CASES)
def test_a_valid_model_with_one_value_changed_validates_and_encodes_as_mongoengine_does(case):
    # values drawn for every field at once are nearly always refused by one of them; here
    # the other fields hold values the model accepts
    model, name, value = case
    fast, slow = built_both_ways(model, {**valid_values(model), name: value})
    assert fast == slow


def model_built(case: tuple[type, dict[str, Any]]) -> Any:
    """The model of a ``MODEL_CASES`` case built from its values (the case skipped if that
    is refused)."""
    model, values = case
    document = outcome(lambda: model(**values))
    assume(document[0] == "ok")
    return document[1]


@SAME_INPUTS
@given(MODEL_CASES)
def test_a_model_encoded_as_dicts_is_the_bson_of_its_son(case):
    document = model_built(case)
    son = outcome(document.to_mongo)
    with encoding_as_dicts():
        sent = outcome(document.to_mongo)
    assert sent[0] == son[0]
    assume(son[0] == "ok")
    assert outcome(lambda: bson.encode(sent[1])) == outcome(lambda: bson.encode(son[1]))
    assert type(sent[1]) is dict and all(
        type(turn) is dict for turn in sent[1].get("conversation_history", []))


@SAME_INPUTS
@given(MODEL_CASES, st.data())
def test_a_model_encoded_for_some_fields_is_what_mongoengine_encodes(case, data):
    # save() asks for to_mongo(fields=[the id field]) first
    document = model_built(case)
    fields = data.draw(st.lists(st.sampled_from([*type(document)._fields, "nothing"]),
                                min_size=1, unique=True))
    fast = outcome(lambda: document.to_mongo(fields=fields))
    with generic(type(document), *EMBEDDED):
        slow = outcome(lambda: document.to_mongo(fields=fields))
    assert (fast[0], type(fast[1]), repr(fast[1])) == (slow[0], type(slow[1]), repr(slow[1]))


@SAME_INPUTS
@given(MODEL_CASES)
def test_a_model_as_api_json_is_what_mongoengines_encoding_of_it_gives(case):
    # the API shapes write a document, the scenario and character it shows and its turns
    # from their fields (ApiShape.dump_fields, fast_paths.encoding_for_api)
    document = model_built(case)
    assert api_shape(type(document)).public_fields is not None  # so dump_fields applies

    def shown() -> list[Any]:
        return [outcome(partial(document.to_api_dict, private=private))
                for private in (False, True)]

    fast = shown()
    with generic(type(document), Scenario, Character, *EMBEDDED):
        slow = shown()
    assert fast == slow


# keys another program may store: unmodelled ones, attribute names, a field's name where its
# stored key is another (each of which mongoengine's _from_son treats its own way)
STORED_KEYS = st.dictionaries(
    st.sampled_from(["__v", "extra", "pk", "_cls", "id", "scenario", "created_at", "_text_score"]),
    st.one_of(st.integers(), st.text(max_size=3), st.builds(ObjectId)), max_size=2)
STAMPS = st.fixed_dictionaries({}, optional={"createdAt": st.datetimes(), "updatedAt": st.none()})


@SAME_INPUTS
@given(MODEL_CASES, STAMPS, STORED_KEYS, st.booleans(), st.booleans())
def test_loading_a_model_gives_what_mongoengine_gives(case, stamps, extra, created, read_all):
    model, values = case
    encoded = outcome(lambda: model(**values).to_mongo().to_dict())
    assume(encoded[0] == "ok")
    son = {"_id": ObjectId(), **encoded[1], **stamps, **extra}
    given = {name: son.get(field.db_field) for name, field in model._fields.items()}

    def load() -> Any:
        document = model._from_son(dict(son), created=created)
        if read_all:  # each field read, each list of turns built
            for name in model._fields:
                normal(getattr(document, name))
        return {**model_state(document, given), "changed": document._changed_fields,
                "changed paths": document._get_changed_fields(),
                "stored": document._stored, "class": type(document),
                "son": encoded(document, given)}

    fast = outcome(load)
    with generic(model, *EMBEDDED):
        slow = outcome(load)
    assert fast == slow


@SAME_INPUTS
@given(st.sampled_from(EMBEDDED).flatmap(
    lambda cls: st.tuples(st.just(cls), values_of(cls), UNKNOWN)), st.booleans())
def test_loading_gives_what_mongoengine_gives(case, from_database):
    cls, values, unknown = case
    son = {cls._fields[name].db_field: value for name, value in values.items()} | unknown

    def load() -> Any:
        with loading_from_database() if from_database else contextlib.nullcontext():
            return cls._from_son(dict(son))

    both_ways(load, (cls,), values)


class Titled(RoleplayEmbeddedDocument):
    title = TextField(trim=True)
    said = TextField(db_field="words", trim=True)  # a field _from_son renames


@pytest.mark.parametrize("from_database", [True, False], ids=["loading", "given"])
def test_a_text_is_trimmed_when_given_and_kept_as_stored_when_loaded(from_database):
    # loading takes a stored text as it is without the field's to_python, inside
    # loading_from_database() only
    son = {"title": "  padded ", "words": "\ufeffsaid\t"}

    def load() -> Any:
        with loading_from_database() if from_database else contextlib.nullcontext():
            document = Titled._from_son(dict(son))
        return document._data["title"], document._data["said"]

    fast = load()
    with generic(Titled):
        slow = load()
    assert fast == slow == (("  padded ", "\ufeffsaid\t") if from_database else ("padded", "said"))


class Shifted(UTCDateTimeField):
    """A time field whose class converts in its own way (applied twice, it shifts twice)."""

    @staticmethod
    def _as_utc(value: Any) -> Any:
        if isinstance(value, datetime.datetime):
            return value + datetime.timedelta(hours=1)
        return value


class Shifting(RoleplayEmbeddedDocument):
    when = Shifted()


@pytest.mark.parametrize("how", ["built", "loaded"])
def test_a_field_class_converting_in_its_own_way_converts_as_mongoengine_does(how):
    # the fast paths skip a conversion that would give the value back only for the classes
    # whose conversions they know
    given = datetime.datetime(2024, 5, 1, 12)

    def make() -> Any:
        if how == "built":
            return Shifting(when=given)._data["when"]
        with loading_from_database():
            return Shifting._from_son({"when": given})._data["when"]

    fast = make()
    with generic(Shifting):
        slow = make()
    assert fast == slow == given + datetime.timedelta(hours=2)


class ShiftedStamp(RoleplayDocument):
    meta = {"collection": "shifted_stamps_fast_paths"}
    when = Shifted()


def test_a_field_class_converting_in_its_own_way_is_api_json_as_its_encoding_gives():
    # the API JSON of a time skips the encoding's conversion to UTC only where it is the
    # package's own
    stamp = ShiftedStamp(when=datetime.datetime(2024, 5, 1, 12))
    fast = stamp.to_api_dict()
    with generic(ShiftedStamp):
        slow = stamp.to_api_dict()
    assert fast == slow  # the stored time's conversion applied once more, when encoded


@SAME_INPUTS
@given(st.lists(values_of(ConversationEntry), max_size=4), st.booleans())
def test_a_session_loads_and_encodes_its_turns_as_mongoengine_does(turns, read_history):
    # each turn has its id and time, so that no default makes the two runs differ
    fixed = {"id": ObjectId(), "timestamp": datetime.datetime(2024, 5, 1, 12, 1)}
    stored = {"_id": ObjectId(), "session_id": "session_x", "scenario_id": ObjectId(),
              "user_id": "rep", "start_time": datetime.datetime(2024, 5, 1, 12),
              "conversation_history": [
                  {ConversationEntry._fields[name].db_field: value
                   for name, value in (turn | fixed).items()}
                  for turn in turns]}

    def load() -> Any:
        session = RoleplaySession._from_son(stored)
        history = session.conversation_history if read_history else None
        return (session.to_mongo(), type(history), outcome(session.validate),
                session._data["conversation_history"] == session.conversation_history)

    fast = outcome(load)
    with generic(ConversationEntry):
        slow = outcome(load)
    assert fast == slow


def test_the_turns_read_from_a_loaded_session_are_a_tracked_list_searched_for_nothing(
        monkeypatch):
    stored = {"_id": ObjectId(), "session_id": "s", "scenario_id": ObjectId(), "user_id": "u",
              "conversation_history": [{"_id": ObjectId(), "role": "user", "text": "hi"}]}
    session = RoleplaySession._from_son(stored)

    def search(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("plain turns hold no references to look for")

    monkeypatch.setattr(DeReference, "__call__", search)
    history = session.conversation_history
    assert isinstance(history, BaseList) and history._dereferenced
    history[0].text = "changed"
    assert session._get_changed_fields() == ["conversation_history.0.text"]


def test_a_history_read_again_is_the_list_mongoengine_s_own_read_gives_back():
    stored = {"_id": ObjectId(), "session_id": "s", "scenario_id": ObjectId(), "user_id": "u",
              "conversation_history": [{"_id": ObjectId(), "role": "user", "text": "hi"}]}
    session = RoleplaySession._from_son(stored)
    field = RoleplaySession._fields["conversation_history"]
    first = session.conversation_history
    assert session.conversation_history is first
    assert ListField.__get__(field, session, RoleplaySession) is first  # mongoengine's read
    session.conversation_history = [ConversationEntry(role="user", text="new")]
    assigned = session.conversation_history
    assert assigned is not first and session.conversation_history is assigned
    assert ListField.__get__(field, session, RoleplaySession) is assigned
    session._data["conversation_history"] = None  # as while a document is built
    assert session.conversation_history is None
    assert ListField.__get__(field, session, RoleplaySession) is None


@pytest.mark.parametrize("read_as_bson", [False, True])
def test_a_loaded_history_is_the_list_mongoengine_s_first_read_makes_before_it_is_read(
        monkeypatch, read_as_bson):
    stored = {"_id": ObjectId(), "session_id": "s", "scenario_id": ObjectId(), "user_id": "u",
              "conversation_history": [
                  {"_id": ObjectId(), "role": role, "text": "hi",
                   "timestamp": datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)}
                  for role in ("user", "assistant")]}
    son = ReadDocument(bson.encode(stored), READ_AS_BSON) if read_as_bson else stored
    session = RoleplaySession._from_son(son)
    loaded = session._data["conversation_history"]
    assert type(loaded) is BaseList and loaded._dereferenced
    assert loaded._name == "conversation_history" and loaded._instance is weakref.proxy(session)
    assert all(turn._instance is loaded._instance for turn in loaded)

    def search(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the turns were looked at when loaded")

    monkeypatch.setattr(EmbeddedListField, "_nothing_to_dereference", search)
    monkeypatch.setattr(DeReference, "__call__", search)
    field = RoleplaySession._fields["conversation_history"]
    assert session.conversation_history is loaded
    assert ListField.__get__(field, session, RoleplaySession) is loaded  # mongoengine's read
    assert not any(map(is_built, loaded))
    loaded.append(ConversationEntry(role="user", text="more"))
    assert session._get_changed_fields() == ["conversation_history"]


def test_a_history_a_pre_init_receiver_changed_while_loading_is_read_as_mongoengine_reads_it():
    stored = {"_id": ObjectId(), "session_id": "s", "scenario_id": ObjectId(), "user_id": "u",
              "conversation_history": [
                  {"_id": ObjectId(), "role": "user", "text": "hi",
                   "timestamp": datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)}]}

    def add_one(sender: Any, document: Any, values: Any = None, **kwargs: Any) -> None:
        if values and values.get("conversation_history"):
            values["conversation_history"].append({"role": "user", "text": "added"})

    def load() -> Any:
        session = RoleplaySession._from_son(stored)
        history = session.conversation_history
        return [(type(turn).__name__, turn["text"]) for turn in history], history._dereferenced

    signals.pre_init.connect(add_one, sender=RoleplaySession)
    try:
        fast = outcome(load)
        with generic(RoleplaySession, ConversationEntry):
            slow = outcome(load)
    finally:
        signals.pre_init.disconnect(add_one, sender=RoleplaySession)
    assert fast == slow == ("ok", ([("ConversationEntry", "hi"), ("BaseDict", "added")], True))


def test_a_receiver_of_the_init_signals_sees_every_document_built():
    seen = []

    def shout(sender: Any, document: Any, values: Any = None, **kwargs: Any) -> None:
        if values is not None and "text" in values:
            values["text"] = values["text"].upper()
        seen.append(type(document).__name__)

    signals.pre_init.connect(shout, sender=ConversationEntry)
    signals.post_init.connect(shout, sender=ConversationEntry)
    try:
        entry = ConversationEntry(role="user", text="hello")
        loaded = ConversationEntry._from_son({"role": "user", "text": "stored"})
    finally:
        signals.pre_init.disconnect(shout, sender=ConversationEntry)
        signals.post_init.disconnect(shout, sender=ConversationEntry)
    assert (entry.text, loaded.text) == ("HELLO", "STORED")
    assert seen == ["ConversationEntry"] * 4


def test_the_models_and_their_embedded_documents_take_the_fast_paths():
    assert all(layout_of(cls).plain for cls in EMBEDDED)
    assert all(layout_of(model) is not None for model in MODELS)
    # lists and references: loaded, validated and encoded by mongoengine's code
    assert not layout_of(RoleplaySession).plain


class NotedEntry(RoleplayEmbeddedDocument):
    _created = False  # a class attribute hiding mongoengine's slot
    text = TextField()


class ReslottedEntry(RoleplayEmbeddedDocument):
    __slots__ = ("_instance",)  # a slot of its own hiding mongoengine's
    text = TextField()


@pytest.mark.parametrize("cls", [NotedEntry, ReslottedEntry])
def test_a_class_redefining_a_slot_of_a_documents_state_is_built_by_mongoengine(cls):
    assert layout_of(cls) is None
    built = cls(text="a")
    assert (built._created, built._instance, built.text) == (True, None, "a")


def test_a_default_changed_after_the_first_document_is_used(monkeypatch):
    ConversationEntry(role="user", text="t")  # the class's layout is worked out
    fixed = datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.timezone.utc)
    monkeypatch.setattr(ConversationEntry._fields["timestamp"], "default", lambda: fixed)
    assert ConversationEntry(role="user", text="t").timestamp == fixed
    assert ConversationEntry._from_son({"role": "user", "text": "t"}).timestamp == fixed


def test_a_subclass_with_its_own_encoding_is_encoded_by_it():
    class LoudEntry(RoleplayEmbeddedDocument):
        text = TextField()

        def to_mongo(self, *args: Any, **kwargs: Any) -> Any:
            son = super().to_mongo(*args, **kwargs)
            son["text"] = son["text"].upper()
            return son

    assert not layout_of(LoudEntry).plain
    field = EmbeddedListField(LoudEntry)
    assert field.to_mongo([LoudEntry(text="hi")])[0]["text"] == "HI"


@pytest.mark.parametrize("cls", EMBEDDED)
def test_encoding_gives_mongoengines_son_with_keys_in_its_order(cls):
    values = {name: "x" for name, field in cls._fields.items() if field.__class__.__name__
              == "TextField"}
    document = cls(**values)
    fast = document.to_mongo()
    with generic(cls):
        slow = document.to_mongo()
    assert isinstance(fast, SON) and list(fast.items()) == list(slow.items())


@pytest.mark.parametrize("keys_apart", [True, False])
def test_a_son_built_in_c_is_the_son_pymongo_builds(monkeypatch, keys_apart):
    monkeypatch.setattr(stored_bson, "_SON_KEYS_APART", keys_apart)
    items = {"b": 1, "_id": ObjectId(), "a": [SON(x=1)], "c": None}
    built, expected = son_of(items), SON(items)
    assert type(built) is SON and list(built) == list(expected) == list(items)
    assert repr(built) == repr(expected) and built.to_dict() == expected.to_dict()
    assert bson.encode(built) == bson.encode(expected)
    for son in (built, expected):  # its own list of keys goes on being kept
        del son["b"]
        son["d"] = 4
    assert list(built.items()) == list(expected.items())
    assert stored_bson._son_keys_list_is_kept_apart()


def test_a_datetime_is_stored_as_aware_utc_through_the_fast_path():
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    entry = ConversationEntry(role="user", text="t",
                              timestamp=datetime.datetime(2024, 5, 1, 14, tzinfo=plus_two))
    assert entry.timestamp == datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.timezone.utc)
    assert entry.timestamp.tzinfo is datetime.timezone.utc


FIRST_USES = ("read", "to_mongo", "api", "delta", "changed", "validate", "change", "compare",
              "nothing")
STORED_EXTRA = st.dictionaries(st.sampled_from(["__v", "pk", "_cls", "id"]),
                               st.one_of(st.integers(), st.text(max_size=3)), max_size=1)


def stored_session(turns: list[dict[str, Any]], extras: list[dict[str, Any]]) -> dict[str, Any]:
    """A stored session holding ``turns`` (by field name), each with an id and a time (so
    that no default makes two loads differ), and the turns' ``extras`` keys."""
    fixed = {"id": ObjectId(), "timestamp": datetime.datetime(2024, 5, 1, 12, 1)}
    history = []
    for turn, extra in zip(turns, (extras + [{}] * len(turns))[:len(turns)], strict=True):
        stored = {ConversationEntry._fields[name].db_field: value
                  for name, value in (turn | {name: value for name, value in fixed.items()
                                          if turn.get(name) is None}).items()}
        history.append(stored | extra)
    return {"_id": ObjectId(), "session_id": "session_x", "scenario_id": ObjectId(),
            "user_id": "rep", "start_time": datetime.datetime(2024, 5, 1, 12),
            "conversation_history": history}


def everything(session: Any, first: str) -> list[Any]:
    """What a loaded session gives, its history used first by ``first``, then every way."""
    seen: list[Any] = []
    uses = {
        "read": lambda: [outcome(partial(turn_state, entry)) for entry in
                         session.conversation_history],
        "to_mongo": lambda: session.to_mongo(),
        "api": lambda: outcome(session.to_api_dict),
        "delta": lambda: session._delta(),
        "changed": lambda: session._get_changed_fields(),
        "validate": lambda: outcome(session.validate),
        "change": lambda: outcome(lambda: setattr(session.conversation_history[-1], "text",
                                                  "changed")),
        "compare": lambda: session._data["conversation_history"] == session.conversation_history,
        "nothing": lambda: None,
    }
    for use in (first, *uses):
        seen.append((use, outcome(uses[use])))
    seen.append(("instances", [entry._instance == session
                               for entry in session.conversation_history]))
    return seen


# turns, keys another program stored in them, the first use of the history, whether its last
# turn is read before that
HISTORIES = given(st.lists(values_of(ConversationEntry), max_size=4),
                  st.lists(STORED_EXTRA, max_size=2), st.sampled_from(FIRST_USES), st.booleans())


def loaded_and_used(son: Any, first: str, read_last: bool) -> list[Any]:
    """``everything`` of the session loaded from ``son``, its last turn read first or not."""
    session = RoleplaySession._from_son(son)
    if read_last and session.conversation_history:  # one turn built, the others not
        outcome(lambda: session.conversation_history[-1].text)
    return everything(session, first)


def turn_state(entry: Any) -> dict[str, Any]:
    """What a turn holds (``state``), its document (gone once the test's load returns) left
    out; ``everything`` compares it apart."""
    return {key: value for key, value in state(entry, {}).items() if key != "instance"}


@SAME_INPUTS
@HISTORIES
def test_a_history_built_when_used_gives_what_building_it_when_loaded_gives(
        turns, extras, first, read_last):
    stored = stored_session(turns, extras)

    def load() -> Any:
        return loaded_and_used(stored, first, read_last)

    fast = outcome(load)
    with generic(ConversationEntry):
        slow = outcome(load)
    assert fast == slow


def test_a_loaded_history_builds_each_turn_when_it_is_first_used():
    stored = stored_session([{"role": "user", "text": "a"}, {"role": "assistant", "text": "b"}],
                            [])
    session = RoleplaySession._from_son(stored)
    turns = session._data["conversation_history"]
    assert not any(is_built(turn) for turn in turns)
    assert session._get_changed_fields() == [] and session._delta() == ({}, {})
    session = RoleplaySession._from_son(stored)
    assert session.conversation_history[-1].text == "b"
    assert [is_built(turn) for turn in session.conversation_history] == [False, True]
    assert session.conversation_history[0]._instance == session  # pointed at it unbuilt
    assert session.conversation_history[0].role == "user"
    assert session.conversation_history[0]._instance == session  # and still once built


@pytest.mark.parametrize("as_bson", [False, True], ids=["dict", "RawBSONDocument"])
def test_api_json_of_a_loaded_history_is_written_from_what_was_stored(as_bson):
    stored = stored_session([{"role": "user", "text": "a"}, {"role": "assistant", "text": "b"}],
                            [])
    stored["conversation_history"][1]["_id"] = "6B0C5877239D959DF3A1139D"  # parsed when built
    session = RoleplaySession._from_son(read_as_bson(stored) if as_bson else stored)
    shown = session.to_api_dict()["conversation_history"]
    assert [is_built(turn) for turn in session._data["conversation_history"]] == [False, True]
    assert [turn["id"] for turn in shown] == [str(stored["conversation_history"][0]["_id"]),
                                              "6b0c5877239d959df3a1139d"]
    assert [turn["timestamp"] for turn in shown] == ["2024-05-01T12:01:00.000Z"] * 2


def test_a_turn_holding_a_code_with_its_scope_is_api_json_as_once_built():
    stored = stored_session([{"role": "user", "text": Code("x", {"a": 1})}], [])
    shown = RoleplaySession._from_son(read_as_bson(stored)).to_api_dict()
    session = RoleplaySession._from_son(read_as_bson(stored))
    assert session.conversation_history[0].text.scope == {"a": 1}  # built
    built = session.to_api_dict()
    assert shown == built and type(shown["conversation_history"][0]["text"].scope) is dict


class LowerText(TextField):
    def assigned(self, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class Word(RoleplayEmbeddedDocument):
    said = LowerText()


class Words(RoleplayDocument):
    meta = {"collection": "words_fast_paths"}
    words = EmbeddedListField(Word)


def test_a_field_of_a_subclass_is_api_json_as_its_document_once_built():
    stored = {"_id": ObjectId(), "words": [{"said": "HeLLo"}]}
    shown = Words._from_son(stored).to_api_dict()
    words = Words._from_son(stored)
    assert words.words[0].said == "hello"  # built
    assert shown == words.to_api_dict() and shown["words"] == [{"said": "hello"}]


@pytest.mark.parametrize("change", [
    pytest.param(lambda turn: turn.pop("_id"), id="an id made when built"),
    pytest.param(lambda turn: turn.pop("timestamp"), id="a time taken when built"),
    pytest.param(lambda turn: turn.update(timestamp=None), id="a time taken for None"),
    pytest.param(lambda turn: turn.update(__v=0), id="a key no field takes"),
    pytest.param(lambda turn: turn.update(text={"$ref": "x", "$id": 1}), id="a reference-like"),
])
def test_a_history_that_building_later_could_change_is_built_when_loaded(change):
    stored = stored_session([{"role": "user", "text": "a"}], [])
    change(stored["conversation_history"][0])
    session = RoleplaySession._from_son(stored)
    assert is_built(session._data["conversation_history"][0])


def read_as_bson(stored: dict[str, Any]) -> RawBSONDocument:
    """``stored`` as a QuerySet reads it (see ``RoleplayDocument.reads_stored_bson``)."""
    return bson.decode(bson.encode(stored), READ_AS_BSON)


@SAME_INPUTS
@HISTORIES
def test_a_session_read_as_bson_gives_what_mongoengine_gives_for_it_decoded(
        turns, extras, first, read_last):
    stored = stored_session(turns, extras)
    encoded = outcome(lambda: bson.encode(stored))
    assume(encoded[0] == "ok")  # what BSON can hold (not an integer of 65 bits, say)
    # each load decodes its own NaN, which is equal to no other
    assume(all(value == value for turn in turns for value in turn.values()))
    decoded = bson.decode(encoded[1], READ_AS_BSON.with_options(document_class=dict))

    fast = outcome(lambda: loaded_and_used(read_as_bson(stored), first, read_last))
    with generic(RoleplaySession, ConversationEntry, SessionMetadata):
        slow = outcome(lambda: loaded_and_used(decoded, first, read_last))
    assert fast == slow


def test_a_session_read_as_bson_decodes_each_turn_when_it_is_first_used():
    stored = stored_session([{"role": "user", "text": "a"}, {"role": "assistant", "text": "b"}],
                            [{"pk": 1}])  # a key mongoengine's own code loads
    session = RoleplaySession._from_son(read_as_bson(stored))
    turns = session._data["conversation_history"]
    assert [type(turn.__dict__.get("_fast_stored_son")) for turn in turns] == [ReadDocument] * 2
    assert session.conversation_history[-1].text == "b"
    assert session.conversation_history[0].role == "user"  # built by mongoengine, taken over
    assert [is_built(turn) for turn in turns] == [True, True]
    assert [turn._instance == session for turn in turns] == [True, True]
    assert session._get_changed_fields() == [] and session._delta() == ({}, {})


@pytest.mark.parametrize("change", [
    pytest.param(lambda turn: turn.update(text={"$ref": "x", "$id": 1}), id="a reference"),
    pytest.param(lambda turn: turn.update(text={"_ref": 1, "_cls": "x"}), id="mongoengine's"),
    pytest.param(lambda turn: turn.update(_cls="ConversationEntry"), id="a class name"),
])
def test_a_session_read_as_bson_holding_a_reference_is_decoded_whole(change):
    stored = stored_session([{"role": "user", "text": "a"}], [])
    change(stored["conversation_history"][0])
    session = RoleplaySession._from_son(read_as_bson(stored))
    assert is_built(session._data["conversation_history"][0])


def test_a_turn_read_as_bson_without_an_id_or_a_time_gets_them_when_first_used():
    stored = stored_session([{"role": "user", "text": "a"}], [])
    del stored["conversation_history"][0]["_id"], stored["conversation_history"][0]["timestamp"]
    session = RoleplaySession._from_son(read_as_bson(stored))
    before = utc_now()
    turn = session.conversation_history[0]
    assert isinstance(turn.id, ObjectId) and turn.timestamp >= before  # made now, as stored
    assert session._get_changed_fields() == []  # and not written by a save


def test_checking_encoding_and_saving_a_history_leave_its_turns_pointed_as_mongoengine_does():
    def pointed_after_use() -> list[bool]:
        session = RoleplaySession(session_id="s", user_id="u", scenario=ObjectId())
        turns = [ConversationEntry(role="user", text=str(n)) for n in range(2)]
        session.conversation_history.extend(turns)  # BaseList.extend points none of them
        session.validate()
        session.to_mongo()
        session._forget_changes()
        return [turn._instance is not None for turn in turns]

    fast = pointed_after_use()
    with generic(RoleplaySession, ConversationEntry):
        assert fast == pointed_after_use() == [False, False]


def test_a_history_loaded_outside_the_database_is_built_when_given():
    history = stored_session([{"role": "user", "text": "a"}], [])["conversation_history"]
    session = RoleplaySession(session_id="s", user_id="u",
                              conversation_history=history)
    turn = session._data["conversation_history"][0]
    assert is_built(turn) and turn.text == "a"  # given by the program: built as given


def test_a_receiver_of_the_init_signals_sees_each_turn_when_the_session_is_loaded():
    seen = []

    def count(sender: Any, document: Any, **kwargs: Any) -> None:
        seen.append(type(document).__name__)

    stored = stored_session([{"role": "user", "text": "a"}], [])
    signals.post_init.connect(count, sender=ConversationEntry)
    try:
        RoleplaySession._from_son(stored)
    finally:
        signals.post_init.disconnect(count, sender=ConversationEntry)
    assert seen == ["ConversationEntry"]


def test_a_read_document_holds_what_pymongo_s_raw_document_holds():
    stored = stored_session([{"role": "user", "text": "a"}], [])
    data = bson.encode(stored)
    read, theirs = bson.decode(data, READ_AS_BSON), RawBSONDocument(data, READ_AS_BSON)
    assert type(read) is ReadDocument and read.raw == theirs.raw == data
    assert dict(read.items()) == dict(theirs.items())
    assert type(read["conversation_history"][0]) is ReadDocument
    with pytest.raises(TypeError):  # built by a program: pymongo's checks
        ReadDocument(data, CodecOptions())
    assert ReadDocument(data).raw == data


def test_turns_decoded_for_json_are_decoded_together_with_their_times_in_utc():
    stored = stored_session([{"role": "user", "text": "a"}, {"role": "assistant", "text": "b"}],
                            [])
    turns = bson.decode(bson.encode(stored), READ_AS_BSON)["conversation_history"]
    together = decoded_for_json(turns)
    assert together is not None
    assert [turn["timestamp"].tzinfo for turn in together] == [None, None]  # pymongo's quicker
    assert together == [{**decoded(turn), "timestamp": decoded(turn)["timestamp"].replace(
        tzinfo=None)} for turn in turns]
    naive = reading_codec(CodecOptions())  # times read without a zone
    other = ReadDocument(bson.encode(stored["conversation_history"][1]), naive)
    assert decoded(other)["timestamp"].tzinfo is None
    assert decoded_for_json([turns[0], other]) is None  # not decoded alike: each by itself


def test_turns_read_in_another_zone_are_decoded_for_json_in_it():
    # moving a time to the zone can fail near the ends of the range: it is left to fail alike
    zone = datetime.timezone(datetime.timedelta(hours=5))
    stored = stored_session([{"role": "user", "text": "a"}, {"role": "assistant", "text": "b"}],
                            [])
    options = reading_codec(CodecOptions(tz_aware=True, tzinfo=zone))
    turns = bson.decode(bson.encode(stored), options)["conversation_history"]
    assert decoded_for_json(turns) == [decoded(turn) for turn in turns]
    assert decoded_for_json(turns)[0]["timestamp"].tzinfo is zone


class TimeAsText(TypeDecoder):
    bson_type = datetime.datetime

    def transform_bson(self, value: Any) -> Any:
        return value.isoformat()


def test_turns_read_with_a_type_codec_are_decoded_for_json_as_read():
    # a codec may decode a time into anything: the times keep their zone for it
    stored = stored_session([{"role": "user", "text": "a"}, {"role": "assistant", "text": "b"}],
                            [])
    options = READ_AS_BSON.with_options(type_registry=TypeRegistry([TimeAsText()]))
    turns = bson.decode(bson.encode(stored), options)["conversation_history"]
    assert decoded_for_json(turns) == [decoded(turn) for turn in turns]
    assert decoded_for_json(turns)[0]["timestamp"] == "2024-05-01T12:01:00+00:00"


@pytest.mark.parametrize("text", [datetime.datetime(2024, 5, 1, 12, 2),
                                  [datetime.datetime(2024, 5, 1, 12, 2)], Int64(7)],
                         ids=["time", "list of a time", "Int64"])
def test_a_value_of_a_turn_read_as_bson_that_is_no_text_is_api_json_as_once_built(text):
    # the turns' times are decoded without their zone for API JSON: a time shown as it is
    # must still have its zone
    stored = stored_session([{"role": "user", "text": text}, {"role": "assistant", "text": "b"}],
                            [])
    shown = RoleplaySession._from_son(read_as_bson(stored)).to_api_dict()
    session = RoleplaySession._from_son(read_as_bson(stored))
    assert session.conversation_history[0].text is not None  # built
    assert shown == session.to_api_dict()
    assert shown["conversation_history"][0]["text"] == session.conversation_history[0].text
    if isinstance(text, datetime.datetime):
        assert shown["conversation_history"][0]["text"].tzinfo is not None


@pytest.mark.parametrize("place", ["reference", "metadata", "turn"])
def test_a_session_read_as_bson_holding_a_dbref_loads_it_as_pymongo_decodes_it(place):
    ref = DBRef("scenarios", ObjectId())
    stored = stored_session([{"role": "user", "text": "a"}], [])
    if place == "reference":
        stored["scenario_id"] = ref
    elif place == "metadata":
        stored["metadata"] = {"ip_address": "10.0.0.1", "origin": ref}
    else:
        stored["conversation_history"][0]["origin"] = ref
    data = bson.encode(stored)
    read = RoleplaySession._from_son(bson.decode(data, READ_AS_BSON))
    as_dicts = RoleplaySession._from_son(
        bson.decode(data, READ_AS_BSON.with_options(document_class=dict)))
    assert read._data["scenario"] == as_dicts._data["scenario"]
    assert read.to_mongo() == as_dicts.to_mongo()
    assert ref in [read._data["scenario"], read.metadata._data.get("origin"),
                   read.conversation_history[0]._data.get("origin")]


def test_a_turn_read_as_bson_that_cannot_be_decoded_fails_each_time_it_is_used():
    stored = stored_session([{"role": "user", "text": "caf\u00e9"}], [])
    data = bytearray(bson.encode(stored))
    at = data.index("caf\u00e9".encode())
    data[at + 3:at + 5] = b"\xff\xfe"  # no longer UTF-8
    session = RoleplaySession._from_son(bson.decode(bytes(data), READ_AS_BSON))
    turn = session._data["conversation_history"][0]
    first, again = (outcome(lambda: turn.text) for _ in range(2))
    assert first[0] == again[0] == "InvalidBSON"  # not left half built by the first failure
    assert not is_built(turn)


@pytest.mark.parametrize("key", ["_created", "__auto_convert", "_cls"])
def test_a_session_read_as_bson_with_a_key_mongoengine_refuses_fails_as_it_does(key):
    stored = stored_session([{"role": "user", "text": "a"}], [{key: "x"}])
    data = bson.encode(stored)
    expected = outcome(lambda: RoleplaySession._from_son(
        bson.decode(data, READ_AS_BSON.with_options(document_class=dict))).to_mongo())
    assert outcome(lambda: RoleplaySession._from_son(
        bson.decode(data, READ_AS_BSON)).to_mongo()) == expected


def test_a_turn_whose_building_fails_midway_is_left_unbuilt(monkeypatch):
    stored = stored_session([{"role": "user", "text": "hello"}], [])
    session = RoleplaySession._from_son(read_as_bson(stored))
    turn = session._data["conversation_history"][0]
    to_python = UTCDateTimeField.to_python

    def refusing(field: Any, value: Any) -> Any:  # the time, stored after the role and text
        raise ValueError("refused")

    monkeypatch.setattr(UTCDateTimeField, "to_python", refusing)
    first, again = (outcome(lambda: turn.text) for _ in range(2))
    assert first[0] == again[0] == "InvalidDocumentError" and not is_built(turn)
    monkeypatch.setattr(UTCDateTimeField, "to_python", to_python)
    assert turn.text == "hello" and turn.role == "user" and is_built(turn)


@pytest.mark.parametrize("read", [dict, read_as_bson], ids=["dict", "bson"])
def test_a_turn_read_by_another_thread_while_it_is_being_built_is_never_half_built(
    monkeypatch, read
):
    stored = stored_session([{"role": "user", "text": "hello"}], [])
    session = RoleplaySession._from_son(read(stored))
    turn = session._data["conversation_history"][0]
    expected = stored["conversation_history"][0]
    paused, resume = threading.Event(), threading.Event()
    to_python = UTCDateTimeField.to_python

    def pausing(field: Any, value: Any) -> Any:  # the builder stops midway, at the time
        if threading.current_thread() is builder:
            paused.set()
            resume.wait(10)
        return to_python(field, value)

    monkeypatch.setattr(UTCDateTimeField, "to_python", pausing)
    builder = threading.Thread(target=lambda: turn.role)
    builder.start()
    assert paused.wait(10)
    seen = (turn.id, turn.role, turn.text, turn.timestamp)  # while the other is midway
    turn.text = "edited"  # and changed before the other's build ends
    resume.set()
    builder.join(10)
    when = expected["timestamp"].replace(tzinfo=datetime.timezone.utc)
    assert seen == (expected["_id"], "user", "hello", when)
    assert is_built(turn) and turn._instance == session
    assert turn.text == "edited" and turn._changed_fields == ["text"]


@pytest.mark.parametrize("read", [dict, read_as_bson], ids=["dict", "bson"])
def test_a_turn_another_thread_builds_while_this_one_looks_it_up_is_read(monkeypatch, read):
    stored = stored_session([{"role": "user", "text": "hello"}], [])
    session = RoleplaySession._from_son(read(stored))
    turn = session._data["conversation_history"][0]
    looking = threading.current_thread()
    checked = fast_paths.is_built

    def built_meanwhile(document: Any) -> bool:
        # this thread's lookup of the turn's data failed (not built); before it asks
        # whether the turn is built, another thread builds it
        if document is turn and threading.current_thread() is looking:
            other = threading.Thread(target=lambda: fast_paths.build_loaded(turn))
            other.start()
            other.join(10)
        return checked(document)

    monkeypatch.setattr(fast_paths, "is_built", built_meanwhile)
    assert turn.text == "hello"
    monkeypatch.setattr(fast_paths, "is_built", checked)
    assert is_built(turn) and turn.role == "user" and turn._changed_fields == []


class Checked(RoleplayDocument):
    """A model whose fields' checks a program changes after its first use."""

    meta = {"collection": "checked_fast_paths"}
    n = NumberField()
    flag = StrictBooleanField()
    oid = ObjectIdField()


class Positive(IntField):
    def _validate(self, value: Any, **kwargs: Any) -> None:  # a check of the field's class
        if value < 0:
            self.error("negative")
        super()._validate(value, **kwargs)


class WithPositive(RoleplayDocument):
    meta = {"collection": "positive_fast_paths"}
    n = Positive()


def refuse(*args: Any) -> None:
    raise ValidationError("refused")


def undone_after(monkeypatch: pytest.MonkeyPatch, cls: Any) -> None:
    """Each change a test makes to the checks of ``cls`` is undone after it."""
    monkeypatch.setattr(cls, "clean", cls.clean)
    for field in cls._fields.values():
        for option in ("choices", "validation", "required"):
            monkeypatch.setattr(field, option, getattr(field, option))


def validated_both_ways(document: Any, *classes: type) -> tuple[Any, Any]:
    """The outcome of ``document.validate()`` through the fast paths, then mongoengine's."""
    fast = outcome(document.validate)
    with generic(*classes):
        return fast, outcome(document.validate)


@pytest.mark.parametrize("change", [
    pytest.param(lambda: setattr(Checked._fields["n"], "choices", [1, 2]), id="choices"),
    pytest.param(lambda: setattr(Checked._fields["flag"], "choices", [False]),
                 id="choices of a bool"),
    pytest.param(lambda: setattr(Checked._fields["oid"], "validation", refuse),
                 id="a validation callable"),
    pytest.param(lambda: setattr(Checked, "clean", refuse), id="a clean()"),
])
def test_checks_changed_after_the_first_use_apply_as_mongoengine_applies_them(
    monkeypatch, change
):
    document = Checked(n=5, flag=True, oid=ObjectId())
    document.validate()  # the class's layout is worked out
    undone_after(monkeypatch, Checked)
    change()
    fast, slow = validated_both_ways(document, Checked)
    assert fast == slow and fast[0] == "ValidationError"


class CheckedItem(RoleplayEmbeddedDocument):
    """An embedded class whose fields' checks a program changes after its first use."""

    n = NumberField()
    flag = StrictBooleanField()


class CheckedItems(RoleplayDocument):
    meta = {"collection": "checked_items_fast_paths"}
    items = EmbeddedListField(CheckedItem)


@pytest.mark.parametrize("name,option,value", [
    ("n", "choices", [1, 2]), ("flag", "validation", refuse), ("flag", "required", True),
    (None, "clean", refuse),  # the class's own
], ids=["choices", "a validation callable", "required", "a clean()"])
def test_checks_of_a_list_s_documents_changed_after_their_first_use_apply_to_every_one(
    monkeypatch, name, option, value
):
    document = CheckedItems(items=[CheckedItem(n=1, flag=True), CheckedItem(n=5)])
    document.validate()  # the classes' layouts are worked out
    assert layout_of(CheckedItem).plain  # the list's documents are checked by the fast paths
    undone_after(monkeypatch, CheckedItem)
    setattr(CheckedItem if name is None else CheckedItem._fields[name], option, value)
    fast, slow = validated_both_ways(document, CheckedItems, CheckedItem)
    assert fast == slow and fast[0] == "ValidationError"


def test_a_field_class_with_its_own_validate_steps_is_checked_by_them():
    document = WithPositive(n=-1)
    fast = outcome(document.validate)
    with generic(WithPositive):
        slow = outcome(document.validate)
    assert fast == slow and "negative" in fast[1]


class OwnEncoding(RoleplayDocument):
    meta = {"collection": "own_encoding_fast_paths"}
    n = NumberField()

    def to_mongo(self, *args: Any, **kwargs: Any) -> Any:  # expects mongoengine's SON
        son = super().to_mongo(*args, **kwargs)
        assert isinstance(son, SON)
        return son


def test_a_subclass_with_its_own_encoding_gets_son_also_where_dicts_are_sent(embedded):
    OwnEncoding.objects.insert([OwnEncoding(n=1), OwnEncoding(n=2)])
    assert OwnEncoding(n=3).to_api_dict()["n"] == 3
    assert sorted(OwnEncoding.objects.scalar("n")) == [1, 2]


class WrappedEncoding(RoleplayDocument):
    meta = {"collection": "wrapped_encoding_fast_paths"}
    n = NumberField()

    @functools.wraps(RoleplayDocument.to_mongo)  # copies the marks of the method it wraps
    def to_mongo(self, *args: Any, **kwargs: Any) -> Any:
        son = super().to_mongo(*args, **kwargs)
        son["n"] = son["n"] * 10
        return son


def test_api_json_of_a_subclass_whose_encoding_wraps_the_packages_comes_from_that_encoding():
    assert WrappedEncoding(n=3).to_api_dict()["n"] == 30


def test_api_json_of_a_document_two_of_whose_values_fail_to_encode_raises_the_encodings_error():
    unsaved = Scenario(scenario_id="u", title="t", description="d", llm_prompt="p")
    session = RoleplaySession(session_id="s", user_id="u", scenario=unsaved, id="not an id")
    fast = outcome(session.to_api_dict)
    with generic(RoleplaySession, *EMBEDDED):
        slow = outcome(session.to_api_dict)
    assert fast == slow and fast[0] != "ok"


class Noted(RoleplayDocument):
    scenario = ReferenceField(Scenario)  # its JSON does not populate it
    meta = {"collection": "noted_fast_paths"}


class Unshown(RoleplayDocument):
    label = TextField()
    api_hidden = ("id", "label")
    meta = {"collection": "unshown_fast_paths"}


class PointsAtUnshown(RoleplayDocument):
    unshown = ReferenceField(Unshown)
    api_references = {"unshown": ("label",)}  # a small dict that shows nothing
    meta = {"collection": "points_at_unshown_fast_paths"}


def test_api_json_of_a_reference_not_populated_is_the_id_of_the_document_it_holds():
    assert Noted(scenario=SCENARIO).to_api_dict()["scenario"] == str(SCENARIO.pk)


def test_api_json_of_a_reference_whose_small_dict_is_empty_is_the_id_of_its_document():
    unshown = Unshown(label="l", id=ObjectId())
    assert PointsAtUnshown(unshown=unshown).to_api_dict()["unshown"] == str(unshown.pk)


class Pointer(RoleplayDocument):
    scenario = ReferenceField(Scenario)
    api_references = {"scenario": ("title",)}
    meta = {"collection": "pointer_fast_paths"}


class PointsAtPointer(RoleplayDocument):
    pointer = ReferenceField(Pointer)
    api_references = {"pointer": ("scenario",)}  # shown in a small dict, not populated
    meta = {"collection": "points_at_pointer_fast_paths"}


def test_api_json_of_a_reference_in_a_small_dict_is_the_id_of_the_document_it_holds():
    pointer = Pointer(scenario=SCENARIO, id=ObjectId())
    assert PointsAtPointer(pointer=pointer).to_api_dict()["pointer"] == {
        "id": str(pointer.pk), "scenario": str(SCENARIO.pk)}
    assert pointer.to_api_dict()["scenario"] == {"id": str(SCENARIO.pk), "title": "t"}


def test_api_json_of_a_reference_to_a_document_not_saved_raises_the_encodings_error():
    with pytest.raises(ValidationError, match="once they have been saved"):
        Pointer(scenario=UNSAVED).to_api_dict()


def test_api_json_of_a_reference_to_a_document_with_a_hex_string_id_is_that_id():
    # the encoding gives the id as an ObjectId, which the populated dicts are not found by
    assert Pointer(scenario=HEX_ID).to_api_dict()["scenario"] == HEX_ID.pk


class AbstractTarget(RoleplayDocument):
    label = TextField()
    meta = {"abstract": True}


class ConcreteTarget(AbstractTarget):
    meta = {"collection": "concrete_targets_fast_paths"}


class PointsElsewhere(RoleplayDocument):
    abstract = ReferenceField(AbstractTarget)  # encoded as a DBRef naming the class
    later = ReferenceField("NotDefinedYet")  # a class not defined (yet)
    by_dbref = ReferenceField(Scenario, dbref=True)
    api_references = {"abstract": ("label",), "by_dbref": ("title",)}
    meta = {"collection": "points_elsewhere_fast_paths"}


def test_api_json_of_references_to_an_abstract_class_or_one_not_defined_or_stored_as_dbrefs():
    assert {key: value for key, value in PointsElsewhere().to_api_dict().items()
            if key in ("abstract", "later", "by_dbref")} == {
        "abstract": None, "later": None, "by_dbref": None}
    target = ConcreteTarget(label="l", id=ObjectId())
    shown = PointsElsewhere(abstract=target, by_dbref=SCENARIO).to_api_dict()
    with generic(PointsElsewhere, ConcreteTarget, Scenario):
        assert PointsElsewhere(abstract=target, by_dbref=SCENARIO).to_api_dict() == shown
    assert shown["by_dbref"] == {"id": str(SCENARIO.pk), "title": "t"}


@pytest.mark.parametrize(("model", "name"), [
    (RoleplaySession, "scenario"), (RoleplaySession, "character"),
    (SessionAnalytics, "scenario")])
def test_a_models_populated_reference_is_written_straight_from_the_document_it_holds(
        model, name):
    # the quicker way (api.py's _shown_directly) holds for the package's own ReferenceField,
    # whose to_mongo writes a null it was given as null and hands the rest to mongoengine's
    shape = api_shape(model)
    written = {step.name: step for step in shape.public_fields or ()}
    assert written[name].shown_directly == (Scenario if name == "scenario" else Character, "id")


def test_api_json_of_a_tuple_of_turns_is_each_turns_dict():
    turn = ConversationEntry(role="user", text="Hello", timestamp=datetime.datetime(2024, 3, 1))
    shape = api_shape(ConversationEntry)
    assert shape.dump_list((turn,)) == shape.dump_list([turn]) == [shape.dump_document(turn)]


def test_api_json_of_an_unset_list_of_references_is_a_list_of_its_own():
    character = Character(name="n", role="r", personality="p", background="b")
    character._data["scenarios"] = None  # as a program may leave it
    character.to_api_dict()["scenario_ids"].append("changed by a caller")
    assert character.to_api_dict()["scenario_ids"] == []


class Remark(RoleplayEmbeddedDocument):
    ident = ObjectIdField(db_field="_id", null=True)
    words = TextField(db_field="said", null=True)
    tone = TextField(db_field="mood")


class Remarks(RoleplayDocument):
    meta = {"collection": "remarks_fast_paths"}
    remarks = EmbeddedListField(Remark)


@pytest.mark.parametrize("unmodelled", [{}, {"_id": ObjectId()}, {"mood": "kept"}])
def test_a_listed_document_missing_values_is_api_json_as_its_encoding_gives(unmodelled):
    # encoding leaves out the key of an unset field (an embedded document's "_id" even when
    # the field is nullable) and then writes an unmodelled key of that name, if held
    remark = Remark()
    remark._data.update(unmodelled)
    document = Remarks(remarks=[remark])
    assert layout_of(Remark).plain
    fast = document.to_api_dict()
    with generic(Remark, Remarks):
        slow = document.to_api_dict()
    assert fast == slow


class Mood(RoleplayDocument):
    meta = {"collection": "moods_fast_paths"}
    words = TextField(db_field="said")  # not null: an unset value's key is left out
    tone = TextField(db_field="mood", default="calm", null=True)  # None is written as None


@pytest.mark.parametrize("data", [
    pytest.param({"words": None, "tone": None}, id="a null field's None"),
    pytest.param({"words": None, "said": "kept"}, id="an unmodelled key of an unset field's name"),
    pytest.param({"words": "w", "tone": "t"}, id="both set"),
])
def test_a_documents_missing_values_are_api_json_as_its_encoding_gives(data):
    # (written by the function api_writers.fields_writer generates for the class)
    document = Mood()
    document._data.update(data)
    fast = document.to_api_dict()
    with generic(Mood):
        slow = document.to_api_dict()
    assert fast == slow


@pytest.mark.parametrize("private", [False, True])
def test_api_json_of_a_stored_document_missing_keys_shows_their_fields_defaults(private):
    # (written by the function api_writers.dict_writer generates for the class)
    pk = ObjectId()
    shown = api_shape(RoleplaySession).dump({"_id": pk, "session_id": "s"}, private=private)
    assert {key: shown[key] for key in ("id", "status", "total_duration", "voice_enabled",
                                        "conversation_history", "start_time")} == {
        "id": str(pk), "status": "active", "total_duration": 0, "voice_enabled": False,
        "conversation_history": [], "start_time": None}  # (a default made when built: None)
    assert ("metadata" in shown) is private


class Quiet(RoleplayEmbeddedDocument):
    said = TextField(default="quiet")
    words = TextField(db_field="spoken")


class QuietNotes(RoleplayDocument):
    meta = {"collection": "quiet_notes_fast_paths"}
    notes = EmbeddedListField(Quiet)


@pytest.mark.parametrize("as_bson", [False, True], ids=["dict", "RawBSONDocument"])
@pytest.mark.parametrize("note", [
    pytest.param({"said": None, "spoken": "a"}, id="a None its field's default replaces"),
    pytest.param({"said": "b", "words": "an attribute's name"}, id="a key loading renames"),
    pytest.param({"said": "c", "spoken": 3}, id="a number"),
])
def test_a_loaded_history_is_api_json_as_its_documents_once_built(as_bson, note):
    # a document whose stored values its class could show otherwise is built, not written
    # from what was stored (api_writers.stored_writer)
    stored = {"_id": ObjectId(), "notes": [{"said": "first", "spoken": "x"}, note]}
    loaded = QuietNotes._from_son(read_as_bson(stored) if as_bson else stored)
    shown = loaded.to_api_dict()
    built = QuietNotes._from_son(read_as_bson(stored) if as_bson else stored)
    assert [item.said for item in built.notes] and all(map(is_built, built.notes))
    assert shown == built.to_api_dict()


class OwnListEncoding(RoleplayDocument):
    meta = {"collection": "own_list_encoding_fast_paths"}
    turns = EmbeddedListField(ConversationEntry)

    def to_mongo(self, *args: Any, **kwargs: Any) -> Any:  # reads the turns it is given
        son = super().to_mongo(*args, **kwargs)
        son["turns"] = [{**turn, "text": turn["text"].upper()} for turn in son["turns"]]
        return son


class FirstTurnNoted(EmbeddedDocument):  # plain mongoengine, reading what it encodes
    turns = EmbeddedListField(ConversationEntry)

    def to_mongo(self, *args: Any, **kwargs: Any) -> Any:
        son = super().to_mongo(*args, **kwargs)
        son["first"] = son["turns"][0]["text"]
        return son


class ShoutedTurns(EmbeddedListField[ConversationEntry]):
    def to_mongo(self, *args: Any, **kwargs: Any) -> Any:
        return [{**turn, "text": turn["text"].upper()} for turn in super().to_mongo(*args, **kwargs)]


class HoldsNotedTurns(RoleplayDocument):
    meta = {"collection": "holds_noted_turns_fast_paths"}
    noted = EmbeddedDocumentField(FirstTurnNoted)
    by_topic = DictField(EmbeddedListField(ConversationEntry))
    shouted = ShoutedTurns(ConversationEntry)


def test_a_class_with_its_own_encoding_reads_encoded_turns_also_for_api_json():
    document = OwnListEncoding(turns=[ConversationEntry(role="user", text="hi")])
    assert [turn["text"] for turn in document.to_api_dict()["turns"]] == ["HI"]
    turns = [ConversationEntry(role="user", text="hi")]
    held = HoldsNotedTurns(noted=FirstTurnNoted(turns=turns), by_topic={"price": turns},
                           shouted=turns)
    shown = held.to_api_dict()
    assert shown["noted"]["turns"][0]["text"] == "hi" and shown["shouted"][0]["text"] == "HI"
    assert type(shown["by_topic"]["price"][0]) is dict  # encoded, as a dict field holds it


@pytest.mark.parametrize("changed", ["metadata", "turn", "both", "none"])
def test_clearing_a_saved_sessions_changes_leaves_what_mongoengines_clearing_leaves(
        monkeypatch, changed):
    # save() ends with forget_saved_changes(): the package's forgets every change at once
    def changed_then_cleared(forget: Any) -> list[Any]:
        monkeypatch.setattr(RoleplayDocument, "forget_saved_changes", forget)
        session = RoleplaySession._from_son({
            "_id": ObjectId(), "session_id": "s", "scenario_id": SCENARIO.pk, "user_id": "rep",
            "metadata": {"ip_address": "10.0.0.1"},
            "conversation_history": [{"_id": ObjectId(), "role": "user", "text": "hi"}]})
        if changed in ("metadata", "both"):
            session.metadata.ip_address = "10.0.0.2"
        if changed in ("turn", "both"):
            session.conversation_history[0].text = "hello"
        session.forget_saved_changes()
        return [session._get_changed_fields(), session.metadata._changed_fields,
                session.conversation_history[0]._changed_fields, session._delta()]

    ours = changed_then_cleared(RoleplayDocument.forget_saved_changes)
    assert ours == changed_then_cleared(BaseDocument._clear_changed_fields)
    assert ours[:3] == [[], [], []]


def test_each_encoding_ends_with_its_block_even_when_the_block_fails():
    session = RoleplaySession(session_id="session_1", user_id="rep", conversation_history=[
        ConversationEntry(role="user", text="Hello")])

    def encoded() -> tuple[type, type]:
        son = session.to_mongo()
        return type(son), type(son["conversation_history"][0])

    assert encoded() == (SON, SON)
    with encoding_as_dicts():
        assert encoded() == (dict, dict)
        with pytest.raises(RuntimeError, match="the block failed"):
            with encoding_for_api():
                assert encoded() == (dict, ConversationEntry)
                raise RuntimeError("the block failed")
        assert encoded() == (dict, dict)
    assert encoded() == (SON, SON)
    used = encoding_for_api()
    with used:
        with pytest.raises(RuntimeError, match="entered already"):
            with used:
                pass
        assert encoded() == (dict, ConversationEntry)  # the first block holds on
    assert encoded() == (SON, SON)
    with encoding_for_api():
        with encoding_as_dicts():
            assert encoded() == (dict, ConversationEntry)  # still for the API
    token = encoding_for_api_entered()
    assert encoded() == (dict, ConversationEntry)
    encoding_left(token)
    assert encoded() == (SON, SON)


class Tag(EmbeddedDocument):  # plain mongoengine: never loaded unbuilt
    name = StringField()


class Tagged(RoleplayDocument):
    meta = {"collection": "tagged_fast_paths"}
    tags = ListField(EmbeddedDocumentField(Tag))


def test_a_list_of_plain_mongoengine_documents_is_api_json_from_their_encoding():
    tags = [Tag(name="price"), Tag(name="timing")]
    assert api_shape(Tagged).dump({"tags": tags})["tags"] == [{"name": "price"},
                                                               {"name": "timing"}]
    assert Tagged(tags=tags).to_api_dict()["tags"] == [{"name": "price"}, {"name": "timing"}]
