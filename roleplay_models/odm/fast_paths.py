"""mongoengine's building, loading, validating and encoding of documents, at a fraction of its
cost and with its result.

A session holds up to a thousand turns, and mongoengine builds every document through
``BaseDocument.__init__`` and ``__setattr__``, which ask on every attribute whether the
document is dynamic, sharded or being given its id; none of that can apply while a
non-dynamic document is being built. So for the classes of this package ``__init__`` runs
the same steps straight through the fields' descriptors. An embedded document whose fields
are all plain (no lists, embedded documents, references or generated values) is also
loaded, validated and encoded here, and so is a list of them (:class:`EmbeddedListField`).
A list loaded from the database holds its documents unbuilt, each with the dict it was
stored as, and each is built, as loading would have built it, when first used (a session's
routes that only change its status never read its turns); only a list that building later
could give another result for is built when loaded (a value made when built, such as a
fresh id or the time, a key no field takes, a value that may be a reference). A list
loaded so is stored as the list mongoengine's first read makes (a ``BaseList`` searched for
references): its documents' stored values were looked at when it was loaded.
A QuerySet reads a document holding such a list as pymongo's RawBSONDocument
(``RoleplayDocument.reads_stored_bson``): its fields are decoded as pymongo would, but each
document of the list stays undecoded until first used (:func:`decode_read`), so a session
read for one turn decodes one turn. Its bytes are not looked at before then, so a turn
stored without its id or its time gets them when first used rather than when loaded (a
value made up either way, and not written by a save), and a turn pymongo cannot decode
(text that is not UTF-8) fails when used, each time, rather than when loaded; a document
holding anything building later could give another result for
(``ClassLayout.decoded_whole_when``) is decoded whole.
Any case these functions do not cover goes to mongoengine's own code; so does any value that
a field refuses, so that its errors are mongoengine's, word for word. The mongoengine
internals these steps stand on are reached through :mod:`._mongoengine`, which checks them
when imported. ``tests/unit/test_fast_paths.py`` compares the two on generated input.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import re
import threading
import weakref
from collections.abc import Callable, Mapping, MutableMapping, Set
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import partial
from itertools import chain, compress, repeat
from operator import attrgetter, is_, is_not, itemgetter, methodcaller
from typing import TYPE_CHECKING, Any, TypeVar, overload

from bson import DBRef, ObjectId
from bson.raw_bson import RawBSONDocument
from mongoengine import EmbeddedDocument, ValidationError, signals
from mongoengine.base import BaseDocument, BaseField, BaseList, ComplexBaseField
from mongoengine.fields import (
    CachedReferenceField,
    EmbeddedDocumentField,
    FileField,
    GenericEmbeddedDocumentField,
    GenericLazyReferenceField,
    GenericReferenceField,
    LazyReferenceField,
    ListField,
    ObjectIdField,
    ReferenceField,
)

from . import _mongoengine as me
from .fields import (
    NumberField,
    StrictBooleanField,
    TextField,
    TypedField,
    UTCDateTimeField,
    is_loading,
    loading_from_database,
)
from .stored_bson import decoded, is_bson, plain, son_of

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from .fields import ListOptions

__all__ = ("LOADED_STATE", "ClassLayout", "EmbeddedListField", "add_unknown_keys", "build",
           "build_loaded", "decode", "decode_read", "encode_each", "encode_fields",
           "encoding_as_dicts", "encoding_for_api", "encoding_for_api_entered", "encoding_left",
           "is_built", "layout_of", "takes_fast_paths", "validate", "validate_each")

NOT_PLAIN = (
    ComplexBaseField, EmbeddedDocumentField, GenericEmbeddedDocumentField, FileField,
    ReferenceField, CachedReferenceField, LazyReferenceField, GenericReferenceField,
    GenericLazyReferenceField,
)
# setters whose only step before mongoengine's own is the field's ``assigned(value)``
KNOWN_SETTERS = (BaseField.__set__, TextField.__set__, UTCDateTimeField.__set__)
# encoders that store the value they are given
STORED_AS_GIVEN = (TextField.to_mongo,)
# (to_python, assigned) of fields whose assigned(to_python(value)) is assigned(value)
SAME_AS_STORED = ((TextField.to_python, TextField.assigned),
                  (UTCDateTimeField.to_python, UTCDateTimeField.assigned))
# (to_python, assigned) of fields -> the types of the stored values their to_python gives
# back as they are while loading (when no text is trimmed), and the types of the values it
# gives that store() keeps as they are (a time it gives is in UTC already)
LOADED_AS_IS: dict[tuple[Any, Any], tuple[frozenset[type], frozenset[type]]] = {
    (TextField.to_python, TextField.assigned): (frozenset({str}), frozenset({str})),
    (NumberField.to_python, None): (frozenset({int, float}), frozenset({int, float})),
    (StrictBooleanField.to_python, None): (frozenset({bool}), frozenset({bool})),
    (ObjectIdField.to_python, None): (frozenset({ObjectId}), frozenset({ObjectId})),
    (UTCDateTimeField.to_python, UTCDateTimeField.assigned):
        (frozenset(), frozenset({datetime.datetime})),
}
# validators that pass every value of exactly a type (ObjectIdField's parses str(value))
ACCEPTS_EVERY = ((ObjectIdField.validate, ObjectId), (StrictBooleanField.validate, bool))
# fields that BaseDocument.validate checks with its ``clean``
TAKES_CLEAN = (EmbeddedDocumentField, GenericEmbeddedDocumentField)
# values BaseField.__set__ points at the document they are set on
HOLDS_PARENT = (EmbeddedDocument, list, tuple)
# types of the usual values, which hold no embedded document: answered without isinstance()
HOLDS_NO_DOCUMENT = frozenset({str, int, float, bool, type(None), datetime.datetime, ObjectId})
# values in which mongoengine's dereferencing looks for references
MIGHT_REFERENCE = (DBRef, dict, list, tuple)
OPTIONS = me.INIT_OPTIONS
# loaders that give back any stored value, refusing none (while loading: nothing is trimmed),
# and turn a value that may hold a reference into one that may, and no other into one
NEVER_REFUSE = (TextField.to_python, NumberField.to_python, UTCDateTimeField.to_python,
                ObjectIdField.to_python)
# where a loaded document that is not built yet keeps the dict it was stored as; a class
# whose documents may be built when used holds None under it (read without a __dict__)
STORED = "_fast_stored_son"
# a document's stored document while it is not built (a dict, or the RawBSONDocument a
# QuerySet read), else None
STORED_SON = attrgetter(STORED)
# what such a document's building will set, and so what it answers before: mongoengine's
# __setattr__ asks for them when the list it is loaded into points it at its document
LOADED_STATE: Mapping[str, bool] = {"_created": False, "_initialised": True}
E = TypeVar("E")  # the embedded document class of an EmbeddedListField


@dataclass(frozen=True)
class FieldSlot:
    """One field, and how a value is stored in it while its document is being built."""

    name: str
    field: BaseField  # its default and null are read at each use, as mongoengine does
    plain: bool
    assigned: Callable[[Any], Any] | None
    encoder: Callable[[Any], Any] | None  # the field's to_mongo; None where that is the value
    # the field's to_python for a value given to __init__; None where storing the value gives
    # what storing its to_python gives (a trim or a change to UTC, done once or twice alike)
    converter: Callable[[Any], Any] | None
    # the field's class keeps BaseField's _validate, and the field holds no embedded document
    # (whose checks take validate()'s ``clean``): its ``validate`` runs alone when _validate
    # would add nothing to it (no ``validation`` callable, no choices or ``checks_choices``;
    # read at each call, as _validate reads them)
    validates_alone: bool
    checks_choices: bool  # its ``validate`` checks the choices (me.checks_choices_itself)
    valid_as_is: type  # its ``validate`` passes every value of this type (NoneType: none)
    # the types of stored values the field's to_python gives back as they are while
    # loading, and of values it gives that store() keeps as they are (see LOADED_AS_IS)
    loaded_as_is: frozenset[type] = frozenset()
    kept_as_is: frozenset[type] = frozenset()

    def store(self, document: Any, value: Any) -> None:
        """``field.__set__(document, value)`` on a document still being built (so nothing
        is marked changed); a plain field's steps are taken here directly."""
        if not self.plain:
            self.field.__set__(document, value)
            return
        stored = value if self.assigned is None else self.assigned(value)
        field = self.field
        if stored is None and not field.null and field.default is not None:
            stored = field.default() if callable(field.default) else field.default
        if type(stored) in HOLDS_NO_DOCUMENT or not isinstance(stored, HOLDS_PARENT):
            document._data[self.name] = stored
        else:
            self.field.__set__(document, value)

    def value_check(self) -> tuple[Callable[[Any], Any], type]:
        """What :func:`validate` runs on a value of this field that is not None, as the
        field's checks stand now, and a type every value of which passes it: the field's
        ``validate`` alone where mongoengine's ``_validate`` would add nothing."""
        field = self.field
        if (not self.validates_alone or field.validation is not None
                or (field.choices and not self.checks_choices)):
            return partial(me.validate_value, field), type(None)
        return field.validate, self.valid_as_is

    def default_value(self, document: Any) -> Any:
        """What ``getattr(document, name, None)`` gives before the field is set."""
        return None if self.plain else getattr(document, self.name, None)


