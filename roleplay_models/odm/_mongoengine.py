"""The one module that touches mongoengine's private internals, and checks them when imported.

The rest of the package reads as if mongoengine were stable; this module knows it is not.
When it is imported it checks that the installed mongoengine is in the tested range (the
same as setup.cfg's ``install_requires``) and that every private name it uses below still
has the shape it uses (an attribute exists, a signature has the parameters passed), and
raises :class:`UnsupportedMongoengine`, naming the version, the range and what is missing,
instead of letting a changed internal surface later as a wrong result or an AttributeError
swallowed by a fallback.

Not treated as private internals (used anywhere in the package): the names mongoengine's
own documentation and every extension built on it use as its extension points --
``_fields``, ``_meta``, ``_data``, ``_created``, ``_changed_fields``,
``_get_changed_fields``, ``_from_son``, ``_get_collection``, ``_get_collection_name``,
``_get_db`` on documents and ``_document``, ``_collection`` on QuerySets. Every other
underscore name of mongoengine, and any import from a submodule of ``mongoengine.base`` or
``mongoengine.queryset``, goes through this module (``INTERNALS`` lists the names;
``tests/unit/test_mongoengine_seam.py`` checks that no other module uses them).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from functools import partialmethod
from itertools import repeat
from types import MemberDescriptorType
from typing import Any, cast

import mongoengine
import pymongo.errors
from bson import SON, ObjectId
from bson.codec_options import CodecOptions
from mongoengine import Document, EmbeddedDocument, StringField, ValidationError
from mongoengine.base import BaseDocument, BaseField, BaseList
from mongoengine.context_managers import set_write_concern
from mongoengine.errors import BulkWriteError, NotUniqueError, OperationError
from mongoengine.queryset import QuerySet

from .stored_bson import KeptForAFew, ReadDocument, reading_codec

__all__ = (
    "ATTRIBUTE_KEYS",
    "CLASS_KEY",
    "FIELD_ERRORS",
    "INIT_OPTIONS",
    "INTERNALS",
    "SUPPORTED_RANGE",
    "UPDATE_OPERATOR_NAMES",
    "WHOLE_DOCUMENT_ERRORS",
    "ChoicesCheckedByValidate",
    "ReadsStoredBSON",
    "SaveSteps",
    "UnsupportedMongoengine",
    "auto_dereferencing",
    "auto_generated",
    "begin_building",
    "check_insertable",
    "class_name",
    "counted_on_cursor_collection",
    "counts_whole_collection",
    "db_field_map",
    "dereference_when_loaded",
    "document_validation_error",
    "field_display_method",
    "field_name_of",
    "fields_ordered",
    "finish_building",
    "finish_loading",
    "is_dereferenced",
    "is_duplicate_key",
    "is_initialised",
    "keeps_plain_data",
    "list_items",
    "mark_dereferenced",
    "parent_if_set",
    "point_each_at_parent",
    "query_batch_size",
    "query_filter",
    "query_limit",
    "raw_reading",
    "sending_insert",
    "share_class_name",
    "take_built_state",
    "take_state_of",
    "to_mongo_takes_use_db_field",
    "update_to_mongo",
    "validate_value",
)

SUPPORTED = ((0, 27), (0, 30))
SUPPORTED_RANGE = ">=0.27,<0.30"

# The private mongoengine names this module uses: no other module of the package may.
INTERNALS = frozenset({
    "_BaseDocument__get_field_display", "_auto_dereference", "_auto_gen", "_class_name",
    "_cls", "_db_field_map", "_delta", "_dereferenced", "_dynamic", "_dynamic_fields",
    "_fields_ordered", "_initialised", "_instance", "_limit", "_batch_size", "_query",
    "_reverse_db_field_map", "_save_create", "_save_update", "_validate", "_clear_changed_fields",
    "_validate_choices", "set_auto_dereferencing", "_cursor", "_cursor_obj", "_collection_obj",
    "_as_pymongo", "_max_time_ms", "STRICT", "_none", "_empty", "_hint", "_collation",
    "NON_FIELD_ERRORS", "UPDATE_OPERATORS", "transform", "co_varnames",
})

# keywords of BaseDocument.__init__ that are options, not values
INIT_OPTIONS = ("__auto_convert", "_created")
# keys BaseDocument.__init__ sets as attributes even when they are not fields
ATTRIBUTE_KEYS = frozenset({"id", "pk", "_cls"})
# the stored key naming a document's class, which makes _from_son pick a subclass
CLASS_KEY = "_cls"
# what BaseDocument.validate records as a field's error rather than letting it through
FIELD_ERRORS = (ValueError, AttributeError, AssertionError)
# mongoengine writes to _dynamic_fields only for a DynamicDocument: the others can share one
NO_DYNAMIC_FIELDS: SON[str, Any] = SON()


class UnsupportedMongoengine(ImportError):
    """The installed mongoengine is outside the tested range, or an internal this package
    relies on has changed shape: the package refuses to load rather than misbehave."""


def _installed_version() -> tuple[int, ...]:
    text = str(getattr(mongoengine, "__version__", ""))
    numbers = re.match(r"(\d+)\.(\d+)", text)
    if numbers is None:
        raise UnsupportedMongoengine(
            f"roleplay_models supports mongoengine {SUPPORTED_RANGE}; the installed "
            f"mongoengine reports no readable version ({text!r})")
    return int(numbers[1]), int(numbers[2])


def _check_version() -> None:
    version = _installed_version()
    if not SUPPORTED[0] <= version < SUPPORTED[1]:
        raise UnsupportedMongoengine(
            f"roleplay_models supports mongoengine {SUPPORTED_RANGE}; mongoengine "
            f"{mongoengine.__version__} is installed")


_check_version()


def _parameters(function: Any) -> set[str]:
    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return set()


def _constants(function: Any) -> set[Any]:
    code = getattr(function, "__code__", None)
    return set(code.co_consts) if code is not None else set()


def _names(function: Any) -> set[str]:
    code = getattr(function, "__code__", None)
    return set(code.co_names) if code is not None else set()


def _import(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


# the update operators mongoengine's keywords name (``set``, ``push``, ...)
UPDATE_OPERATOR_NAMES: frozenset[str] = frozenset(
    _import("mongoengine.base.common", "UPDATE_OPERATORS") or ())
# the key under which BaseDocument.validate files the errors of clean()
WHOLE_DOCUMENT_ERRORS: str = _import("mongoengine.base.document", "NON_FIELD_ERRORS") or ""
_transform_update: Any = _import("mongoengine.queryset.transform", "update")


class _SeamProbe(EmbeddedDocument):
    """A class mongoengine's metaclass builds, to check what it gives every class."""

    value = StringField(db_field="v")


