"""Shaping the JSON the frontend reads, from Documents or straight from pymongo documents
(loading what references point at is :mod:`.references`' job).

Keys are the stored field names (``scenario_id``, ``llmPrompt``, ...), except ``_id``, which
becomes ``id``, and the timestamps, which become ``created_at`` / ``updated_at``. Ids are
strings and datetimes ISO 8601 UTC strings (``2024-03-01T09:30:00.000Z``). A reference is its
id string or, when populated, a small dict of the fields its route shows.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, cast

from bson import ObjectId
from mongoengine.base import BaseDocument
from mongoengine.fields import EmbeddedDocumentField, ListField, ObjectIdField, ReferenceField

from .fields import UTCDateTimeField
from .references import element_field, reference_id, reference_target, stored_names
from .timestamps import CREATED, UPDATED

__all__ = ("ApiShape", "api_shape", "iso_utc", "populated_dicts", "reference_dict")

OUTPUT_KEYS = {"_id": "id", CREATED: "created_at", UPDATED: "updated_at"}
Populated = Mapping[str, Mapping[ObjectId, dict[str, Any]]]


def iso_utc(value: datetime.datetime) -> str:
    """``value`` as JavaScript's ``toISOString()`` writes it (a naive one taken as UTC):
    milliseconds, cut rather than rounded, and a four-digit year."""
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def _identity(value: Any) -> Any:
    return value


def _copy_list(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def _id_string(value: Any) -> Any:
    return str(value) if isinstance(value, ObjectId) else value


def _datetime(value: Any) -> Any:
    return iso_utc(value) if isinstance(value, datetime.datetime) else value


class ApiShape:
    """How one Document or EmbeddedDocument class is written as API JSON, compiled once."""

    def __init__(self, cls: type[BaseDocument]) -> None:
        hidden = set(getattr(cls, "api_hidden", ()))
        self.private = {cls._fields[name].db_field for name in getattr(cls, "api_private", ())}
        self.cls = cls
        self.steps: list[tuple[str, str, Callable[[Any], Any], Any]] = []
        self.references: dict[str, str] = {}  # stored name -> attribute name
        for name, field in cls._fields.items():
            if name in hidden:
                continue
            stored = field.db_field
            missing = [] if isinstance(field, ListField) else (
                None if callable(field.default) else field.default)
            target = element_field(field)
            if isinstance(target, ReferenceField):
                self.references[stored] = name
                convert: Callable[[Any], Any] = _identity  # resolved in dump()
            elif isinstance(target, EmbeddedDocumentField):
                convert = self._embedded(target.document_type, isinstance(field, ListField))
            elif isinstance(field, ObjectIdField):
                convert = _id_string
            elif isinstance(field, UTCDateTimeField):
                convert = _datetime
            elif isinstance(field, ListField):
                convert = _copy_list
            else:
                convert = _identity
            self.steps.append((stored, OUTPUT_KEYS.get(stored, stored), convert, missing))

    @staticmethod
    def _embedded(cls: type[BaseDocument], many: bool) -> Callable[[Any], Any]:
        def one(value: Any) -> Any:
            return api_shape(cls).dump(value) if isinstance(value, Mapping) else value

        if not many:
            return one
        return lambda values: [one(v) for v in values] if isinstance(values, list) else values

    def dump(
        self,
        raw: Mapping[str, Any],
        populated: Populated | None = None,
        only: Iterable[str] | None = None,
        private: bool = False,
    ) -> dict[str, Any]:
        """The API dict of one stored document (``only``: these stored names and the id;
        ``private``: with the fields the model keeps out of its JSON unless asked)."""
        wanted = None if only is None else {"_id", *only}
        out: dict[str, Any] = {}
        for stored, key, convert, missing in self.steps:
            if wanted is not None and stored not in wanted:
                continue
            if not private and stored in self.private:
                continue
            value = raw.get(stored, missing)
            if value is None:
                out[key] = None
            elif stored in self.references:
                out[key] = self._reference(value, (populated or {}).get(self.references[stored], {}))
            else:
                out[key] = convert(value)
        return out

    @staticmethod
    def _reference(value: Any, found: Mapping[ObjectId, dict[str, Any]]) -> Any:
        if isinstance(value, list):
            return [found.get(reference_id(v)) or _id_string(reference_id(v)) for v in value]
        return found.get(reference_id(value)) or _id_string(reference_id(value))


@functools.cache
def _compiled_shape(cls: Hashable) -> ApiShape:
    return ApiShape(cast(Any, cls))


def api_shape(cls: type[BaseDocument]) -> ApiShape:
    """The compiled :class:`ApiShape` of ``cls``, made once per class."""
    # A class hashes by identity; mongoengine's instance __hash__ makes mypy doubt it.
    return _compiled_shape(cast(Hashable, cls))


def reference_dict(cls: type[BaseDocument], name: str, stored: Mapping[str, Any]) -> dict[str, Any]:
    """The small API dict of a document that reference ``name`` of ``cls`` points at."""
    target = reference_target(cls, name)
    only = stored_names(target, cls.api_references[name])
    return api_shape(target).dump(stored, only=only)


def populated_dicts(
    cls: type[BaseDocument], loaded: Mapping[str, list[Mapping[str, Any]]]
) -> dict[str, dict[ObjectId, dict[str, Any]]]:
    """The small API dicts of referenced documents, by attribute and id."""
    return {name: {row["_id"]: reference_dict(cls, name, row) for row in rows}
            for name, rows in loaded.items()}