@dataclass(frozen=True)
class ClassLayout:
    """What the fast paths need to know of one class, worked out once."""

    embedded: bool
    # every field plain, and the class's _from_son, validate and to_mongo the ones that take
    # the fast paths: loading, validating and encoding apply too
    plain: bool
    slots: dict[str, FieldSlot]  # by name, in the order of ``_fields``, as __init__ takes them
    ordered: tuple[FieldSlot, ...]  # in the order of ``_fields_ordered``, as to_mongo does
    db_field_map: dict[str, str]
    # stored key -> its field, for the keys _from_son takes as they are (not a field's name
    # that it would rename to that field's stored key)
    by_stored: dict[str, FieldSlot] = dataclass_field(default_factory=dict)
    renamed: tuple[FieldSlot, ...] = ()  # fields stored under another key, in ``slots`` order
    refused_keys: frozenset[str] = frozenset()  # stored keys decode leaves to the general path
    # a loaded list of these is built one document at a time, when each is first used
    builds_when_used: bool = False
    given_keys: frozenset[str] = frozenset()  # the fields' names and __init__'s options
    generated_keys: frozenset[str] = frozenset()  # stored keys of fields with callable defaults
    # stored keys of the lists whose documents are each built when first used: read as
    # RawBSONDocument, each is decoded then too (see decode_read)
    lazy_lists: frozenset[str] = frozenset()
    # searches of the BSON of a document read undecoded; one that matches has it decoded whole
    decoded_whole_when: tuple[re.Pattern[bytes], ...] = ()
    # no field makes its value when encoded (a SequenceField) or has an encoder without code
    # (whose parameters mongoengine fails to read): encode_fields applies
    encodes: bool = False