def _probe_instance() -> Any:
    try:
        return _SeamProbe(value="a")
    except Exception:  # reported as the missing piece below
        return None


_probe = _probe_instance()

# BaseDocument's slots of a document's state, and EmbeddedDocument's
_STATE_SLOTS = {**{name: inspect.getattr_static(BaseDocument, name, None) for name in (
    "_initialised", "_created", "_data", "_dynamic_fields", "_changed_fields")},
    "_instance": inspect.getattr_static(EmbeddedDocument, "_instance", None)}


# what is used -> whether it is there, as used
_SHAPES: dict[str, Callable[[], bool]] = {
    "mongoengine.base.common.UPDATE_OPERATORS (a set of update operator names)":
        lambda: "set" in UPDATE_OPERATOR_NAMES and "push" in UPDATE_OPERATOR_NAMES,
    "mongoengine.base.document.NON_FIELD_ERRORS (a str)":
        lambda: bool(WHOLE_DOCUMENT_ERRORS),
    "mongoengine.queryset.transform.update(_doc_cls, **update)":
        lambda: "_doc_cls" in _parameters(_transform_update),
    "BaseDocument._BaseDocument__get_field_display(self, field)":
        lambda: "field" in _parameters(getattr(BaseDocument, "_BaseDocument__get_field_display",
                                               None)),
    "BaseDocument.__init__ taking the '__auto_convert' and '_created' keywords":
        lambda: set(INIT_OPTIONS) <= _constants(BaseDocument.__init__),
    "BaseDocument._from_son(son, _auto_dereference, created)":
        lambda: {"son", "_auto_dereference", "created"} <= _parameters(BaseDocument._from_son),
    "BaseDocument._delta()": lambda: callable(getattr(BaseDocument, "_delta", None)),
    "BaseDocument.STRICT": lambda: getattr(BaseDocument, "STRICT", None) is False,
    "Document._save_create(doc, force_insert, write_concern)":
        lambda: {"doc", "force_insert", "write_concern"} <= _parameters(
            getattr(Document, "_save_create", None)),
    "Document._save_update(doc, save_condition, write_concern)":
        lambda: {"doc", "save_condition", "write_concern"} <= _parameters(
            getattr(Document, "_save_update", None)),
    "Document.save() ending with self._clear_changed_fields()":
        lambda: "_clear_changed_fields" in Document.save.__code__.co_names,
    "BaseField._auto_gen": lambda: getattr(BaseField, "_auto_gen", None) is False,
    "BaseField._validate(value)":
        lambda: "value" in _parameters(getattr(BaseField, "_validate", None)),
    "BaseField._validate_choices(value), called by BaseField._validate":
        lambda: ("value" in _parameters(getattr(BaseField, "_validate_choices", None))
                 and "_validate_choices" in _names(BaseField._validate)),
    # a property from 0.28 (no_dereference() per thread), a class attribute before
    "BaseField._auto_dereference (a property or a bool)":
        lambda: isinstance(inspect.getattr_static(BaseField, "_auto_dereference", None),
                           (property, bool)),
    "BaseField.to_mongo(value)": lambda: "value" in _parameters(BaseField.to_mongo),
    "BaseList._dereferenced": lambda: getattr(BaseList, "_dereferenced", None) is False,
    "BaseList.__iter__ only yielding the list's items again":
        lambda: _names(BaseList.__iter__) <= {"super", "__iter__"},
    "QuerySet._query (a property)":
        lambda: isinstance(inspect.getattr_static(QuerySet, "_query", None), property),
    "QuerySet._limit (set by __init__)":
        lambda: "_limit" in _names(inspect.getattr_static(QuerySet, "__init__")),
    "QuerySet._none, _empty, _hint and _collation (set by __init__, read by count())":
        lambda: {"_none", "_empty", "_hint", "_collation"} <= (
            _names(inspect.getattr_static(QuerySet, "__init__"))
            & set().union(*(_names(vars(cls).get("count")) for cls in QuerySet.__mro__))),
    "QuerySet._batch_size (set by __init__)":
        lambda: "_batch_size" in _names(inspect.getattr_static(QuerySet, "__init__")),
    "a document class's _class_name, _fields_ordered, _db_field_map, "
    "_reverse_db_field_map and _dynamic":
        lambda: (getattr(_SeamProbe, "_class_name", None) == "_SeamProbe"
                 and getattr(_SeamProbe, "_fields_ordered", None) == ("value",)
                 and getattr(_SeamProbe, "_db_field_map", None) == {"value": "v"}
                 and getattr(_SeamProbe, "_reverse_db_field_map", None) == {"v": "value"}
                 and getattr(_SeamProbe, "_dynamic", None) is False),
    "BaseDocument's slots _initialised, _created, _data, _dynamic_fields and "
    "_changed_fields, and EmbeddedDocument's _instance":
        lambda: all(isinstance(slot, MemberDescriptorType) for slot in _STATE_SLOTS.values()),
    "a built document's _initialised, _dynamic_fields, _instance and _data":
        lambda: (_probe is not None and getattr(_probe, "_initialised", None) is True
                 and isinstance(getattr(_probe, "_dynamic_fields", None), SON)
                 and getattr(_probe, "_instance", False) is None
                 and getattr(_probe, "_data", None) == {"value": "a"}),
}


