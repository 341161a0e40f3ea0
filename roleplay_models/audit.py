"""Auditing a live database, shared with a less strict writer, against the models; it writes nothing."""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bson import DBRef, ObjectId
from bson.codec_options import DatetimeConversion
from bson.regex import Regex
from mongoengine import Document, ValidationError, signals
from mongoengine.base import BaseDocument
from mongoengine.errors import InvalidDocumentError, MongoEngineException
from mongoengine.fields import EmbeddedDocumentField, ListField, ObjectIdField, ReferenceField
from pymongo.errors import OperationFailure

from .db.server import count_every_document, in_one_reply, server_facts
from .models import MODELS
from .odm import _mongoengine as me
from .odm import fields as model_fields
from .odm.fast_paths import EmbeddedListField, layout_of
from .odm.fields import loading_from_database

__all__ = (
    "AuditReport",
    "DEFAULT_BATCH_SIZE",
    "DuplicateValue",
    "FIRST_IDS",
    "AuditFinding",
    "IndexFinding",
    "MAX_GROUPS",
    "ModelAudit",
    "audit",
)

DEFAULT_BATCH_SIZE = 1000
FIRST_IDS = 5  # ids kept per finding: enough to look a few up, bounded whatever the count
MAX_GROUPS = 1000  # distinct findings kept per model and kind; the rest are counted together
OTHER_GROUPS = "(other)"
WHOLE_DOCUMENT = "(document)"
KNOWN_EXTRA_KEYS = frozenset({"__v"})  # mongoose's version key: every document it writes has one
NOT_IMPLEMENTED = 238  # the server's answer to an operator it lacks (FerretDB's NotImplemented)
JSON_VERSION = 1


@dataclass
class AuditFinding:
    """Documents that share one fault: ``field`` as stored (``conversation_history[].role``,
    list positions as ``[]``), ``rule`` what is wrong, ``count`` how many documents, and
    ``first_ids`` the ``_id`` of the first few read."""

    field: str
    rule: str
    count: int = 0
    first_ids: list[Any] = dataclasses.field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """This finding in the audit's JSON shape (ids as hex strings)."""
        return {"field": self.field, "rule": self.rule, "count": self.count,
                "first_ids": [_plain(i) for i in self.first_ids]}


@dataclass
class DuplicateValue:
    """A value that several documents hold in a field declared unique whose unique index is
    missing: how many documents hold it, and the ``_id`` of the first few."""

    field: str
    value: Any
    count: int
    first_ids: list[Any]

    def as_json(self) -> dict[str, Any]:
        """This duplicate in the audit's JSON shape (the value and ids as JSON holds them)."""
        return {"field": self.field, "value": _plain(self.value), "count": self.count,
                "first_ids": [_plain(i) for i in self.first_ids]}


@dataclass(frozen=True)
class IndexFinding:
    """A declared index the collection lacks, or one it has that no model declares.
    ``counted`` is False for what the server cannot have (a text index where it has no
    text search), which ``note`` explains."""

    keys: tuple[tuple[str, Any], ...]
    counted: bool = True
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        """This index in the audit's JSON shape: its keys as ``[name, direction]`` pairs."""
        return {"keys": [[name, direction] for name, direction in self.keys],
                "counted": self.counted, "note": self.note}


@dataclass
class ModelAudit:
    """What the audit found in one model's collection."""

    model: str
    collection: str
    documents: int = 0
    invalid_documents: int = 0
    invalid: list[AuditFinding] = dataclasses.field(default_factory=list)
    unknown_keys: list[AuditFinding] = dataclasses.field(default_factory=list)
    missing_references: list[AuditFinding] = dataclasses.field(default_factory=list)
    duplicates: list[DuplicateValue] = dataclasses.field(default_factory=list)
    missing_indexes: list[IndexFinding] = dataclasses.field(default_factory=list)
    extra_indexes: list[IndexFinding] = dataclasses.field(default_factory=list)

    @property
    def problems(self) -> int:
        """How many findings there are (each group of documents, value or index is one)."""
        return (len(self.invalid) + len(self.unknown_keys) + len(self.missing_references)
                + len(self.duplicates) + sum(i.counted for i in self.missing_indexes)
                + len(self.extra_indexes))

    def as_json(self) -> dict[str, Any]:
        """What was found in this collection, in the audit's JSON shape."""
        return {
            "collection": self.collection,
            "documents": self.documents,
            "invalid_documents": self.invalid_documents,
            "invalid": [f.as_json() for f in self.invalid],
            "unknown_keys": [f.as_json() for f in self.unknown_keys],
            "missing_references": [f.as_json() for f in self.missing_references],
            "duplicates": [d.as_json() for d in self.duplicates],
            "missing_indexes": [i.as_json() for i in self.missing_indexes],
            "extra_indexes": [i.as_json() for i in self.extra_indexes],
            "problems": self.problems,
        }