def layout_of(cls: Any) -> ClassLayout | None:
    """The layout of ``cls``, or None when no fast path applies to it (cached per class).
    A class it applies to gets its ``_cls`` and ``get_<field>_display`` methods here."""
    if "_fast_layout" not in cls.__dict__:
        cls._fast_layout = _work_out_layout(cls)
    layout: ClassLayout | None = cls._fast_layout
    return layout


def _is_plain(field: BaseField) -> bool:
    kind = type(field)
    return (not isinstance(field, NOT_PLAIN) and not me.auto_generated(field)
            and kind.__set__ in KNOWN_SETTERS and kind.__get__ is BaseField.__get__
            and me.to_mongo_readable(field) and not me.to_mongo_takes_use_db_field(field))


def _encoder(field: BaseField) -> Callable[[Any], Any] | None:
    # what BaseDocument.to_mongo calls for a value that is not None, with no ``fields``
    if type(field).to_mongo in STORED_AS_GIVEN:
        return None
    if me.to_mongo_takes_use_db_field(field):
        return partial(field.to_mongo, use_db_field=True)
    return field.to_mongo


def _valid_as_is(field: BaseField) -> type:
    for validator, kind in ACCEPTS_EVERY:
        if type(field).validate is validator:
            return kind
    return type(None)


def _conversions(field: BaseField) -> tuple[Any, Any] | None:
    """The (to_python, assigned) pair of a plain field's class, by which SAME_AS_STORED and
    LOADED_AS_IS know what it does; None for a class that changes what they call (its own
    ``_trimmed`` or ``_as_utc``), or a field that is not plain. Worked out with its class's
    layout: a program that patches these methods later is not seen."""
    kind = type(field)
    if (not _is_plain(field)
            or getattr(kind, "_trimmed", TextField._trimmed) is not TextField._trimmed
            or getattr(kind, "_as_utc", UTCDateTimeField._as_utc) is not UTCDateTimeField._as_utc):
        return None
    return kind.to_python, getattr(kind, "assigned", None)


def _converted_when_stored(field: BaseField) -> bool:
    return _conversions(field) in SAME_AS_STORED


def _loaded_as_is(field: BaseField) -> tuple[frozenset[type], frozenset[type]]:
    # FieldSlot's loaded_as_is and kept_as_is
    conversions = _conversions(field)
    if conversions is None:
        return frozenset(), frozenset()
    return LOADED_AS_IS.get(conversions, (frozenset(), frozenset()))


def _decoded_whole_when(lazy: list[FieldSlot]) -> tuple[re.Pattern[bytes], ...]:
    """What, found in the BSON of a document whose ``lazy`` lists are read undecoded, would
    make building their documents when each is first used give another result than building
    them when loaded, which it then is: an embedded document, an array or a DBPointer as the
    value of a field of theirs (mongoengine's first read of the list looks in it for
    references, and wraps it), a class name or a key __init__ takes as an option anywhere
    (mongoengine's loading may pick another class by it, or refuse it) and a DBRef anywhere
    (pymongo decodes it apart: the document is then decoded as pymongo decodes it). Each
    search starts from a byte rare in BSON, or from "_" and then few: quick."""
    names = sorted({item.db_field.encode() for slot in lazy
                    for item in slot.field.field.document_type._fields.values()})
    if not names:
        return ()
    keys = b"(?:" + b"|".join(map(re.escape, names)) + b")\x00"
    return (*(re.compile(re.escape(bytes([kind])) + keys) for kind in HOLDERS),
            re.compile(rb"_(?:cls|created|_auto_convert)\x00"), re.compile(rb"\$ref\x00"))