def _check_shapes() -> None:
    missing = []
    for piece, present in _SHAPES.items():
        try:
            ok = present()
        except Exception:  # a changed internal may fail in any way; it is reported below
            ok = False
        if not ok:
            missing.append(piece)
    if missing:
        raise UnsupportedMongoengine(
            f"roleplay_models supports mongoengine {SUPPORTED_RANGE} and relies on internals "
            f"that mongoengine {mongoengine.__version__} does not have as expected: "
            + "; ".join(missing))


_check_shapes()


# -- document classes and fields, for odm/fast_paths.py ------------------------------------

def keeps_plain_data(cls: Any) -> bool:
    """True for a class whose documents keep their values in a plain dict, as a document
    that is neither dynamic nor ``STRICT`` (mongoengine's StrictDict) does."""
    return not cls._dynamic and not cls.STRICT


def class_name(cls: Any) -> str:
    """The name mongoengine registers ``cls`` under (``Parent.Child`` for a subclass)."""
    name: str = cls._class_name
    return name


def fields_ordered(cls: Any) -> tuple[str, ...]:
    """The field names of ``cls`` in declaration order, as ``to_mongo`` and ``validate`` take
    them."""
    return tuple(cls._fields_ordered)


def db_field_map(cls: Any) -> dict[str, str]:
    """A copy of ``cls``'s map of field names to stored names, which ``_from_son`` applies to
    the keys of a stored document."""
    return dict(cls._db_field_map)


