"""Shaping the JSON the frontend reads, from Documents or straight from pymongo documents
(loading what references point at is :mod:`.references`' job).

Keys are the stored field names (``scenario_id``, ``llmPrompt``, ...), except ``_id``, which
becomes ``id``, and the timestamps, which become ``created_at`` / ``updated_at``. Ids are
strings and datetimes ISO 8601 UTC strings (``2024-03-01T09:30:00.000Z``). A reference is its
id string or, when populated, a small dict of the fields its route shows.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Collection, Iterable, Mapping
from types import NoneType
from typing import Any, cast

from bson import ObjectId
from bson.tz_util import utc as BSON_UTC
from mongoengine import Document
from mongoengine.base import BaseDocument, BaseField
from mongoengine.errors import NotRegistered
from mongoengine.fields import EmbeddedDocumentField, ListField, ObjectIdField, ReferenceField

from . import fields
from .api_writers import (
    DocumentsWriter,
    FieldsWriter,
    StoredStep,
    StoredWriter,
    WrittenField,
    dict_writer,
    documents_writer,
    fields_writer,
    stored_writer,
)
from .fast_paths import (
    STORED,
    STORED_SON,
    EmbeddedListField,
    FieldSlot,
    encoding_for_api_entered,
    encoding_left,
    layout_of,
)
from .fields import UTCDateTimeField
from .references import element_field, reference_id, reference_target, stored_names
from .stored_bson import decoded, decoded_for_json, is_bson
from .timestamps import CREATED, UPDATED

__all__ = ("ApiShape", "api_shape", "iso_utc", "populated_dicts", "reference_dict",
           "shown_from_fields")

OUTPUT_KEYS = {"_id": "id", CREATED: "created_at", UPDATED: "updated_at"}
UTC = datetime.timezone.utc
Populated = Mapping[str, Mapping[ObjectId, dict[str, Any]]]
# how one field is written: its stored name, its output key, the conversion of a value that
# is not None (None: the value as it is), and the value written when the key is missing
Step = tuple[str, str, Callable[[Any], Any] | None, Any]
# the fields (of exactly these classes) whose value, as stored, gives the same API JSON as
# the value a document loaded from it encodes (while loading nothing is trimmed; a time is
# written alike in any zone), and the type it must have for that (object: any)
SHOWN_AS_STORED: dict[type, type] = {
    fields.TextField: object,
    fields.NumberField: object,
    # (a time stored as another type is shown as stored too, by building its document)
    fields.UTCDateTimeField: datetime.datetime,
    fields.ObjectIdField: ObjectId,  # another is parsed when loaded: "AB12..." is shown "ab12..."
}


# the types of the values dump_stored shows as stored (kind object): any other is shown
# from its document, built
SCALARS = frozenset({str, int, float, bool})

# each number as a time's fields are written, looked up rather than formatted: a history's
# JSON writes a time for each of its turns
TWO_DIGITS = tuple(f"{number:02d}" for number in range(100))
THREE_DIGITS = tuple(f"{number:03d}" for number in range(1000))


# the date part of each day a time was written on ("2024-03-01T"), kept when first written:
# the times of a page fall on a few days (emptied when it holds DAYS_KEPT)
_day_parts: dict[datetime.date, str] = {}
DAYS_KEPT = 4096


def iso_utc(value: datetime.datetime) -> str:
    """``value`` as JavaScript's ``toISOString()`` writes it (a naive one taken as UTC):
    milliseconds, cut rather than rounded, and a four-digit year."""
    zone = value.tzinfo
    if zone is not None and zone is not UTC and zone is not BSON_UTC:
        value = value.astimezone(UTC)
    date = value.date()
    day = _day_parts.get(date)
    if day is None:
        if len(_day_parts) >= DAYS_KEPT:
            _day_parts.clear()
        day = _day_parts[date] = f"{value.year:04d}-{value.month:02d}-{value.day:02d}T"
    # isoformat(timespec="milliseconds") less its "+00:00", in a third of its time
    return (f"{day}{TWO_DIGITS[value.hour]}:{TWO_DIGITS[value.minute]}:"
            f"{TWO_DIGITS[value.second]}.{THREE_DIGITS[value.microsecond // 1000]}Z")


def _api_encoder(slot: FieldSlot) -> Callable[[Any], Any] | None:
    # what gives a value of slot's field that is not None as fast_paths.encode_fields gives
    # it inside encoding_for_api(), for a class whose to_mongo() hands on that encoding, as
    # far as its API JSON shows (None: as it is)
    kind = type(slot.field)
    if slot.encoder is not None and kind.to_mongo is EmbeddedListField.to_mongo:
        return cast(EmbeddedListField[Any], slot.field).documents_or_encoding
    if kind.to_mongo is UTCDateTimeField.to_mongo and kind._as_utc is UTCDateTimeField._as_utc:
        return None  # only puts a time in UTC, and _datetime writes one in any zone as in UTC
    return slot.encoder


def _shown_directly(field: Any) -> tuple[type, str] | None:
    # the class of the documents a reference field's value is populated from, and their id's
    # attribute, where mongoengine's ReferenceField.to_mongo encodes one of them holding an
    # ObjectId as that id (or a DBRef of it, which is shown alike); else None (its class is
    # abstract, when its reference holds a class name too, or not defined yet)
    if type(field).to_mongo not in (ReferenceField.to_mongo, fields.ReferenceField.to_mongo):
        return None
    try:
        target = field.document_type
    except NotRegistered:  # named, and not defined yet: encoding a value says so
        return None
    if target._meta.get("abstract") or target.pk is not Document.pk:
        return None
    id_name = target._meta.get("id_field")
    kind = type(target._fields.get(id_name))
    if kind.__get__ is not BaseField.__get__ or kind.to_mongo is not ObjectIdField.to_mongo:
        return None
    return target, id_name


def _copy_list(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def _id_string(value: Any) -> Any:
    return str(value) if isinstance(value, ObjectId) else value


def _datetime(value: Any) -> Any:
    return iso_utc(value) if isinstance(value, datetime.datetime) else value


# a conversion, the type of the values it converts as another function does, and that
# function (for a value of the type SHOWN_AS_STORED requires, which it then needn't check)
CONVERTED_AS: dict[Callable[[Any], Any] | None, tuple[type, Callable[[Any], Any]]] = {
    _id_string: (ObjectId, str), _datetime: (datetime.datetime, iso_utc)}


class ApiShape:
    """How one Document or EmbeddedDocument class is written as API JSON, compiled once."""

    def __init__(self, cls: type[BaseDocument]) -> None:
        hidden = set(getattr(cls, "api_hidden", ()))
        self.private = {cls._fields[name].db_field for name in getattr(cls, "api_private", ())}
        self.cls = cls
        self.steps: list[Step] = []
        self.references: dict[str, str] = {}  # stored name -> attribute name
        # by attribute: the shape of the documents a reference points at, what writes the
        # fields its routes show, and their stored names (see reference_shape)
        self.reference_shapes: dict[str, tuple[ApiShape, FieldsWriter | None, tuple[str, ...]]] = {}
        for name, field in cls._fields.items():
            if name in hidden:
                continue
            stored = field.db_field
            missing = [] if isinstance(field, ListField) else (
                None if callable(field.default) else field.default)
            target = element_field(field)
            convert: Callable[[Any], Any] | None = None
            if isinstance(target, ReferenceField):
                self.references[stored] = name  # resolved in dump()
            elif isinstance(target, EmbeddedDocumentField):
                convert = self._embedded(target.document_type, isinstance(field, ListField))
            elif isinstance(field, ObjectIdField):
                convert = _id_string
            elif isinstance(field, UTCDateTimeField):
                convert = _datetime
            elif isinstance(field, ListField):
                convert = _copy_list
            self.steps.append((stored, OUTPUT_KEYS.get(stored, stored), convert, missing))
        self.public_steps = [step for step in self.steps if step[0] not in self.private]
        # what writes a stored document's steps (then its public ones), for dump
        reference_keys = [(OUTPUT_KEYS.get(stored, stored), name)
                          for stored, name in self.references.items()]
        self.write_dict_all = dict_writer(self.steps, reference_keys)
        self.write_dict_public = dict_writer(self.public_steps, reference_keys)
        # for an embedded class whose documents the fast paths encode (fast_paths.encode_each):
        # the public steps, each with its field, for dump_document
        layout = layout_of(cls)
        self.by_field: list[tuple[Step, FieldSlot]] | None = None
        self.field_names = frozenset(cls._fields)
        # for a Document class whose layout encodes, for dump_fields: how every field (then
        # every public one) is written from its value, and the functions that write them all
        self.all_fields: list[WrittenField] | None = None
        self.public_fields: list[WrittenField] | None = None
        self.write_all: FieldsWriter | None = None
        self.write_public: FieldsWriter | None = None
        if layout is not None and not layout.embedded and layout.encodes:
            slot_of = {slot.field.db_field: slot for slot in layout.slots.values()}
            self.all_fields = [self._written(step, slot_of[step[0]]) for step in self.steps]
            self.public_fields = [item for item in self.all_fields
                                  if item.stored not in self.private]
            self.write_all = fields_writer(self.all_fields)
            self.write_public = fields_writer(self.public_fields)
        # and where every public field is shown as stored, the type each value must have
        # for its document to be written from what was stored, not built (dump_stored), one
        # step per public field
        self.from_stored: list[StoredStep] | None = None
        self.stored_keys: frozenset[str] = frozenset()  # the keys its fields store as they are
        self.write_stored: StoredWriter | None = None  # writes them (dump_stored)
        self.write_documents: DocumentsWriter | None = None  # and those of loaded documents
        if layout is not None and layout.embedded and layout.plain and layout.encodes:
            by_stored = {slot.field.db_field: slot for slot in layout.slots.values()}
            self.by_field = [(step, by_stored[step[0]]) for step in self.public_steps]
            kinds = [SHOWN_AS_STORED.get(type(slot.field)) for _, slot in self.by_field]
            if None not in kinds:
                self.from_stored = [StoredStep(stored, key,
                                               CONVERTED_AS[convert][1] if convert in CONVERTED_AS
                                               else convert, slot.field, cast(type, kind))
                                    for ((stored, key, convert, _), slot), kind
                                    in zip(self.by_field, kinds, strict=True)]
                self.stored_keys = frozenset(layout.by_stored)
                self.write_stored = stored_writer(self.from_stored, self.stored_keys, SCALARS)
                if hasattr(cls, STORED):  # its documents can be loaded and not built yet
                    self.write_documents = documents_writer(self.from_stored, self.stored_keys,
                                                            SCALARS, cls, STORED)

    def _written(self, step: Step, slot: FieldSlot) -> WrittenField:
        stored, key, convert, missing = step
        # the encoding leaves a missing value's key out, and then adds an unmodelled key of
        # that name if the document holds one
        encode = _api_encoder(slot)
        rows = None
        if isinstance(slot.field, EmbeddedListField) and encode == slot.field.documents_or_encoding:
            try:
                shape: ApiShape | None = api_shape(slot.field.field.document_type)
            except Exception:  # raised again when a list of them is written, as before
                shape = None
            if shape is not None and shape.write_documents is not None:
                rows = shape.stored_rows
        return WrittenField(slot.name, stored, key, convert, missing, encode, slot.field,
                            stored not in self.field_names, self.references.get(stored),
                            _shown_directly(slot.field), rows, CONVERTED_AS.get(convert))

    @staticmethod
    def _embedded(cls: type[BaseDocument], many: bool) -> Callable[[Any], Any]:
        def one(value: Any) -> Any:
            if type(value) is dict or isinstance(value, Mapping):
                return api_shape(cls).dump(value)
            return value

        if not many:
            return one

        def each(values: Any) -> Any:
            if not isinstance(values, list):
                return values
            # the documents themselves in fast_paths.encoding_for_api
            return api_shape(cls).dump_list(values)

        return each

    def dump_list(self, values: list[Any]) -> list[Any]:
        """Each of ``values`` (a list field's value) as its API dict: a document of this
        class by :meth:`dump_document`, a mapping by :meth:`dump`, anything else as it is.
        Where all are dicts (as pymongo reads a list of them), each is written by the same
        function; where all are documents of this class loaded and not built yet, they are
        written from their stored documents in one pass (:meth:`stored_rows`)."""
        if values and set(map(type, values)) == {dict}:  # as pymongo reads them
            write = self.write_dict_public
            return [write(self, value, {}) for value in values]
        rows = self.stored_rows(values)
        if rows is not None:
            return rows
        cls = self.cls
        return [self.dump_document(value) if type(value) is cls
                else self.dump(value) if isinstance(value, Mapping) else value
                for value in values]

    def stored_rows(self, values: list[Any]) -> list[dict[str, Any]] | None:
        """What :meth:`dump_stored` writes of each of ``values``, where all are documents of
        this class loaded and not built yet, and each is written that way; else None. When
        all were read as BSON, they are decoded in one call, their times without a zone
        (which dump_stored writes alike, and shows no other way)."""
        write = self.write_documents
        if write is None or not values or not isinstance(values, list):
            return None
        rows = write(values)  # where each holds a dict
        if rows is not None or len(values) == 1 or set(map(type, values)) != {self.cls}:
            return rows
        sons = list(map(STORED_SON, values))
        if NoneType in set(map(type, sons)) or not all(map(is_bson, sons)):
            return None
        together = decoded_for_json(sons)
        if together is None:
            return None
        written = list(map(cast(StoredWriter, self.write_stored), together))
        return None if None in written else cast(list[dict[str, Any]], written)

    def dump(
        self,
        raw: Mapping[str, Any],
        populated: Populated | None = None,
        only: Iterable[str] | None = None,
        private: bool = False,
    ) -> dict[str, Any]:
        """The API dict of one stored document (``only``: these stored names and the id;
        ``private``: with the fields the model keeps out of its JSON unless asked)."""
        if only is None:
            return (self.write_dict_all if private else self.write_dict_public)(
                self, raw, populated or {})
        wanted = {"_id", *only}
        steps = [step for step in (self.steps if private else self.public_steps)
                 if step[0] in wanted]
        out: dict[str, Any] = {}
        for stored, key, convert, missing in steps:
            value = raw.get(stored, missing)
            out[key] = value if value is None or convert is None else convert(value)
        for stored, name in self.references.items():
            key = OUTPUT_KEYS.get(stored, stored)
            value = out.get(key)
            if value is not None:
                out[key] = self._reference(value, (populated or {}).get(name, {}))
        return out

    def dump_fields(self, document: Any, populate: Collection[str] = (),
                    private: bool = False) -> dict[str, Any] | None:
        """``self.dump(document.to_mongo(), ...)`` of a Document, with the references named in
        ``populate`` that hold documents shown as their small dicts, written from the fields
        it shows without building its encoding (a field it does not show is not encoded);
        None where its ``to_mongo()`` is not :func:`shown_from_fields`, its class's layout
        does not encode, or a value fails to encode (the encoding then raises its error)."""
        write = self.write_all if private else self.write_public
        if write is None or not self._written_from_fields(type(document)):
            return None
        # a value the writers leave to its field's encoding is encoded as for the API (its
        # documents as dicts, not SON), as dump(to_mongo()) shows it
        token = encoding_for_api_entered()
        try:
            return write(self, document._data, document._minimized_fields(), populate)
        except Exception:  # to_mongo() raises it (or the error it would raise first)
            return None
        finally:
            encoding_left(token)

    def _written_from_fields(self, cls: type) -> bool:
        # whether a document of cls is written by this shape's fields writers: it is of this
        # class, whose layout encodes and whose to_mongo() is shown_from_fields
        to_mongo = getattr(cls, "to_mongo", None)
        return (cls is self.cls and layout_of(cls) is not None
                and getattr(to_mongo, "shown_from_fields", None) is to_mongo)

    def shown_references(self, value: Any, name: str) -> dict[ObjectId, dict[str, Any]]:
        """The small API dicts of the Documents among ``value`` (the value of reference
        ``name``, or a list of them), by id; inside ``fast_paths.encoding_for_api()``."""
        return {item.pk: self.shown_reference(item, name)
                for item in (value if isinstance(value, list) else [value])
                if isinstance(item, Document)}

    def shown_reference(self, document: Document, name: str) -> dict[str, Any]:
        """The small API dict of ``document``, held by reference ``name``; inside
        ``fast_paths.encoding_for_api()``."""
        shape, write, only = self.reference_shape(name)
        if write is not None and shape._written_from_fields(type(document)):
            return write(shape, document._data, document._minimized_fields(), ())
        return shape.dump(document.to_mongo(), only=only)

    def reference_shape(self, name: str) -> tuple[ApiShape, FieldsWriter | None, tuple[str, ...]]:
        """The shape of the documents reference ``name`` points at, what writes the fields
        its routes show, and their stored names (worked out once)."""
        found = self.reference_shapes.get(name)
        if found is None:
            found = self.reference_shapes[name] = _reference_steps(self.cls, name)
        return found

    def dump_document(self, document: Any) -> dict[str, Any]:
        """``self.dump(document.to_mongo())`` of an embedded document, written from its fields
        where its class's ``by_field`` steps were worked out (``to_mongo()`` is then
        ``fast_paths.encode_fields()`` with the unmodelled keys added, whose rules this follows),
        without building that dict."""
        if self.by_field is None:
            return self.dump(document.to_mongo())
        stored_son = STORED_SON(document)
        if stored_son is not None and self.from_stored is not None:
            shown = self.dump_stored(stored_son)
            if shown is not None:
                return shown
        data = document._data  # builds a document loaded in a list and not used yet
        out: dict[str, Any] = {}
        for (stored, key, convert, missing), slot in self.by_field:
            value = data.get(slot.name)
            if value is not None and slot.encoder is not None:
                value = slot.encoder(value)
            if value is None and (stored == "_id" or not slot.field.null):
                # encode_fields() leaves the key out (an embedded document's "_id" even if null),
                # and then adds an unmodelled key of that name if the document holds one
                value = missing if stored in self.field_names else data.get(stored, missing)
            out[key] = value if value is None or convert is None else convert(value)
        return out

    def dump_stored(self, son: Mapping[str, Any]) -> dict[str, Any] | None:
        """What :meth:`dump_document` writes of a document of this class loaded in a list
        from ``son`` and not built yet (see ``fast_paths.build_loaded``), written from
        ``son`` without building it; None where loading could show something else: a key
        no field stores as it is, a value of another type (one shown as stored that is not a
        string, a number or a bool: a time there could have been read without its zone, see
        :meth:`dump_list`), or a None (or a missing value) that its field's default would
        replace."""
        if self.write_stored is None:
            return None
        if is_bson(son):  # decoded once, as building decodes it
            son = decoded(son)
        return self.write_stored(son)

    @staticmethod
    def _reference(value: Any, found: Mapping[ObjectId, dict[str, Any]]) -> Any:
        if isinstance(value, list):
            return [found.get(reference_id(v)) or _id_string(reference_id(v)) for v in value]
        return found.get(reference_id(value)) or _id_string(reference_id(value))


_shapes: dict[type, ApiShape] = {}  # by class


def api_shape(cls: type[BaseDocument]) -> ApiShape:
    """The compiled :class:`ApiShape` of ``cls``, made once per class."""
    shape = _shapes.get(cls)
    if shape is None:  # (made twice where two threads ask at once: either is kept)
        shape = _shapes.setdefault(cls, ApiShape(cls))
    return shape


def shown_from_fields(method: Any) -> Any:
    """Mark a Document's ``to_mongo`` that is :func:`.fast_paths.encode_fields` with the keys
    the class does not model added back and its ``_minimized_fields()`` left out where
    empty: its API JSON is then written from its fields (:meth:`ApiShape.dump_fields`). The
    mark names the method itself, so that a wrapper that copies it marks nothing."""
    method.shown_from_fields = method
    return method


def _reference_steps(cls: type[BaseDocument], name: str
                     ) -> tuple[ApiShape, FieldsWriter | None, tuple[str, ...]]:
    target = reference_target(cls, name)
    only = tuple(stored_names(target, cast(Any, cls).api_references[name]))
    shape = api_shape(target)
    wanted = {"_id", *only}
    write = (None if shape.public_fields is None
             else fields_writer([item for item in shape.public_fields if item.stored in wanted]))
    return shape, write, only


def reference_dict(cls: type[BaseDocument], name: str, stored: Mapping[str, Any]) -> dict[str, Any]:
    """The small API dict of a document that reference ``name`` of ``cls`` points at."""
    shape, _, only = api_shape(cls).reference_shape(name)
    return shape.dump(stored, only=only)


def populated_dicts(
    cls: type[BaseDocument], loaded: Mapping[str, list[Mapping[str, Any]]]
) -> dict[str, dict[ObjectId, dict[str, Any]]]:
    """The small API dicts of referenced documents, by attribute and id."""
    return {name: {row["_id"]: reference_dict(cls, name, row) for row in rows}
            for name, rows in loaded.items()}