def _work_out_layout(cls: Any) -> ClassLayout | None:
    if (not me.keeps_plain_data(cls) or not me.keeps_state_slots(cls)
            or cls._meta.get("strict", True) is not False
            or cls._meta.get("allow_inheritance") or cls._meta.get("abstract")
            or cls.__setattr__ is not BaseDocument.__setattr__
            or any(isinstance(field, FileField) for field in cls._fields.values())):
        return None
    # mongoengine gives each instance its own _cls and get_<field>_display (a bound partial
    # that ties the document in a reference cycle); for these classes the class holds them,
    # so that a document is fewer objects, freed as soon as it is dropped
    me.share_class_name(cls)
    for name, field in cls._fields.items():
        if field.choices and f"get_{name}_display" not in cls.__dict__:
            setattr(cls, f"get_{name}_display", me.field_display_method(field))
    slots = {name: FieldSlot(name, field, _is_plain(field), getattr(field, "assigned", None),
                             _encoder(field),
                             None if _converted_when_stored(field) else field.to_python,
                             me.keeps_base_validate(field) and not isinstance(field, TAKES_CLEAN),
                             me.checks_choices_itself(field), _valid_as_is(field),
                             *_loaded_as_is(field))
             for name, field in cls._fields.items()}
    stored_as = me.db_field_map(cls)
    remapped = {name for name, stored in stored_as.items() if name != stored}
    lazy = [slot for slot in slots.values() if isinstance(slot.field, EmbeddedListField)
            and slot.field.items_build_when_used()]
    return ClassLayout(
        embedded=issubclass(cls, EmbeddedDocument),
        plain=(all(slot.plain for slot in slots.values())
               and all(getattr(getattr(cls, name), "takes_fast_paths", False)
                       for name in ("_from_son", "validate", "to_mongo"))),
        slots=slots,
        ordered=tuple(slots[name] for name in me.fields_ordered(cls)),
        db_field_map=stored_as,
        by_stored={slot.field.db_field: slot for slot in slots.values()
                   if slot.field.db_field not in remapped},
        renamed=tuple(slot for slot in slots.values() if slot.field.db_field != slot.name),
        refused_keys=frozenset(remapped | me.ATTRIBUTE_KEYS | set(OPTIONS) | {me.CLASS_KEY}),
        # building later gives what building now gives only when no value is made at
        # building (a fresh id, the time), no value is refused and no default may hold a
        # reference (the list's search for references looks at the stored values)
        builds_when_used=(issubclass(cls, EmbeddedDocument) and STORED in dir(cls)
                          and getattr(cls, STORED) is None and all(type(slot.field).to_python in NEVER_REFUSE
                                  and not isinstance(slot.field.default, MIGHT_REFERENCE)
                                  for slot in slots.values())),
        generated_keys=frozenset(slot.field.db_field for slot in slots.values()
                                 if callable(slot.field.default)),
        given_keys=frozenset(slots) | frozenset(OPTIONS),
        lazy_lists=frozenset(slot.field.db_field for slot in lazy),
        decoded_whole_when=_decoded_whole_when(lazy),
        encodes=all(not me.auto_generated(field) and me.to_mongo_readable(field)
                    for field in cls._fields.values()),
    )


def hands_on_encoding(method: Any) -> Any:
    """Mark a ``to_mongo`` of this package that hands on the mapping :func:`encode_fields`
    gives; inside :func:`encoding_as_dicts`, a document whose class's ``to_mongo`` is another
    (a subclass's own, which may expect SON) is encoded as SON."""
    method.hands_on_encoding = True
    return method


def takes_fast_paths(method: Any) -> Any:
    """Mark a Document method as the one that takes the fast paths; a class whose method of
    that name is another one (a subclass's own ``to_mongo``, say) is not plain."""
    method.takes_fast_paths = True
    return method


def _initialising_is_watched(cls: type) -> bool:
    # a pre_init receiver may change the values, a post_init one may look at the document;
    # blinker's quick answer stays yes for a sender whose receivers were all disconnected
    if not signals.pre_init.receivers and not signals.post_init.receivers:  # the usual case
        return False
    return _receives(signals.pre_init, cls) or _receives(signals.post_init, cls)


def _receives(signal: Any, cls: type) -> bool:
    return bool(signal.has_receivers_for(cls)
                and next(iter(signal.receivers_for(cls)), None) is not None)


def build(document: Any, layout: ClassLayout, values: dict[str, Any]) -> bool:
    """Fill a new ``document`` from ``values`` (``__init__``'s keywords) as
    ``BaseDocument.__init__`` does, and ``EmbeddedDocument.__init__`` for an embedded one.
    Returns False, having done nothing, when this is not a case it covers."""
    convert = values.get("__auto_convert", True)
    created = values.get("_created", True)
    if not values.keys() <= layout.given_keys:  # usually each key is a field or an option
        unknown = values.keys() - layout.given_keys
        # a new document refuses unknown keys; "id", "pk" and "_cls" are set as attributes
        if created or not unknown.isdisjoint(me.ATTRIBUTE_KEYS):
            return False
    if _initialising_is_watched(type(document)):
        return False
    me.begin_building(document)
    for slot in layout.slots.values():
        if slot.name not in values:
            slot.store(document, None if slot.plain else slot.default_value(document))
    slots = layout.slots
    for key, value in values.items():
        given = slots.get(key)
        if given is not None:
            if convert and value is not None and given.converter is not None:
                value = given.converter(value)
            given.store(document, value)
        elif key not in OPTIONS:  # kept as stored: the class is not strict
            document._data[key] = value
    me.finish_building(document, created, layout.embedded)
    return True


def decode(cls: Any, layout: ClassLayout, son: Any, created: bool) -> Any | None:
    """``cls._from_son(son)`` of a plain class as mongoengine computes it, or None when this
    is not a case it covers (then mongoengine's own code runs, and raises its own errors)."""
    if type(son) is dict and not created and not _initialising_is_watched(cls):
        return _decode_stored(cls, layout, son)
    return _decode(cls, layout, son, created)