def field_name_of(cls: Any, stored: str) -> str | None:
    """The field of ``cls`` stored under key ``stored``, or None for an unmodelled key."""
    name: str | None = cls._reverse_db_field_map.get(stored)
    return name


def share_class_name(cls: Any) -> None:
    """Give ``cls`` the ``_cls`` attribute that ``BaseDocument.__init__`` sets on each
    instance, so its instances can go without one."""
    if "_cls" not in cls.__dict__:
        cls._cls = cls._class_name


def field_display_method(field: BaseField) -> partialmethod[Any]:
    """The ``get_<field>_display`` method ``BaseDocument.__init__`` binds to each instance,
    as one method of the class."""
    method = BaseDocument._BaseDocument__get_field_display
    return partialmethod(method, field=field)


class ChoicesCheckedByValidate:
    """A field whose ``validate()`` checks its choices itself, after its type: mongoengine's
    own check of the choices, which runs first, is left out."""

    def _validate_choices(self, value: Any) -> None:
        pass


def auto_generated(field: BaseField) -> bool:
    """True for a field whose value mongoengine generates (a SequenceField)."""
    return bool(field._auto_gen)


def to_mongo_readable(field: BaseField) -> bool:
    """True when ``BaseDocument.to_mongo`` can read the variables of ``field.to_mongo``'s
    code, as it does for every value (it fails for one without code: a partialmethod)."""
    return hasattr(field.to_mongo, "__code__")


def to_mongo_takes_use_db_field(field: BaseField) -> bool:
    """True when ``BaseDocument.to_mongo`` hands ``use_db_field`` to ``field.to_mongo`` (it
    encodes documents inside): the name is one of its code's variables, mongoengine's test."""
    code = getattr(field.to_mongo, "__code__", None)
    return code is not None and "use_db_field" in code.co_varnames


def validate_value(field: BaseField, value: Any, **options: Any) -> None:
    """``field``'s checks of a value that is not None, as ``BaseDocument.validate`` runs them
    (choices included; ``clean=`` for an embedded document); raises what they raise."""
    field._validate(value, **options)


def keeps_base_validate(field: BaseField) -> bool:
    """True when ``field``'s class keeps ``BaseField._validate``: the choices, the
    ``validation`` callable, then ``validate``."""
    return type(field)._validate is BaseField._validate


def checks_choices_itself(field: BaseField) -> bool:
    """True when ``field``'s ``_validate`` leaves the choices to its ``validate``
    (:class:`ChoicesCheckedByValidate`)."""
    return type(field)._validate_choices is ChoicesCheckedByValidate._validate_choices


def auto_dereferencing(field: BaseField) -> bool:
    """True unless ``field`` is inside ``no_dereference()``."""
    return bool(field._auto_dereference)


# mongoengine 0.28 and later set a field's flag through a method, 0.27 assigns the attribute
_SETS_AUTO_DEREFERENCING = hasattr(BaseField, "set_auto_dereferencing")


