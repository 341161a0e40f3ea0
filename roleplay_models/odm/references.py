"""Checking, at save time, that references point at documents that exist: one query per
referenced model, never in ``validate()``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mongoengine import Document, ValidationError, signals
from mongoengine.fields import ReferenceField

from .api import element_field, reference_id
from .timestamps import is_new

__all__ = ("ChecksReferences", "check_references_exist")


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
    wanted: dict[tuple[str, Any], set[Any]] = {}
    for document in documents:
        changed = None if is_new(document) else set(document._get_changed_fields())
        for name, field in document._fields.items():
            if changed is not None and not _was_changed(field.db_field, changed):
                continue
            target = element_field(field)
            if not isinstance(target, ReferenceField):
                continue
            value = document._data.get(name)
            ids = {reference_id(v) for v in (value if isinstance(value, list) else [value])
                   if not _saved_or_loaded(v)}
            ids.discard(None)
            if ids:
                wanted.setdefault((name, target.document_type), set()).update(ids)
    for (name, model), ids in wanted.items():
        found = model._get_collection().count_documents({"_id": {"$in": list(ids)}})
        if found != len(ids):
            raise ValidationError(
                f"{name} refers to a {model.__name__} that does not exist",
                field_name=name,
                errors={name: ValidationError("refers to a missing document", field_name=name)},
            )


class ChecksReferences:
    """A Document whose saves check that its references exist (after validation, which
    stays free of I/O)."""


def check_references_on_save(sender: Any, document: Any, **kwargs: Any) -> None:
    """pre_save_post_validation receiver: refuse a save whose references are missing."""
    if isinstance(document, ChecksReferences):
        check_references_exist([document])


signals.pre_save_post_validation.connect(check_references_on_save)