# the BSON types of an embedded document, an array and a DBPointer (read as a DBRef)
HOLDERS = (0x03, 0x04, 0x0C)


def decode_read(cls: Any, layout: ClassLayout, raw: RawBSONDocument, created: bool
                ) -> Any | None:
    """``cls._from_son`` of a document read as a RawBSONDocument: the lists of
    ``layout.lazy_lists`` keep their documents undecoded, each decoded and built when first
    used; None when this is not a case it covers (then ``plain(raw)`` is loaded instead)."""
    stored = raw.raw  # bytes, or a memoryview of the reply (searched alike)
    if not layout.lazy_lists or any(map(methodcaller("search", stored),
                                        layout.decoded_whole_when)):
        return None
    lazy = layout.lazy_lists
    son = {key: value if key in lazy and type(value) is list else plain(value)
           for key, value in raw.items()}
    return decode(cls, layout, son, created)


def _decode_stored(cls: Any, layout: ClassLayout, son: dict[Any, Any]) -> Any | None:
    # _decode's steps in one pass, for the usual case: a loaded document whose keys are its
    # fields' stored keys and keys no field claims. The document's _data gets its keys in
    # _decode's order: fields not stored, then the stored keys in the stored order, then
    # the fields _from_son renames, in the order of the fields.
    document = cls.__new__(cls)
    me.begin_building(document)
    data = document._data
    by_stored = layout.by_stored
    loading = is_loading()
    for slot in layout.slots.values():
        if slot.field.db_field not in son:
            slot.store(document, slot.default_value(document))
    for key, value in son.items():
        found = by_stored.get(key)
        if found is None:
            if type(key) is not str or key in layout.refused_keys:
                return _decode(cls, layout, son, False)
            data[key] = value  # kept as stored: the class is not strict
        elif found.name == key and not _load(document, found, value, loading):
            return None
    for slot in layout.renamed:
        stored = slot.field.db_field
        if stored in son and not _load(document, slot, son[stored], loading):
            return None
    me.finish_building(document, False, layout.embedded)
    return document


def _load(document: Any, slot: FieldSlot, value: Any, loading: bool) -> bool:
    """Store the stored ``value`` of ``slot``'s field in a document being built as its
    to_python and then store() would, skipping the steps that would keep it as it is
    (``loading``: inside ``loading_from_database()``); False, with nothing stored, where
    to_python refuses it."""
    if value is not None and not (loading and type(value) in slot.loaded_as_is):
        try:
            value = slot.field.to_python(value)
        except (AttributeError, ValueError):
            return False
    if type(value) in slot.kept_as_is:
        document._data[slot.name] = value
    else:
        slot.store(document, value)
    return True


def is_built(document: Any) -> bool:
    """False for a document :class:`EmbeddedListField` loaded and nothing has used yet."""
    return STORED_SON(document) is None


def build_loaded(document: Any) -> None:
    """Build a document :class:`EmbeddedListField` loaded without building it, from the dict
    it was stored as, as loading would have built it; nothing for one built already.

    It is built as another object, whose state it then takes, its data last: a thread that
    reads it meanwhile finds it unbuilt (and builds it too, alike) or whole, never half
    built. Only the first build to finish is taken (a change made since is kept). One whose
    building fails is left unbuilt, and the next use fails alike."""
    son = getattr(document, STORED, None)
    if son is None:  # built already, by another thread perhaps
        return
    cls = type(document)
    layout = layout_of(cls)
    assert layout is not None  # it was loaded unbuilt by its layout
    generic = False
    with loading_from_database():
        if is_bson(son):  # read undecoded: no key of it looked at
            son = decoded(son)
            built = _decode_stored(cls, layout, son)
            if built is None:  # left to mongoengine's loading
                built, generic = cls._from_son(son), True
        else:
            built = _decode_stored(cls, layout, son)
            if built is None:  # builds_when_used promised that no value is refused, no key
                raise RuntimeError(  # is left to mongoengine
                    f"{cls.__name__} refused a stored value it had taken when loaded")
    with _taking_built_state:
        if STORED not in document.__dict__:  # another thread's build was taken meanwhile
            return
        if generic:
            me.take_state_of(document, built)
        else:
            me.take_built_state(document, built)
        object.__delattr__(document, STORED)  # built: the class's None shows through


# held while a document not built yet takes the state of its build (see build_loaded)
_taking_built_state = threading.Lock()


def _loaded_unbuilt(kind: Any, layout: ClassLayout, value: list[Any]) -> list[Any] | None:
    """The documents of a stored list, each to be built when first used (see
    :func:`build_loaded`), or None when building later could give another result."""
    if (not value or not layout.builds_when_used or not is_loading()
            or _initialising_is_watched(kind)):
        return None
    # all in C: the keys and the types of the values of every stored document
    if not set(chain.from_iterable(value)) <= layout.by_stored.keys():
        return None
    try:
        if not all(all(map(is_not, repeat(None), map(itemgetter(key), value)))
                   for key in layout.generated_keys):
            return None
    except KeyError:  # a document without a generated value
        return None
    kinds = set(map(type, chain.from_iterable(map(dict.values, value))))
    if any(issubclass(found, MIGHT_REFERENCE) for found in kinds):
        return None
    return _unbuilt(kind, value)