@dataclass
class AuditReport:
    """What :func:`audit` found, per model, on the server ``server`` describes."""

    server: str
    models: list[ModelAudit]

    @property
    def problems(self) -> int:
        """How many findings there are in all the models together."""
        return sum(m.problems for m in self.models)

    @property
    def clean(self) -> bool:
        """Nothing found: the exit status of ``roleplay-models audit`` is 0."""
        return self.problems == 0

    def as_json(self) -> dict[str, Any]:
        """The stable JSON shape ``roleplay-models audit --json`` prints (see the guide)."""
        return {"version": JSON_VERSION, "server": self.server, "clean": self.clean,
                "problems": self.problems,
                "models": {m.model: m.as_json() for m in self.models}}


def _plain(value: Any) -> Any:
    """``value`` as JSON can hold it: an ObjectId as its hex string, a datetime in ISO 8601,
    any other non-JSON value as its ``str``."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return str(value)


# --- the rules a document breaks -----------------------------------------------------------

_VALUE_DEPENDENT_RULES = (
    # the model's message -> the rule, without the value that broke it
    (re.compile(r"^Field is required( and cannot be blank)?$"), lambda m: "required"),
    (re.compile(r"^Value must be one of (\(.*\))$"), lambda m: f"not one of {m.group(1)}"),
    (re.compile(r"^\S+ only accepts True or False, not \S+$"), lambda m: "not true or false"),
    (re.compile(r"^Text is \d+ bytes of UTF-8; at most (\d+) are allowed$"),
     lambda m: f"over {m.group(1)} bytes of UTF-8"),
    (re.compile(r"^The source SON object needs to be of type 'dict'"),
     lambda m: "not an embedded document"),
)


def _rule(message: str) -> str:
    for pattern, rule in _VALUE_DEPENDENT_RULES:
        found = pattern.match(message)
        if found:
            return rule(found)
    return message


def _stored_name(owner: Any, name: str) -> tuple[str, Any]:
    """The stored name of field ``name`` of document class ``owner``, and the field."""
    found = getattr(owner, "_fields", {}).get(name)
    return (found.db_field, found) if found is not None else (name, None)


def _broken_rules(error: Any, owner: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(stored field path, rule) for each leaf of a mongoengine ValidationError's tree;
    ``owner`` is the document class (or list field) the error's keys are fields of."""
    errors = error.errors if isinstance(error, ValidationError) else error
    if not isinstance(errors, dict) or not errors:
        message = error.message if isinstance(error, ValidationError) else str(error)
        yield path or WHOLE_DOCUMENT, _rule(message)
        return
    for key, sub in errors.items():
        if isinstance(key, int):  # a position in a list: every position is grouped as []
            sub_path, child = path + "[]", getattr(owner, "field", None)
        elif key == me.WHOLE_DOCUMENT_ERRORS:
            sub_path, child = path or WHOLE_DOCUMENT, None
        else:
            stored, child = _stored_name(owner, str(key))
            sub_path = f"{path}.{stored}" if path else stored
        if isinstance(child, EmbeddedDocumentField):
            child = child.document_type
        yield from _broken_rules(sub, child, sub_path)


_UNLOADABLE_FIELD = re.compile(r"^Field '([^']+)' - (.*)$", re.MULTILINE)


