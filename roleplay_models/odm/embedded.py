"""Building, decoding, validating and encoding embedded documents of plain fields at a
fraction of mongoengine's generic cost, with the same result.

A session holds up to a thousand turns, and mongoengine builds each one
through ``BaseDocument.__init__`` and ``__setattr__``, which ask on every
attribute whether the document is dynamic, sharded or being given its id.
None of that can apply to an embedded document whose fields are all plain
(no lists, embedded documents, references or generated values), so for
such a class the same steps run straight through the fields' own
descriptors and converters. Anything else, and any case these functions
do not cover, goes to mongoengine's own code; so does any input that makes
a step fail, so that its errors are mongoengine's, word for word.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from bson import SON, DBRef
from mongoengine import EmbeddedDocument, signals
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
    ReferenceField,
)

__all__ = ("EmbeddedListField", "PlainLayout", "build", "decode", "encode", "plain_layout",
           "validate")
from .fields import TextField, UTCDateTimeField

NOT_PLAIN = (
    ComplexBaseField, EmbeddedDocumentField, GenericEmbeddedDocumentField, FileField,
    ReferenceField, CachedReferenceField, LazyReferenceField, GenericReferenceField,
    GenericLazyReferenceField,
)
HOLDS_PARENT = (EmbeddedDocument, list, tuple)
# values in which mongoengine's dereferencing looks for references
MIGHT_REFERENCE = (DBRef, dict, list, tuple)
# keys BaseDocument.__init__ sets as attributes even when they are not fields
ATTRIBUTE_KEYS = frozenset({"id", "pk", "_cls"})
# setters whose only step before mongoengine's own is the field's ``assigned(value)``
KNOWN_SETTERS = (BaseField.__set__, TextField.__set__, UTCDateTimeField.__set__)


@dataclass(frozen=True)
class FieldSlot:
    """One plain field, and what assigning to it stores (``BaseField.__set__`` on a document
    still being built, so nothing is marked changed)."""

    name: str
    field: BaseField
    assigned: Callable[[Any], Any] | None
    default: Any
    null: bool

    def store(self, document: Any, value: Any) -> None:
        stored = value if self.assigned is None else self.assigned(value)
        if stored is None and not self.null and self.default is not None:
            stored = self.default() if callable(self.default) else self.default
        if isinstance(stored, HOLDS_PARENT):  # mongoengine points such values at the document
            self.field.__set__(document, value)
        else:
            document._data[self.name] = stored


@dataclass(frozen=True)
class PlainLayout:
    """What the fast paths need to know of one class, worked out once."""

    class_name: str
    slots: tuple[FieldSlot, ...]  # in mongoengine's field order
    by_name: dict[str, FieldSlot]
    names: frozenset[str]
    db_field_map: dict[str, str]
    with_choices: tuple[tuple[str, BaseField], ...]


def plain_layout(cls: Any) -> PlainLayout | None:
    """The layout of ``cls`` when every fast path applies to it, else None (cached per class)."""
    if "_plain_layout" not in cls.__dict__:
        cls._plain_layout = _work_out_layout(cls)
    layout: PlainLayout | None = cls._plain_layout
    return layout


def _is_plain(field: BaseField) -> bool:
    kind = type(field)
    return (not isinstance(field, NOT_PLAIN) and not field._auto_gen
            and kind.__set__ in KNOWN_SETTERS and kind.__get__ is BaseField.__get__
            and "use_db_field" not in field.to_mongo.__code__.co_varnames)


def _work_out_layout(cls: Any) -> PlainLayout | None:
    fields = [(name, cls._fields[name]) for name in cls._fields_ordered]
    plain = (
        not cls._dynamic and not cls.STRICT and cls._meta.get("strict", True) is False
        and not cls._meta.get("allow_inheritance")
        and cls.__setattr__ is BaseDocument.__setattr__
        and all(_is_plain(field) for _, field in fields)
    )
    if not plain:
        return None
    slots = tuple(FieldSlot(name, field, getattr(field, "assigned", None), field.default,
                            field.null) for name, field in fields)
    return PlainLayout(
        class_name=cls._class_name,
        slots=slots,
        by_name={slot.name: slot for slot in slots},
        names=frozenset(cls._fields),
        db_field_map=dict(cls._db_field_map),
        with_choices=tuple((name, field) for name, field in fields if field.choices),
    )


def _initialising_is_watched(cls: type) -> bool:
    # a pre_init receiver may change the values, a post_init one may look at the document
    return signals.pre_init.has_receivers_for(cls) or signals.post_init.has_receivers_for(cls)


def build(document: Any, layout: PlainLayout, values: dict[str, Any], convert: bool = True,
          created: bool = True) -> bool:
    """Fill a new embedded ``document`` from ``values`` as ``BaseDocument.__init__`` and
    ``EmbeddedDocument.__init__`` do. Returns False, having done nothing, when this is not
    a case it covers."""
    cls = type(document)
    unknown = values.keys() - layout.names
    # a new document refuses unknown keys; "id", "pk" and "_cls" are set as attributes
    if (unknown and (created or not unknown.isdisjoint(ATTRIBUTE_KEYS))) \
            or _initialising_is_watched(cls):
        return False
    setter = object.__setattr__  # what BaseDocument.__setattr__ ends in for such a class
    setter(document, "_initialised", False)
    setter(document, "_created", True)
    setter(document, "_data", {})
    setter(document, "_dynamic_fields", SON())
    for slot in layout.slots:
        if slot.name not in values:
            slot.store(document, None)  # its default
    setter(document, "_cls", layout.class_name)
    by_name = layout.by_name
    for key, value in values.items():
        given = by_name.get(key)
        if given is None:  # kept as stored: the class is not strict
            document._data[key] = value
            continue
        if convert and value is not None:
            value = given.field.to_python(value)
        given.store(document, value)
    for name, field in layout.with_choices:
        setter(document, f"get_{name}_display",
               partial(document._BaseDocument__get_field_display, field=field))
    setter(document, "_initialised", True)
    setter(document, "_created", created)
    setter(document, "_instance", None)
    setter(document, "_changed_fields", [])
    return True


def decode(cls: Any, layout: PlainLayout, son: Any, created: bool) -> Any | None:
    """``cls._from_son(son)`` as mongoengine computes it, or None when this is not a case it
    covers (then mongoengine's own code runs, and raises its own errors)."""
    if not isinstance(son, dict) or "_cls" in son:
        return None
    data: dict[str, Any] = {}
    for key, value in son.items():
        key = str(key)
        data[layout.db_field_map.get(key, key)] = value
    try:
        for slot in layout.slots:
            name, field = slot.name, slot.field
            stored = field.db_field
            if stored in data:
                value = data[stored]
                data[name] = value if value is None else field.to_python(value)
                if name != stored:
                    del data[stored]
    except (AttributeError, ValueError):
        return None
    document = cls.__new__(cls)
    if not build(document, layout, data, convert=False, created=created):
        return None
    return document


def validate(document: Any, layout: PlainLayout, clean: bool) -> bool:
    """Run ``document``'s checks; True when all pass. False means one failed: mongoengine's
    own ``validate`` then runs them again, to raise its error."""
    try:
        if clean:
            document.clean()
        data = document._data
        for slot in layout.slots:
            value = data.get(slot.name)
            if value is not None:
                slot.field._validate(value)
            elif slot.field.required:
                return False
    except (ValueError, AttributeError, AssertionError):  # ValidationError is a ValueError
        return False
    return True


def encode(document: Any, layout: PlainLayout) -> SON[str, Any]:
    """``document.to_mongo()`` as mongoengine's ``EmbeddedDocument`` computes it, followed by
    the unmodelled keys, as :class:`~.document.KeepsUnknownFields` adds them."""
    son: SON[str, Any] = SON()
    son["_id"] = None
    data = document._data
    for slot in layout.slots:
        value = data.get(slot.name)
        if value is not None:
            value = slot.field.to_mongo(value)
        if value is not None or slot.null:
            son[slot.field.db_field] = value
    if son["_id"] is None:
        del son["_id"]
    if len(data) > len(layout.slots):
        for key, value in data.items():
            if key not in layout.names and key not in son:
                son[key] = value
    return son


class EmbeddedListField(ListField):
    """``ListField(EmbeddedDocumentField(document_type))`` whose items, when they are all of
    a plain ``document_type``, are encoded, loaded and validated straight through the
    functions above rather than one generic call chain per item."""

    def __init__(self, document_type: type, **kwargs: Any) -> None:
        super().__init__(EmbeddedDocumentField(document_type), **kwargs)

    def _plain_items(self, value: Any) -> PlainLayout | None:
        """The item layout, if ``value`` is a list of documents the fast paths cover."""
        kind = self.field.document_type
        layout = plain_layout(kind)
        if layout is None or not isinstance(value, list):
            return None
        return layout if all(type(item) is kind for item in value) else None

    def __get__(self, instance: Any, owner: Any) -> Any:
        # mongoengine looks through a list for references to load the first time it is
        # read; a list of plain documents holding no reference-like values has none
        value = None if instance is None else instance._data.get(self.name)
        if (isinstance(value, list) and not getattr(value, "_dereferenced", False)
                and instance._initialised and self._nothing_to_dereference(value)):
            if not isinstance(value, BaseList):
                value = instance._data[self.name] = BaseList(value, instance, self.name)
            value._dereferenced = True
        return super().__get__(instance, owner)

    def _nothing_to_dereference(self, value: list[Any]) -> bool:
        layout = self._plain_items(value)
        return layout is not None and not any(
            isinstance(item._data.get(slot.name), MIGHT_REFERENCE)
            for item in value for slot in layout.slots)

    def to_mongo(self, value: Any, use_db_field: bool = True, fields: Any = None) -> Any:
        layout = self._plain_items(value) if use_db_field and not fields else None
        if layout is None:
            return super().to_mongo(value, use_db_field, fields)
        return [encode(item, layout) for item in value]

    def to_python(self, value: Any) -> Any:
        kind = self.field.document_type
        layout = plain_layout(kind)
        if (layout is None or not isinstance(value, list) or not self._auto_dereference
                or not all(type(item) is dict for item in value)):
            return super().to_python(value)
        loaded = [decode(kind, layout, item, created=False) for item in value]
        if any(document is None for document in loaded):
            return super().to_python(value)
        return loaded

    def validate(self, value: Any) -> None:
        layout = self._plain_items(value)
        if (layout is None or (self.max_length is not None and len(value) > self.max_length)
                or (self.required and not value)
                or not all(validate(item, layout, clean=True) for item in value)):
            super().validate(value)