class LoadedUnbuilt(list[Any]):
    """The documents of a list loaded from the database, none built yet (:func:`_unbuilt`):
    their stored values were looked at when loaded, so none holds anything mongoengine's
    first read of the list would load (see :meth:`EmbeddedListField.__set__`)."""

    __slots__ = ()


def _unbuilt(kind: Any, sons: list[Any]) -> LoadedUnbuilt:
    """Documents of ``kind`` not built yet, each holding its stored document of ``sons``."""
    new, setter = kind.__new__, object.__setattr__
    documents = LoadedUnbuilt()
    for son in sons:
        document = new(kind)
        setter(document, STORED, son)
        documents.append(document)
    return documents


def without_shadowing_names(db_field_map: Mapping[str, str], son: Mapping[Any, Any]
                            ) -> Mapping[Any, Any]:
    """``son`` (a stored document) without each key that is the name of a field stored under
    another key which ``son`` holds too: a stray ``id`` beside ``_id``, ``created_at`` beside
    ``createdAt``. mongoengine's ``_from_son`` renames such a key to the field's stored key,
    and the later of the two was loaded: an ``id`` another program stored became the
    document's id, and its save went to that other document. The stored key is the field's
    value; the name alone (a document stored with field names) is still read as the field."""
    shadowing = {key for key in son if type(key) is str
                 and db_field_map.get(key, key) != key and db_field_map[key] in son}
    if not shadowing:
        return son
    return {key: value for key, value in son.items() if key not in shadowing}


def _decode(cls: Any, layout: ClassLayout, son: Any, created: bool) -> Any | None:
    if not isinstance(son, dict) or me.CLASS_KEY in son or any(key in son for key in OPTIONS):
        return None
    data: dict[str, Any] = {}
    for key, value in without_shadowing_names(layout.db_field_map, son).items():
        key = str(key)
        data[layout.db_field_map.get(key, key)] = value
    for slot in layout.slots.values():
        name, field = slot.name, slot.field
        stored = field.db_field
        if stored in data:
            value = data[stored]
            if value is not None:
                try:
                    value = field.to_python(value)
                except (AttributeError, ValueError):  # a value the field refuses to load:
                    return None  # mongoengine's _from_son raises its error for it
            data[name] = value
            if name != stored:
                del data[stored]
    document = cls.__new__(cls)
    if not build(document, layout, {**data, "__auto_convert": False, "_created": created}):
        return None
    return document


def validate(document: Any, layout: ClassLayout, clean: bool) -> bool:
    """Run ``document``'s checks, as ``BaseDocument.validate`` runs them; True when all pass.
    False means one failed: mongoengine's own ``validate`` then runs them again, to raise
    its error."""
    if clean and type(document).clean is not BaseDocument.clean:  # BaseDocument's does nothing
        try:
            document.clean()
        except ValidationError:  # what mongoengine records as the document's own error
            return False
    data = document._data
    for slot in layout.ordered:
        value = data.get(slot.name)
        field = slot.field
        if value is None:
            if field.required:
                return False
            continue
        try:
            if not slot.validates_alone:
                me.validate_value(field, value, **(
                    {"clean": clean} if isinstance(field, TAKES_CLEAN) else {}))
            elif field.validation is not None or (field.choices and not slot.checks_choices):
                me.validate_value(field, value)  # _validate adds to validate: it runs
            elif type(value) is not slot.valid_as_is:
                field.validate(value)
        except me.FIELD_ERRORS:  # what mongoengine records as the field's error
            return False
    return True


def validate_each(documents: list[Any], layout: ClassLayout) -> bool:
    """``all(validate(document, layout, clean=True) for document in documents)``, for
    documents all of the plain class of ``layout``: each field's checks are worked out once
    for them all (:meth:`FieldSlot.value_check`), as they stand at this call."""
    # next(iter()) rather than [0]: a BaseList's __getitem__ points the item at its document
    if not documents or type(next(iter(documents))).clean is not BaseDocument.clean:
        return all(validate(document, layout, clean=True) for document in documents)
    checks = [(slot.name, slot.field.required, *slot.value_check()) for slot in layout.ordered]
    for document in me.list_items(documents):
        data = document._data
        for name, required, check, valid_as_is in checks:
            value = data.get(name)
            if value is None:
                if required:
                    return False
            elif type(value) is not valid_as_is:
                try:
                    check(value)
                except me.FIELD_ERRORS:  # what mongoengine records as the field's error
                    return False
    return True


# how the fast paths encode a document: as mongoengine's SON, as a dict
# (encoding_as_dicts), or as a dict for the API (encoding_for_api)
AS_SON, AS_DICTS, FOR_API = 0, 1, 2
_encoding = contextvars.ContextVar("roleplay_models_encoding", default=AS_SON)


class _Encoding:
    """The context manager of :func:`encoding_as_dicts` and :func:`encoding_for_api`: a class,
    where a generator's setup cost more than setting the mode."""

    __slots__ = ("mode", "token")

    def __init__(self, mode: int) -> None:
        self.mode = mode
        self.token: contextvars.Token[int] | None = None

    def __enter__(self) -> None:
        if self.token is not None:  # as a generator's: one block each
            raise RuntimeError("this encoding's block was entered already")
        # encoding as dicts inside encoding for the API leaves it for the API
        self.token = _encoding.set(max(self.mode, _encoding.get()))

    def __exit__(self, *exc_info: object) -> None:
        assert self.token is not None
        _encoding.reset(self.token)