def dereference_when_loaded(fields: Iterable[BaseField]) -> None:
    """What ``BaseDocument._from_son`` does to each field of the class it loads a document of,
    with dereferencing on: sets the field's own flag (a ``no_dereference()`` context of 0.27
    cleared it)."""
    for field in fields:
        if _SETS_AUTO_DEREFERENCING:
            field.set_auto_dereferencing(True)
        else:
            field._auto_dereference = True


def finish_loading(document: Any) -> None:
    """What ``BaseDocument._from_son`` does to a document once built: no change marked."""
    object.__setattr__(document, "_changed_fields", [])


def is_initialised(document: Any) -> bool:
    """True once ``document`` has been built (its fields' setters mark changes from then)."""
    return bool(document._initialised)


def is_dereferenced(value: Any) -> bool:
    """True for a list mongoengine has already searched for references to load."""
    return bool(getattr(value, "_dereferenced", False))


def mark_dereferenced(value: BaseList) -> None:
    """Mark a list as searched for references: mongoengine will not search it again."""
    value._dereferenced = True


def parent_if_set(document: Any) -> Any:
    """The document an embedded ``document`` is pointed at, or None when it was never set;
    its own ``__getattr__`` is not asked."""
    try:
        return object.__getattribute__(document, "_instance")
    except AttributeError:
        return None


def list_items(value: list[Any]) -> Iterator[Any]:
    """The items of a list; of a BaseList through list's own iterator, in C (BaseList's
    ``__iter__``, in Python, only yields them again)."""
    return list.__iter__(value) if type(value) is BaseList else iter(value)


def point_each_at_parent(documents: list[Any], parent: Any) -> None:
    """Point each of ``documents`` at ``parent`` (a weak proxy of the document holding them),
    as ``BaseField.__set__`` does, but straight rather than through ``__setattr__``
    (embedded documents of a class whose ``__setattr__`` is BaseDocument's, built or not),
    in one pass in C."""
    deque(map(object.__setattr__, documents, repeat("_instance"), repeat(parent)), maxlen=0)


def take_state_of(document: Any, built: Any) -> None:
    """Make ``document`` (an embedded document not built yet) hold what ``built``, a document
    of its class built apart, holds: its data and its state, as if it had been built that
    way, keeping the parent it is pointed at. Its ``_data``, which every field's value is
    read from, is set last."""
    keep = {"__weakref__", "__dict__", "_data"}
    if parent_if_set(document) is not None:
        keep.add("_instance")
    for kind in type(built).__mro__:
        for name in kind.__dict__.get("__slots__", ()):
            if name not in keep:
                try:
                    object.__setattr__(document, name, object.__getattribute__(built, name))
                except AttributeError:  # not set on it
                    pass
    document.__dict__.update(built.__dict__)
    object.__setattr__(document, "_data", object.__getattribute__(built, "_data"))


def take_built_state(document: Any, built: Any) -> None:
    """:func:`take_state_of` for an embedded ``built`` that :func:`finish_building` finished:
    the state it and :func:`begin_building` set, ``_data`` last."""
    setter, getter = object.__setattr__, object.__getattribute__
    for name in ("_initialised", "_created", "_dynamic_fields", "_changed_fields"):
        setter(document, name, getter(built, name))
    if parent_if_set(document) is None:
        setter(document, "_instance", None)
    setter(document, "_data", getter(built, "_data"))


def _slot_setter(name: str) -> Callable[[Any, Any], None]:
    # what object.__setattr__ ends in for the slot, called straight: in half its time, for
    # each document built (a turn among them)
    return cast(Callable[[Any, Any], None], getattr(_STATE_SLOTS[name], "__set__", None))


_SET_INITIALISED = _slot_setter("_initialised")
_SET_CREATED = _slot_setter("_created")
_SET_DATA = _slot_setter("_data")
_SET_DYNAMIC_FIELDS = _slot_setter("_dynamic_fields")
_SET_CHANGED_FIELDS = _slot_setter("_changed_fields")
_SET_INSTANCE = _slot_setter("_instance")


