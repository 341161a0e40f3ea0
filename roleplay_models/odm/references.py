"""References: what they hold, loading what they point at (one query per referenced model),
refusing ids that are not ObjectIds in ``validate()``, and checking at save time, never in
``validate()``, that they point at documents that exist."""

from __future__ import annotations

import functools
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, cast

from bson import DBRef, ObjectId
from mongoengine import Document, ValidationError, signals
from mongoengine.base import BaseDocument
from mongoengine.fields import ListField, ObjectIdField, ReferenceField

from ..db.server import in_one_reply
from . import _mongoengine as me
from .filters import preview
from .timestamps import is_new

__all__ = (
    "ChecksReferences",
    "check_references_exist",
    "element_field",
    "load_references",
    "malformed_references",
    "reference_fields",
    "reference_id",
    "reference_target",
    "stored_names",
)


def element_field(field: Any) -> Any:
    """The field of a list's entries, or the field itself when it is not a list."""
    return field.field if isinstance(field, ListField) else field


def reference_id(value: Any) -> Any:
    """The id a reference holds, whether an ObjectId, a DBRef or a Document."""
    if isinstance(value, DBRef):
        return value.id
    if isinstance(value, BaseDocument):
        return value.pk
    return value


def reference_target(cls: type[BaseDocument], name: str) -> Any:
    """The model that reference ``name`` of ``cls`` points at."""
    return element_field(cls._fields[name]).document_type


def stored_names(cls: type[BaseDocument], names: Iterable[str]) -> list[str]:
    """The stored (``db_field``) names of fields ``names`` of ``cls``."""
    return [cls._fields[name].db_field for name in names]


def load_references(
    cls: type[BaseDocument], raws: Sequence[Mapping[str, Any]]
) -> dict[str, list[Mapping[str, Any]]]:
    """Fetch what ``raws`` refer to, one query per reference the model populates.

    Returns, per reference attribute, the referenced documents with only the
    fields of ``cls.api_references`` (plus ``_id``).
    """
    loaded: dict[str, list[Mapping[str, Any]]] = {}
    for name, fields in getattr(cls, "api_references", {}).items():
        stored = cls._fields[name].db_field
        ids: set[ObjectId] = set()
        for raw in raws:
            value = raw.get(stored)
            for item in value if isinstance(value, list) else [value]:
                if item is not None:
                    ids.add(reference_id(item))
        target = reference_target(cls, name)
        if not ids:
            loaded[name] = []
            continue
        projection = {key: 1 for key in stored_names(target, fields)}
        cursor = target._get_collection().find({"_id": {"$in": list(ids)}}, projection)
        # ids are unique: at most one match each, all in the first reply
        loaded[name] = list(in_one_reply(cursor, len(ids)))
    return loaded


def _takes_object_ids(model: Any) -> bool:
    return isinstance(model._fields.get(model._meta.get("id_field", "id")), ObjectIdField)


@functools.cache
def _references_of(cls: Hashable) -> tuple[tuple[str, Any, ReferenceField], ...]:
    return tuple((name, field, element_field(field))
                 for name, field in cast(Any, cls)._fields.items()
                 if isinstance(element_field(field), ReferenceField))


def reference_fields(cls: type[BaseDocument]) -> tuple[tuple[str, Any, ReferenceField], ...]:
    """The reference fields of ``cls``: each one's name, the field, and the field of its
    entries (itself, unless it is a list), worked out once per class."""
    return _references_of(cast(Hashable, cls))  # a class hashes by identity


def malformed_references(document: Any) -> dict[str, ValidationError]:
    """Errors, by field name, for references of ``document`` given as ids that cannot be
    ObjectIds (``"not-an-id"``), as mongoose's cast to ObjectId refuses them; no I/O."""
    errors: dict[str, ValidationError] = {}
    for name, _, target in reference_fields(type(document)):
        if not _takes_object_ids(target.document_type):
            continue
        value = document._data.get(name)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, BaseDocument):  # a Document: its own id field holds its id
                continue
            given = reference_id(item)
            if given is not None and not isinstance(given, ObjectId):
                errors[name] = ValidationError(f"{preview(given)} is not a valid ObjectId",
                                               field_name=name)
                break
    return errors


def _was_changed(db_field: str, changed: set[str]) -> bool:
    return any(path == db_field or path.startswith(db_field + ".") for path in changed)


def _saved_or_loaded(value: Any) -> bool:
    """A Document this process saved or read from the database: it is known to exist, so
    ``start(Scenario.objects.get(...), ...)`` needs no second look."""
    return isinstance(value, Document) and value.pk is not None and not value._created


def check_references_exist(documents: Iterable[Any]) -> None:
    """Refuse, with a ValidationError naming the field, a reference to a missing document.

    New documents have every reference checked; saved ones only the
    references changed since they were loaded. A reference given as a
    Document that was saved or loaded is taken to exist; one given as an id
    (or a Document built with an id but never saved) is looked up.
    """
    wanted: dict[tuple[str, Any], dict[Any, Any]] = {}  # ids -> the document that holds each
    for document in documents:
        changed = None if is_new(document) else set(document._get_changed_fields())
        for name, field, target in reference_fields(type(document)):
            if changed is not None and not _was_changed(field.db_field, changed):
                continue
            value = document._data.get(name)
            ids = {reference_id(v) for v in (value if isinstance(value, list) else [value])
                   if not _saved_or_loaded(v)}
            ids.discard(None)
            for given in ids:
                wanted.setdefault((name, target.document_type), {}).setdefault(given, document)
    for (name, model), holders in wanted.items():
        looked_up = list(holders)
        cursor = model._get_collection().find({"_id": {"$in": looked_up}}, {"_id": 1})
        found = {row["_id"] for row in in_one_reply(cursor, len(looked_up))}
        missing = [given for given in looked_up if given not in found]
        if missing:
            error = ValidationError(f"refers to a {model.__name__} that does not exist "
                                    f"({preview(missing[0])})", field_name=name)
            raise me.document_validation_error(holders[missing[0]], {name: error})


class ChecksReferences:
    """A Document whose saves check that its references exist (after validation, which
    stays free of I/O)."""


def check_references_on_save(sender: Any, document: Any, **kwargs: Any) -> None:
    """pre_save_post_validation receiver: refuse a save whose references are missing."""
    if isinstance(document, ChecksReferences):
        check_references_exist([document])


signals.pre_save_post_validation.connect(check_references_on_save)