def encoding_as_dicts() -> contextlib.AbstractContextManager[None]:
    """Inside, documents encoded through the fast paths are dicts rather than mongoengine's
    SON: the same keys in the same order, so the same BSON, without each dict's copy into
    a SON (:func:`.stored_bson.son_of`). Only for encodings no user code reads: what is
    sent, what API JSON is made from."""
    return _Encoding(AS_DICTS)


def encoding_for_api() -> contextlib.AbstractContextManager[None]:
    """:func:`encoding_as_dicts`, where :func:`encode_fields` of a class whose ``to_mongo``
    :func:`hands_on_encoding` gives, for an :class:`EmbeddedListField` holding documents the
    fast paths cover, a new list of the documents themselves rather than their encodings:
    the API shapes write each from its fields (``ApiShape.dump_document``), as from its
    encoding, without building that dict first. Any other encoding (a class's or a list
    field's own ``to_mongo``, a field that holds the list) is left whole."""
    return _Encoding(FOR_API)


def encoding_for_api_entered() -> contextvars.Token[int]:
    """:func:`encoding_for_api` entered until :func:`encoding_left` is given what this
    returns, in a quarter of a ``with`` block's time (for each document's API dict)."""
    return _encoding.set(FOR_API)


def encoding_left(token: contextvars.Token[int]) -> None:
    """The encoding left, as it was before :func:`encoding_for_api_entered` gave ``token``."""
    _encoding.reset(token)


def encode_fields(document: Any, layout: ClassLayout, only: Set[str] | None = None
                  ) -> dict[str, Any]:
    """``document.to_mongo()`` as mongoengine's Document or EmbeddedDocument computes it, for
    a layout that ``encodes`` (a dict inside :func:`encoding_as_dicts`, for a class whose
    ``to_mongo`` :func:`hands_on_encoding`); ``only``: ``to_mongo(fields=only)``, for names
    of whole fields."""
    hands_on = getattr(type(document).to_mongo, "hands_on_encoding", False)
    slots = layout.ordered if only is None else tuple(
        slot for slot in layout.ordered if slot.name in only)
    mode = _encoding.get()
    son = _encoded(document._data, layout, slots, hands_on and mode == FOR_API)
    if hands_on and mode != AS_SON:
        return son
    return son_of(son)


def _encoded(data: Mapping[str, Any], layout: ClassLayout, slots: tuple[FieldSlot, ...],
             leaves_items: bool) -> dict[str, Any]:
    # encode_fields of a document holding ``data``, as a dict
    son: dict[str, Any] = {"_id": None}
    for slot in slots:
        value = data.get(slot.name)
        if value is not None and slot.encoder is not None:
            if leaves_items and type(slot.field).to_mongo is EmbeddedListField.to_mongo:
                value = slot.field.documents_or_encoding(value)
            else:
                value = slot.encoder(value)
        if value is not None or slot.field.null:
            son[slot.field.db_field] = value
    if son["_id"] is None:
        if layout.embedded or data.get("id") is None:
            del son["_id"]
        else:
            son["_id"] = data["id"]
    return son


def encode_each(documents: list[Any], layout: ClassLayout) -> list[dict[str, Any]]:
    """The ``to_mongo()`` of each of ``documents``, all of the plain embedded class of
    ``layout``, as mongoengine computes it, followed by the unmodelled keys, as
    :class:`~.document.KeepsUnknownFields` adds them; what depends only on their class is
    looked up once for them all."""
    if not documents:
        return []
    hands_on = getattr(type(next(iter(documents))).to_mongo, "hands_on_encoding", False)
    mode = _encoding.get()
    leaves_items, as_dicts = hands_on and mode == FOR_API, hands_on and mode != AS_SON
    slots, fields = layout.ordered, layout.slots
    encoded = []
    for document in me.list_items(documents):
        data = document._data
        son = _encoded(data, layout, slots, leaves_items)
        if not as_dicts:
            son = son_of(son)
        if len(data) > len(fields):
            add_unknown_keys(son, data, fields)
        encoded.append(son)
    return encoded


def add_unknown_keys(son: MutableMapping[str, Any], data: Mapping[str, Any],
                     fields: Mapping[str, Any]) -> None:
    """Add to an encoded document ``son`` the keys of ``data`` (a document's ``_data``) that
    are not ``fields`` nor already in it: what mongoose stored that this package does not
    model (``__v``, say), which mongoengine loads but leaves out of ``to_mongo``."""
    for key, value in data.items():
        if key not in fields and key not in son:
            son[key] = value


