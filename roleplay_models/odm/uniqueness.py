"""Duplicate-key errors that name the unique field and the value already taken."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pymongo.errors
from mongoengine.errors import BulkWriteError, NotUniqueError

from . import _mongoengine as me
from .filters import preview

__all__ = ("DuplicateValue", "DuplicateValueInBulk", "duplicate_error", "is_duplicate",
           "unique_indexes")

# how MongoDB, FerretDB and mongo-java-server name the index in an E11000 message
INDEX_IN_MESSAGE = re.compile(r"index: ?([^\s]+)")
# how FerretDB v1 on SQLite refuses an update that repeats a unique value
FERRETDB_UNIQUE = re.compile(r"UNIQUE constraint failed: index '([^']+)'")
DUPLICATE_KEY_CODES = (11000, 11001)


class DuplicateValue(NotUniqueError):
    """A write refused by a unique index, e.g. ``scenario_id 'cold-call' already exists``.
    ``fields`` are the model's fields of that index and ``values`` what was written to them
    (empty when the server did not say which index)."""

    def __init__(self, message: str, fields: tuple[str, ...] = (),
                 values: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.fields = fields
        self.values = values


class DuplicateValueInBulk(DuplicateValue, BulkWriteError):
    """A duplicate in a bulk insert: a NotUniqueError, and still the BulkWriteError that
    mongoengine raises for a failed bulk insert."""


def _index_name(keys: Sequence[tuple[str, Any]]) -> str:
    return "_".join(f"{key}_{direction}" for key, direction in keys)


def unique_indexes(cls: Any) -> dict[str, tuple[str, ...]]:
    """The unique indexes of model ``cls`` by name, each with its stored keys (``_id_``
    included)."""
    found: dict[str, tuple[str, ...]] = {"_id_": ("_id",)}
    for spec in cls._meta.get("index_specs", []):
        if spec.get("unique"):
            keys = [tuple(item) for item in spec["fields"]]
            found[spec.get("name") or _index_name(keys)] = tuple(key for key, _ in keys)
    return found


def is_duplicate(error: Exception) -> bool:
    """True for a write refused by a unique index: a duplicate key as mongoengine recognises
    it, a bulk write that failed on one, or FerretDB v1's refusal of an update (an internal
    error naming the SQLite UNIQUE constraint of the index)."""
    if isinstance(error, pymongo.errors.BulkWriteError):
        return any(failure.get("code") in DUPLICATE_KEY_CODES
                   for failure in error.details.get("writeErrors", []))
    return me.is_duplicate_key(error) or FERRETDB_UNIQUE.search(str(error)) is not None


def _failure(error: Exception, documents: Sequence[Mapping[str, Any]]
             ) -> tuple[Mapping[str, Any], Mapping[str, Any] | None]:
    """The server's details of the duplicate and the document (as encoded) that hit it."""
    if isinstance(error, pymongo.errors.BulkWriteError):
        for failure in error.details.get("writeErrors", []):
            if failure.get("code") in DUPLICATE_KEY_CODES:
                index = failure.get("index")
                return failure, documents[index] if isinstance(index, int) else None
        return {}, None
    details = getattr(error, "details", None) or {"errmsg": str(error)}
    return details, documents[0] if len(documents) == 1 else None


def _stored_keys(cls: Any, details: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The stored keys of the index the server names, or None when it names none."""
    pattern = details.get("keyPattern") or details.get("keyValue")
    if isinstance(pattern, Mapping) and pattern:
        return tuple(pattern)
    message = str(details.get("errmsg", ""))
    indexes = unique_indexes(cls)
    match = INDEX_IN_MESSAGE.search(message)
    if match is not None:
        return indexes.get(match[1].strip("\"',"))
    match = FERRETDB_UNIQUE.search(message)
    if match is not None:  # FerretDB's SQLite index is "<collection>_<hash>_<index name>"
        for name, keys in indexes.items():
            if match[1].endswith("_" + name):
                return keys
    return None


def duplicate_error(cls: Any, error: Exception, documents: Sequence[Mapping[str, Any]]
                    ) -> DuplicateValue | None:
    """The error for ``error`` if it is a duplicate (None otherwise), raised while
    ``documents`` (encoded, stored names) of model ``cls`` were written.

    It names the field and the value: the index from the server's ``keyPattern`` or its
    message, the value from its ``keyValue`` or the document written. FerretDB v1 does not
    say which index an insert broke; then the model's unique fields are named, each with
    the value the document gave it."""
    if not is_duplicate(error):
        return None
    details, document = _failure(error, documents)
    kind = DuplicateValueInBulk if isinstance(error, pymongo.errors.BulkWriteError) \
        else DuplicateValue
    keys = _stored_keys(cls, details)
    if keys is None:
        keys = tuple(key for index, stored in unique_indexes(cls).items() if index != "_id_"
                     for key in stored) or ("_id",)
    names = {field.db_field: name for name, field in cls._fields.items()}
    fields = tuple(names.get(key, key) for key in keys)
    key_value = details.get("keyValue")
    given: Mapping[str, Any] = key_value if isinstance(key_value, Mapping) else document or {}
    if not all(key in given for key in keys):
        return kind(f"a {cls.__name__} with the same {' or '.join(fields)} already exists",
                    fields)
    values = tuple(given[key] for key in keys)
    joiner = " and " if len(keys) > 1 and isinstance(key_value, Mapping) else " or "
    shown = joiner.join(f"{field} {preview(value)}"
                        for field, value in zip(fields, values, strict=True))
    return kind(f"{shown} already exists", fields, values)