def keeps_state_slots(cls: type) -> bool:
    """True when ``cls`` leaves the slots of a document's state as mongoengine defines them
    (no class between redefines one): :func:`begin_building` and :func:`finish_building`
    set a document's state through them."""
    return all(inspect.getattr_static(cls, name, None) is slot
               for name, slot in _STATE_SLOTS.items()
               if name != "_instance" or issubclass(cls, EmbeddedDocument))


def begin_building(document: Any) -> None:
    """The state ``BaseDocument.__init__`` gives a document before it sets any field (what
    BaseDocument.__setattr__ ends in while building)."""
    _SET_INITIALISED(document, False)
    _SET_CREATED(document, True)
    _SET_DATA(document, {})
    _SET_DYNAMIC_FIELDS(document, NO_DYNAMIC_FIELDS)


def finish_building(document: Any, created: bool, embedded: bool) -> None:
    """The state ``BaseDocument.__init__`` (and ``EmbeddedDocument.__init__`` for an
    embedded one) leaves a document in once its fields are set."""
    _SET_INITIALISED(document, True)
    _SET_CREATED(document, created)
    if embedded:
        _SET_INSTANCE(document, None)
        _SET_CHANGED_FIELDS(document, [])


# -- documents, for odm/document.py --------------------------------------------------------

def document_validation_error(document: Any, errors: Mapping[str, Any]) -> ValidationError:
    """The ValidationError ``BaseDocument.validate`` raises for ``errors`` (field name ->
    error), with its message: ``ValidationError (Model:pk) (message: ['field'])``."""
    return ValidationError(f"ValidationError ({document._class_name}:{document.pk}) ",
                           errors=dict(errors))


class ReadsStoredBSON:
    """A QuerySet mixin: a find whose documents are built as the QuerySet's Documents reads
    them as ReadDocument (a RawBSONDocument) when the Document class asks for it
    (``reads_stored_bson()``), for its ``_from_son`` to decode only what is used. What a
    QuerySet hands on as the server sent it (``as_pymongo()``, ``distinct()``,
    ``explain()``) is read as dicts, also when it inherits a cursor that read BSON."""

    @property
    def _cursor(self) -> Any:
        queryset: Any = self
        cursor = queryset._cursor_obj
        hands_on = queryset._as_pymongo or _handing_on.get()
        if cursor is None and not hands_on and queryset._document.reads_stored_bson():
            reading = raw_reading(queryset._collection_obj)
            if reading is not None:
                # mongoengine's cursor, made on a copy that reads BSON: nothing of this
                # QuerySet but its cursor changes (another thread may be using it)
                copy = object.__new__(type(queryset))
                copy.__dict__.update(queryset.__dict__, _collection_obj=reading)
                queryset._cursor_obj = super(ReadsStoredBSON, copy)._cursor  # type: ignore[misc]
                return queryset._cursor_obj
        elif cursor is not None and hands_on and _reads_bson(cursor):
            queryset._cursor_obj = None  # made again from this QuerySet, reading dicts
            cursor = super()._cursor  # type: ignore[misc]
            if queryset._max_time_ms is not None:  # the one setting mongoengine keeps apart
                cursor.max_time_ms(queryset._max_time_ms)
            return cursor
        return super()._cursor  # type: ignore[misc]

    def distinct(self, field: str) -> list[Any]:
        """mongoengine's ``distinct()``, the values read as dicts."""
        token = _handing_on.set(True)
        try:
            values: list[Any] = super().distinct(field)  # type: ignore[misc]
        finally:
            _handing_on.reset(token)
        return values

    def explain(self) -> dict[str, Any]:
        """mongoengine's ``explain()``: the server's plan for this QuerySet, as a dict."""
        token = _handing_on.set(True)
        try:
            plan: dict[str, Any] = super().explain()  # type: ignore[misc]
        finally:
            _handing_on.reset(token)
        return plan


# True while a QuerySet method that hands on what the server sends runs
_handing_on: ContextVar[bool] = ContextVar("roleplay_models_handing_on", default=False)


def _reads_bson(cursor: Any) -> bool:
    return bool(cursor.collection.codec_options.document_class is ReadDocument)


def _reading_raw(collection: Any) -> Any | None:
    if not isinstance(collection.codec_options, CodecOptions):
        return None
    return collection.with_options(codec_options=reading_codec(collection.codec_options))