class EmbeddedListField(TypedField[list[E]], ListField):
    """``ListField(EmbeddedDocumentField(document_type))`` whose items, when they are all of
    a plain ``document_type``, are encoded, loaded and validated straight through the
    functions above rather than one generic call chain per item; loaded from the database,
    each is built when first used. It reads as ``list[document_type]``."""

    def __init__(self, document_type: type[E], **kwargs: Unpack[ListOptions]) -> None:
        super().__init__(EmbeddedDocumentField(document_type), **kwargs)

    def _plain_items(self, value: Any) -> ClassLayout | None:
        """The item layout, if ``value`` is a list of documents the fast paths cover."""
        kind = self.field.document_type
        layout = layout_of(kind)
        if layout is None or not layout.plain or not isinstance(value, list):
            return None
        return layout if all(map(is_, map(type, me.list_items(value)), repeat(kind))) else None  # in C

    def __set__(self, instance: Any, value: list[E]) -> None:  # typed: users assign lists
        # set on a document being built (from __init__'s values, or loaded): mongoengine's
        # __set__ stores the list and points each of its documents at that document through
        # BaseDocument.__setattr__, with a proxy each; for documents of a plain class that
        # ends in object.__setattr__ (and would ask one not built yet for its state), so all
        # are pointed here in one pass at one proxy
        if isinstance(value, list) and value and not me.is_initialised(instance):
            # a loaded list as loading made it: no pre_init receiver was handed it to change
            loaded = (type(value) is LoadedUnbuilt
                      and not _initialising_is_watched(type(instance)))
            if loaded or self._plain_items(value) is not None:
                parent = weakref.proxy(instance)
                me.point_each_at_parent(value, parent)
                if loaded:  # the list mongoengine's first read would make of it, made now
                    # (given the document: mongoengine before 0.28 cannot take a proxy; its
                    # weakref.proxy(instance) is the proxy made above, which is reused)
                    value = BaseList(value, instance, self.name)
                    me.mark_dereferenced(value)
                instance._data[self.name] = value
                return
        super().__set__(instance, value)

    @overload
    def __get__(self, instance: None, owner: Any) -> Self: ...
    @overload
    def __get__(self, instance: object, owner: Any) -> list[E]: ...
    def __get__(self, instance: Any, owner: Any) -> Any:
        # mongoengine looks through a list for references to load the first time it is
        # read; a list of plain documents holding no reference-like values has none
        if instance is None:
            return self
        value = instance._data.get(self.name)
        if value is None:  # not set (asked while its document is built): so says mongoengine
            return None
        if isinstance(value, BaseList) and me.is_dereferenced(value):
            return value  # what mongoengine's own __get__ gives back for it, without its steps
        if (isinstance(value, list) and me.is_initialised(instance)  # not searched yet
                and self._nothing_to_dereference(value)):
            if not isinstance(value, BaseList):
                value = instance._data[self.name] = BaseList(value, instance, self.name)
            me.mark_dereferenced(value)
        return super().__get__(instance, owner)

    def _nothing_to_dereference(self, value: list[Any]) -> bool:
        # a document not built yet holds the stored values, which were looked at when loaded
        layout = self._plain_items(value)
        if layout is None:
            return False
        items = list(me.list_items(value))
        built = compress(items, map(is_, map(STORED_SON, items), repeat(None)))  # in C
        return not any(isinstance(item._data.get(slot.name), MIGHT_REFERENCE)
                       for item in built for slot in layout.slots.values())

    def to_mongo(self, value: Any, use_db_field: bool = True, fields: Any = None) -> Any:
        layout = self._plain_items(value) if use_db_field and not fields else None
        if layout is None:
            return super().to_mongo(value, use_db_field, fields)
        return encode_each(value, layout)

    def documents_or_encoding(self, value: Any) -> Any:
        """A new list of the documents of ``value`` where the fast paths cover them all (see
        :func:`encoding_for_api`), else ``to_mongo(value)``."""
        return list(me.list_items(value)) if self._plain_items(value) is not None else self.to_mongo(value)

    def items_build_when_used(self) -> bool:
        """Whether the documents of a list loaded from the database are each built when first
        used (their class's fields are all plain, and none makes a value when built)."""
        layout = layout_of(self.field.document_type)
        return layout is not None and layout.plain and layout.builds_when_used

    def to_python(self, value: Any) -> Any:
        layout = self._plain_items(value)
        if layout is not None:  # documents already: mongoengine gives a new list of them
            return list(me.list_items(value))
        kind = self.field.document_type
        read_as = [issubclass(found, RawBSONDocument)
                   for found in set(map(type, value))] if isinstance(value, list) else []
        if any(read_as):  # read by decode_read
            if (all(read_as) and is_loading() and me.auto_dereferencing(self)
                    and self.items_build_when_used() and not _initialising_is_watched(kind)):
                return _unbuilt(kind, value)  # each decoded when first used
            value = plain(value)
        layout = layout_of(kind)
        if (layout is None or not layout.plain or not isinstance(value, list)
                or not me.auto_dereferencing(self) or set(map(type, value)) - {dict}):
            return super().to_python(value)
        unbuilt = _loaded_unbuilt(kind, layout, value)
        if unbuilt is not None:
            return unbuilt
        loaded = [decode(kind, layout, item, created=False) for item in value]
        if any(document is None for document in loaded):
            return super().to_python(value)
        return loaded

    def validate(self, value: Any) -> None:
        layout = self._plain_items(value)
        if (layout is None or (self.max_length is not None and len(value) > self.max_length)
                or (self.required and not value)
                or not validate_each(value, layout)):
            super().validate(value)