def _loaded(model: Any, raw: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """``raw`` loaded by the model's own ``_from_son`` under the package's loading context
    (nothing trimmed or converted), and the fields mongoengine could not load, by name with
    its reason: those are left out and the rest is loaded."""
    try:
        with loading_from_database():
            return model._from_son(raw), {}
    except InvalidDocumentError as err:
        unloadable = dict(_UNLOADABLE_FIELD.findall(str(err)))
        if not unloadable:
            raise
    stored = {_stored_name(model, name)[0] for name in unloadable}
    with loading_from_database():
        document = model._from_son({k: v for k, v in raw.items() if k not in stored})
    return document, unloadable


def _refusals(model: Any, raw: dict[str, Any]) -> set[tuple[str, str]]:
    """The (stored field, rule) pairs ``raw`` breaks: the model's ``_from_son`` then
    ``validate()``, exactly as a save would check it."""
    try:
        document, unloadable = _loaded(model, raw)
    except (MongoEngineException, ValueError, TypeError, AttributeError) as err:
        return {(WHOLE_DOCUMENT, f"cannot be loaded: {str(err).splitlines()[0]}")}
    broken = {(_stored_name(model, name)[0], f"cannot be loaded: {_rule(message)}")
              for name, message in unloadable.items()}
    try:
        document.validate()
    except ValidationError as err:
        left_out = {field for field, _ in broken}  # their values were not loaded
        broken.update(pair for pair in _broken_rules(err, model) if pair[0] not in left_out)
    return broken


# --- documents that break no rule, told without building them ------------------------------
#
# Loading a stored session and validating it builds a Document per turn: most of an audit's
# time. A document the checks below pass is one the model's own ``_from_son`` and
# ``validate()`` would refuse nothing in: each stored value goes through the same field
# objects' ``to_python``, default and ``validate`` as loading and validating take it, and the
# classes' own ``clean()`` runs. Anything these checks do not cover, and every value they
# refuse, goes to :func:`_refusals`, so that the findings are always the model's, word for word.

_PLAIN, _REFERENCE, _EMBEDDED, _EMBEDDED_LIST = range(4)


@dataclass(frozen=True)
class _FieldCheck:
    name: str
    stored: str
    field: Any
    kind: int
    assigned: Callable[[Any], Any] | None = None  # a plain field's step before its setter's
    inner: _ClassCheck | None = None  # an embedded document's (or a list item's) checks
    # a plain field's checks of a value and a type that passes them (FieldSlot.value_check)
    check: Callable[[Any], Any] | None = None
    valid_as_is: type = type(None)


@dataclass(frozen=True)
class _ClassCheck:
    cls: Any
    fields: tuple[_FieldCheck, ...]
    stored: frozenset[str]  # the stored names of its fields
    refused_keys: frozenset[str]  # stored keys that make mongoengine's loading do more
    cleans: bool  # the class has a clean() of its own
    plain: bool  # every field plain and no clean() of its own: one loop checks it


def _takes_object_ids(model: Any) -> bool:
    return isinstance(model._fields.get(model._meta.get("id_field", "id")), ObjectIdField)


def _class_check(cls: Any) -> _ClassCheck | None:
    """How to check stored documents of ``cls`` without building them, or None when one of
    its fields is of a kind the checks do not cover (its documents are then all loaded)."""
    layout = layout_of(cls)
    if layout is None:
        return None
    fields = []
    for name in me.fields_ordered(cls):
        slot = layout.slots[name]
        field, check = slot.field, None
        if slot.plain:
            value_check, valid_as_is = slot.value_check()
            check = _FieldCheck(name, field.db_field, field, _PLAIN, slot.assigned,
                                check=value_check, valid_as_is=valid_as_is)
        elif field.validation is not None or field.choices:
            return None
        elif (type(field) is model_fields.ReferenceField and field.default is None
              and _takes_object_ids(field.document_type)):
            check = _FieldCheck(name, field.db_field, field, _REFERENCE)
        elif type(field) is model_fields.EmbeddedDocumentField:
            inner = _plain_embedded_check(field.document_type)
            if inner is not None:
                check = _FieldCheck(name, field.db_field, field, _EMBEDDED, inner=inner)
        elif (type(field) is EmbeddedListField and not field.required
              and field.max_length is None and field.field.validation is None
              and not field.field.choices):
            inner = _plain_embedded_check(field.field.document_type)
            if inner is not None:
                check = _FieldCheck(name, field.db_field, field, _EMBEDDED_LIST, inner=inner)
        if check is None:
            return None
        fields.append(check)
    renamed = {name for name, stored in layout.db_field_map.items() if name != stored}
    return _ClassCheck(
        cls, tuple(fields), frozenset(check.stored for check in fields),
        frozenset({me.CLASS_KEY, *me.INIT_OPTIONS, *me.ATTRIBUTE_KEYS, *renamed}) - {"_id"},
        cls.clean is not BaseDocument.clean,
        cls.clean is BaseDocument.clean and all(check.kind == _PLAIN for check in fields))


def _plain_embedded_check(cls: Any) -> _ClassCheck | None:
    layout = layout_of(cls)
    return _class_check(cls) if layout is not None and layout.plain else None


def _watched(check: _ClassCheck) -> bool:
    """Whether a receiver of building (``pre_init``, ``post_init``) may change what loading
    gives, for ``check``'s class or one inside it."""
    classes = [check.cls] + [f.inner.cls for f in check.fields if f.inner is not None]
    return any(next(iter(signal.receivers_for(cls)), None) is not None
               for signal in (signals.pre_init, signals.post_init) for cls in classes)


def _default(field: Any) -> Any:
    """What a document built with None in ``field`` holds there (mongoengine's ``__set__``)."""
    if field.null or field.default is None:
        return None
    return field.default() if callable(field.default) else field.default


def _breaks_nothing(check: _ClassCheck, raw: Any) -> bool:
    """True only if the model's ``_from_son`` and ``validate()`` refuse nothing in ``raw``;
    False says nothing (:func:`_refusals` decides). Run inside ``loading_from_database()``."""
    if type(raw) is not dict or not check.refused_keys.isdisjoint(raw):
        return False
    if check.plain:
        return _plain_breaks_nothing(check.fields, raw)
    data: dict[str, Any] | None = {} if check.cleans else None
    for one in check.fields:
        field, value = one.field, raw.get(one.stored)
        checked = False  # an embedded document or list checked as stored
        try:
            if value is not None:
                if one.kind == _PLAIN:
                    value = field.to_python(value)
                    if one.assigned is not None:
                        value = one.assigned(value)
                elif one.kind == _REFERENCE:
                    if type(value) is not ObjectId:  # a DBRef or a malformed id: loaded
                        return False
                    value = field.to_python(value)
                elif one.kind == _EMBEDDED:
                    if not _breaks_nothing(one.inner, value):  # type: ignore[arg-type]
                        return False
                    checked = True
                else:
                    inner = one.inner
                    if type(value) is not list or not all(
                            _breaks_nothing(inner, item)  # type: ignore[arg-type]
                            for item in value):
                        return False
                    checked = True
            if value is None:  # the default, as the model's setter gives it, checked as built
                value = _default(field)
            if value is None:
                if field.required:
                    return False
            elif not checked:
                me.validate_value(field, value)
        except Exception:  # a value the field refuses: the model's own path names it
            return False
        if data is not None:
            data[one.name] = value
    if data is None:
        return True
    for key, value in raw.items():  # unmodelled keys, held as stored
        if key not in check.stored:
            data[key] = value
    return _cleans(check.cls, data)


def _plain_breaks_nothing(fields: tuple[_FieldCheck, ...], raw: dict[str, Any]) -> bool:
    """:func:`_breaks_nothing` of a class whose fields are all plain and which has no
    ``clean()`` of its own (a session's turn): the same steps, in one loop."""
    try:
        for one in fields:
            field = one.field
            value = raw.get(one.stored)
            if value is not None:
                value = field.to_python(value)
                if one.assigned is not None:
                    value = one.assigned(value)
            if value is None:
                value = _default(field)
                if value is None:
                    if field.required:
                        return False
                    continue
            if type(value) is not one.valid_as_is:
                one.check(value)  # type: ignore[misc]  # every plain field has one
    except Exception:  # a value the field refuses: the model's own path names it
        return False
    return True


def _cleans(cls: Any, data: dict[str, Any]) -> bool:
    """Whether the class's own ``clean()`` passes on a document holding ``data`` (embedded
    documents in it still as stored: a clean() that looks into them fails, and the document
    is then loaded)."""
    document = cls.__new__(cls)
    document._data = data
    try:
        cls.clean(document)
    except Exception:
        return False
    return True


def _findings(model: Any, check: _ClassCheck | None, raw: dict[str, Any]
              ) -> set[tuple[str, str]]:
    """What :func:`_refusals` gives for ``raw``, without loading it when ``check`` finds that
    it breaks nothing."""
    if check is not None:
        with loading_from_database():
            if _breaks_nothing(check, raw):
                return set()
    return _refusals(model, raw)


# --- keys no model knows, and references --------------------------------------------------

@dataclass(frozen=True)
class _Shape:
    """The stored keys of a document class, and the shapes of its embedded documents
    (``lists`` for lists of them)."""

    known: frozenset[str]
    embedded: dict[str, _Shape]
    lists: dict[str, _Shape]


def _shape(owner: Any, extra_known: Iterable[str] = ()) -> _Shape:
    embedded: dict[str, _Shape] = {}
    lists: dict[str, _Shape] = {}
    for model_field in owner._fields.values():
        inner = model_field.field if isinstance(model_field, ListField) else model_field
        if isinstance(inner, EmbeddedDocumentField):
            target = lists if isinstance(model_field, ListField) else embedded
            target[model_field.db_field] = _shape(inner.document_type)
    known = frozenset({f.db_field for f in owner._fields.values()} | {"_id", *extra_known})
    return _Shape(known, embedded, lists)


def _unknown_keys(raw: dict[str, Any], shape: _Shape, path: str = "") -> Iterator[str]:
    known = shape.known
    for key in raw:
        if key not in known:
            yield f"{path}{key}"
    for key, inner in shape.embedded.items():
        value = raw.get(key)
        if isinstance(value, dict):
            yield from _unknown_keys(value, inner, f"{path}{key}.")
    for key, inner in shape.lists.items():
        value = raw.get(key)
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    yield from _unknown_keys(item, inner, f"{path}{key}[].")


@dataclass(frozen=True)
class _Reference:
    stored: str
    target: Any
    many: bool


def _references(model: Any) -> list[_Reference]:
    found = []
    for model_field in model._fields.values():
        inner = model_field.field if isinstance(model_field, ListField) else model_field
        if isinstance(inner, ReferenceField):
            found.append(_Reference(model_field.db_field, inner.document_type,
                                    isinstance(model_field, ListField)))
    return found


def _can_be_an_id(value: Any) -> bool:
    """Whether ``value`` can be a stored ``_id`` and so be looked up by equality: no array,
    no regular expression (``$in`` would match by pattern), no document with an operator."""
    if isinstance(value, (list, tuple, Regex, re.Pattern)):
        return False
    if isinstance(value, dict):
        return not any(str(key).startswith("$") for key in value)
    return True


def _id_key(value: Any) -> Any:
    return repr(value) if isinstance(value, dict) else (type(value) is bool, value)


# --- what is found, in bounded memory -----------------------------------------------------

class _Groups:
    """Findings keyed by (field, rule), at most MAX_GROUPS of them; further ones are counted
    in one ``(other)`` group."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, str], AuditFinding] = {}

    def add(self, key: tuple[str, str], document_id: Any) -> None:
        finding = self.found.get(key)
        if finding is None:
            if len(self.found) >= MAX_GROUPS:
                key = (OTHER_GROUPS, OTHER_GROUPS)
                finding = self.found.get(key)
            if finding is None:
                finding = self.found[key] = AuditFinding(*key)
        finding.count += 1
        if len(finding.first_ids) < FIRST_IDS:
            finding.first_ids.append(document_id)

    def sorted(self) -> list[AuditFinding]:
        return sorted(self.found.values(), key=lambda f: (f.field, f.rule))


def _batches(cursor: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """The cursor's documents, ``size`` at a time; the next batch is read while the caller
    works on this one (one thread, at most two batches held)."""
    handoff: queue.Queue[Any] = queue.Queue(maxsize=1)
    done = object()
    stop = threading.Event()

    def read() -> None:
        try:
            documents = iter(cursor)
            while not stop.is_set():
                batch = list(itertools.islice(documents, size))
                if not batch:
                    break
                handoff.put(batch)
        except BaseException as err:  # handed to the caller, which raises it
            handoff.put(err)
            return
        handoff.put(done)

    reader = threading.Thread(target=read, name="roleplay-audit-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = handoff.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting to hand over a batch
            try:
                handoff.get(timeout=0.1)
            except queue.Empty:
                pass


def _read_collection(model: Any) -> Any:
    """The model's collection, decoding exactly what is stored: a date outside Python's
    range comes back as a ``DatetimeMS`` and a string of invalid UTF-8 with its bytes
    escaped, for the model's rules to refuse, instead of failing the read. Aware dates are
    read in ``datetime.timezone.utc`` (not pymongo's own UTC), which the fields hold."""
    collection = model._get_collection()
    options = collection.codec_options.with_options(
        datetime_conversion=DatetimeConversion.DATETIME_AUTO,
        unicode_decode_error_handler="surrogateescape")
    if options.tz_aware:
        options = options.with_options(tzinfo=datetime.timezone.utc)
    return collection.with_options(codec_options=options)


def _audit_documents(model: Any, found: ModelAudit, batch_size: int,
                     progress: Callable[[int], None]) -> None:
    shape = _shape(model, KNOWN_EXTRA_KEYS)
    references = _references(model)
    check = _class_check(model)
    invalid, unknown, missing = _Groups(), _Groups(), _Groups()
    cursor = _read_collection(model).find({}, batch_size=batch_size)
    try:
        for batch in _batches(cursor, batch_size):
            wanted: dict[Any, dict[Any, Any]] = {}
            quick = check if check is not None and not _watched(check) else None
            for raw in batch:
                document_id = raw.get("_id")
                broken = _findings(model, quick, raw)
                if broken:
                    found.invalid_documents += 1
                    for key in broken:
                        invalid.add(key, document_id)
                for path in set(_unknown_keys(raw, shape)):
                    unknown.add((path, "unknown key"), document_id)
                for reference in references:
                    value = raw.get(reference.stored)
                    for item in value if reference.many and isinstance(value, list) else [value]:
                        if item is None:
                            continue
                        target_id = item.id if isinstance(item, DBRef) else item
                        if _can_be_an_id(target_id):
                            wanted.setdefault(reference.target, {})[_id_key(target_id)] = target_id
            existing = {target: _existing(target, ids) for target, ids in wanted.items()}
            for raw in batch:
                for reference in references:
                    value = raw.get(reference.stored)
                    items = value if reference.many and isinstance(value, list) else [value]
                    for item in items:
                        if item is None:
                            continue
                        target_id = item.id if isinstance(item, DBRef) else item
                        if (not _can_be_an_id(target_id)
                                or _id_key(target_id) not in existing[reference.target]):
                            missing.add((reference.stored,
                                         f"refers to a missing {reference.target.__name__}"),
                                        raw.get("_id"))
                            break
            found.documents += len(batch)
            progress(len(batch))
    finally:
        cursor.close()
    found.invalid, found.unknown_keys = invalid.sorted(), unknown.sorted()
    found.missing_references = missing.sorted()


def _existing(target: Any, ids: dict[Any, Any]) -> set[Any]:
    """Which of ``ids`` are the ``_id`` of a ``target`` document: one ``$in`` query."""
    cursor = target._get_collection().find({"_id": {"$in": list(ids.values())}}, {"_id": 1})
    return {_id_key(document["_id"]) for document in in_one_reply(cursor, len(ids))}


# --- unique fields and indexes ------------------------------------------------------------

def _has_unique_index(collection: Any, stored: str) -> bool:
    return any(info.get("unique") and list(info["key"]) == [stored]
               for info in collection.list_indexes())


def _duplicates(model: Any, stored: str, group_accumulators: bool) -> list[DuplicateValue]:
    """Values of ``stored`` held by more than one document (missing and null values are left
    to the ``required`` rule): grouped by the server where its ``$group`` computes several
    accumulators, else found in a scan sorted by the field, reading only the field."""
    collection = _read_collection(model)
    if group_accumulators:
        pipeline = [
            {"$match": {stored: {"$ne": None}}},
            {"$group": {"_id": f"${stored}", "n": {"$sum": 1}, "ids": {"$push": "$_id"}}},
            {"$match": {"n": {"$gt": 1}}},
            {"$project": {"n": 1, "ids": {"$slice": ["$ids", FIRST_IDS]}}},
            {"$sort": {"_id": 1}},
        ]
        try:
            return [DuplicateValue(stored, row["_id"], row["n"], row["ids"])
                    for row in itertools.islice(
                        collection.aggregate(pipeline, allowDiskUse=True), MAX_GROUPS)]
        except OperationFailure as err:
            if err.code != NOT_IMPLEMENTED:
                raise
    found: list[DuplicateValue] = []
    current: DuplicateValue | None = None
    cursor = collection.find({stored: {"$ne": None}}, {stored: 1}).sort([(stored, 1), ("_id", 1)])
    for row in cursor:
        value = row.get(stored)
        if current is not None and _id_key(current.value) == _id_key(value):
            current.count += 1
            if len(current.first_ids) < FIRST_IDS:
                current.first_ids.append(row["_id"])
            continue
        if current is not None and current.count > 1 and len(found) < MAX_GROUPS:
            found.append(current)
        current = DuplicateValue(stored, value, 1, [row["_id"]])
    if current is not None and current.count > 1 and len(found) < MAX_GROUPS:
        found.append(current)
    return found


def _indexes(model: Any, text_search: bool) -> tuple[list[IndexFinding], list[IndexFinding]]:
    """Missing and extra indexes as mongoengine's ``compare_indexes()`` finds them (it reads
    a text index stored as ``_fts``/``_ftsx`` as the fields it covers)."""
    compared = model.compare_indexes()
    missing = []
    for keys in compared["missing"]:
        keys = tuple(tuple(pair) for pair in keys)
        if not text_search and any(direction == "text" for _, direction in keys):
            missing.append(IndexFinding(keys, counted=False, note=(
                "this server has no text search; search() matches words with a "
                "case-insensitive pattern instead")))
        else:
            missing.append(IndexFinding(keys))
    extra = [IndexFinding(tuple(tuple(pair) for pair in keys)) for keys in compared["extra"]]
    return missing, extra


# --- the audit ----------------------------------------------------------------------------

def audit(
    models: Sequence[type[Document]] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> AuditReport:
    """Check every document of the models' collections (by default the package's five)
    against the models, over the default connection, and report what the models refuse,
    keys they do not know, references to missing documents, duplicates of unique values
    whose unique index is missing, and missing or extra indexes.

    It reads in batches of ``batch_size`` (memory does not grow with the collection),
    sends no write and changes nothing. ``progress(done, total)`` is called after each
    batch with the documents read so far and the collections' size, asked only when
    ``progress`` is given (a server that counts by reading every document, FerretDB v1,
    reads them once more for it). A
    ``batch_size`` that is not a positive int, or a model that is not a Document class,
    is refused with a ValueError or TypeError before anything is read.
    """
    chosen: list[Any] = list(MODELS if models is None else models)
    for model in chosen:
        if not (isinstance(model, type) and issubclass(model, Document)):
            raise TypeError(f"audit() takes Document classes, not {model!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, not {batch_size!r}")
    if not chosen:
        raise ValueError("audit() needs at least one model")
    facts = server_facts(chosen[0]._get_db().client)
    total = (sum(count_every_document(model._get_collection()) for model in chosen)
             if progress is not None else 0)
    done = 0

    def advance(read: int) -> None:
        nonlocal done, total
        done += read
        total = max(total, done)
        if progress is not None:
            progress(done, total)

    found = []
    for model in chosen:
        result = ModelAudit(model.__name__, model._get_collection_name())
        _audit_documents(model, result, batch_size, advance)
        collection = model._get_collection()
        for model_field in model._fields.values():
            if model_field.unique and not _has_unique_index(collection, model_field.db_field):
                result.duplicates.extend(
                    _duplicates(model, model_field.db_field, facts.group_accumulators))
        result.missing_indexes, result.extra_indexes = _indexes(model, facts.text_search)
        found.append(result)
    if progress is not None and done == 0:
        progress(0, 0)
    return AuditReport(facts.name, found)