_raw_readings: KeptForAFew[Any, Any | None] = KeptForAFew(_reading_raw)


def raw_reading(collection: Any) -> Any | None:
    """``collection`` reading its documents as ReadDocument (a RawBSONDocument) with its own
    codec options otherwise; None for one that is not pymongo's (mongomock's, say)."""
    return _raw_readings(collection)


class SaveSteps:
    """Hands mongoengine's private steps of ``save()`` to named hooks: ``before_write(doc)``
    before a document is sent as an update or a replacement, ``as_inserted(doc, options)``
    for what an insert sends, checked as ``before_write`` checks it (by default
    ``before_write(doc)``, then ``doc`` itself: a class that overrides one of the two keeps
    the other in step), ``adjust_delta(set, unset)`` to change what an update sends,
    ``duplicate_key_error(error, doc)`` for the error a failed write raises instead of
    mongoengine's (None: mongoengine's own), and ``forget_saved_changes()`` once it is
    stored."""

    def before_write(self, doc: Any) -> None:
        """Called with the encoded document before it is inserted or updated."""

    def adjust_delta(self, set_data: dict[str, Any], unset_data: dict[str, Any]
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
        """What an update of a stored document ``$set``s and ``$unset``s."""
        return set_data, unset_data

    def duplicate_key_error(self, error: Exception, doc: Any) -> Exception | None:
        """The error to raise when writing ``doc`` failed with ``error``, if it broke a
        unique index; None for any other failure."""
        if is_duplicate_key(error):
            return NotUniqueError(f"Tried to save duplicate unique keys ({error})")
        return None

    def forget_saved_changes(self) -> None:
        """Called last by ``save()``: mark nothing as changed any more (by default as
        mongoengine does it, walking each changed path)."""
        super()._clear_changed_fields()  # type: ignore[misc]

    def _delta(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.adjust_delta(*super()._delta())  # type: ignore[misc]

    def _clear_changed_fields(self) -> None:
        self.forget_saved_changes()

    def as_inserted(self, doc: Any, codec_options: Any) -> Any:
        """What an insert of the encoded document ``doc`` sends (with ``codec_options``, the
        collection's), having checked it as ``before_write`` does: by default ``doc``
        itself, after ``before_write(doc)``."""
        self.before_write(doc)
        return doc

    def _save_create(self, doc: Any, force_insert: bool = False, write_concern: Any = None
                     ) -> Any:
        if not force_insert and "_id" in doc:  # mongoengine replaces the stored one, if any
            self.before_write(doc)
            with _duplicates_raised_as(self.duplicate_key_error, doc):
                return super()._save_create(  # type: ignore[misc]
                    doc, force_insert, write_concern)
        # mongoengine's insert, the document sent as as_inserted() gives it
        if "_id" not in doc:
            doc["_id"] = ObjectId()  # as pymongo gives it
        collection = self._get_collection()  # type: ignore[attr-defined]
        sent = self.as_inserted(doc, collection.codec_options)
        with sending_insert(collection, write_concern, [doc],
                            lambda error: self.duplicate_key_error(error, doc)) as target:
            target.insert_one(sent)
        return doc["_id"]

    def _save_update(self, doc: Any, save_condition: Any = None, write_concern: Any = None
                     ) -> Any:
        # mongoengine upserts a loaded document that is gone (another writer deleted it),
        # writing only the changed fields: a partial document no model would accept. Sent
        # with a condition (none but the _id), the update matches nothing instead.
        self.before_write(doc)
        with _duplicates_raised_as(self.duplicate_key_error, doc):
            try:
                return super()._save_update(  # type: ignore[misc]
                    doc, {} if save_condition is None else save_condition, write_concern)
            except mongoengine.errors.SaveConditionError:
                if save_condition is not None:
                    raise
                raise self.DoesNotExist(  # type: ignore[attr-defined]
                    f"{type(self).__name__} {doc['_id']} no longer exists; nothing was saved"
                ) from None


def is_duplicate_key(error: BaseException) -> bool:
    """True for a pymongo error that mongoengine turns into NotUniqueError: a duplicate key
    (E11000) or a duplicate key on update (E11001)."""
    if isinstance(error, pymongo.errors.DuplicateKeyError):
        return True
    return (isinstance(error, pymongo.errors.OperationFailure)
            and re.match("^E1100[01] duplicate key", str(error)) is not None)


@contextmanager
def _duplicates_raised_as(make: Callable[[Exception, Any], Exception | None], doc: Any
                          ) -> Iterator[None]:
    try:
        yield
    except pymongo.errors.OperationFailure as error:
        replacement = make(error, doc)
        if replacement is None:
            raise  # mongoengine's save() maps it
        raise replacement from error


# -- queries and updates, for odm/queryset.py, odm/timestamps.py, models/ ------------------

def query_filter(queryset: QuerySet) -> dict[str, Any]:
    """The MongoDB filter ``queryset`` sends (its conditions as a raw query)."""
    query: dict[str, Any] = queryset._query
    return query


def query_limit(queryset: QuerySet) -> int | None:
    """The limit set on ``queryset`` with ``limit()``, or None."""
    limit: int | None = queryset._limit
    return limit


def counts_whole_collection(queryset: QuerySet) -> bool:
    """Whether ``queryset.count()`` counts every document of its collection: no filter, hint
    or collation, and not emptied by ``none()``, ``limit(0)`` or an empty slice (for which
    mongoengine answers 0 without asking, or building the filter)."""
    return (not queryset._none and not queryset._empty and queryset._limit != 0
            and queryset._hint in (-1, None) and not queryset._collation
            and not queryset._query)


def counted_on_cursor_collection(queryset: QuerySet, count: Callable[[Any], int]) -> int:
    """``count`` of the collection of the QuerySet's cursor (its read preference and concern
    apply), the cursor dropped after: a count sent as mongoengine's ``count()`` sends it."""
    counted = count(queryset._cursor.collection)
    queryset._cursor_obj = None
    return counted


def query_batch_size(queryset: QuerySet) -> int | None:
    """The batch size set on ``queryset`` with ``batch_size()``, or None."""
    size: int | None = queryset._batch_size
    return size


def update_to_mongo(document_cls: type, **update: Any) -> dict[str, Any]:
    """mongoengine's update keywords (``set__title="x"``) as a raw MongoDB update."""
    result: dict[str, Any] = _transform_update(document_cls, **update)
    return result


# -- bulk insert, for odm/queryset.py ------------------------------------------------------

def check_insertable(document_cls: type, documents: Sequence[Any]) -> None:
    """Refuse, as ``QuerySet.insert`` does, documents of another class and documents that
    were saved already."""
    for document in documents:
        if not isinstance(document, document_cls):
            raise OperationError(f"Some documents inserted aren't instances of {document_cls}")
        document = cast(Any, document)
        if document.pk and not document._created:
            raise OperationError("Some documents have ObjectIds, use doc.update() instead")


@contextmanager
def sending_insert(
    collection: Any, write_concern: Any, originals: Sequence[Any],
    duplicate: Callable[[Exception], Exception | None],
) -> Iterator[Any]:
    """The collection to insert into, with ``write_concern``; errors are mapped as
    ``QuerySet.insert`` maps them, except that a failure for which ``duplicate(error)``
    gives an error raises that, and a failed bulk write names the documents as
    ``originals``, not as the BSON sent."""
    if not write_concern:  # the collection's own: mongoengine would copy the collection
        concerned: Any = nullcontext(collection)
    else:
        concerned = set_write_concern(collection, write_concern)
    with concerned as target:
        try:
            yield target
        except pymongo.errors.BulkWriteError as error:
            replacement = duplicate(error)
            if replacement is not None:
                raise replacement from error
            for failure in error.details.get("writeErrors", []):
                if "index" in failure:
                    failure["op"] = originals[failure["index"]]
            raise BulkWriteError(f"Bulk write error: ({error.details})") from error
        except pymongo.errors.OperationFailure as error:
            replacement = duplicate(error)
            if replacement is not None:
                raise replacement from error
            if is_duplicate_key(error):
                raise NotUniqueError(f"Could not save document ({error})") from error
            raise OperationError(f"Could not save document ({error})") from error
