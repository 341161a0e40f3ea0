"""Duplicate-key errors that name the unique field and the value already taken."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pymongo.errors
from mongoengine.errors import BulkWriteError, NotUniqueError

from .filters import preview

__all__ = ("DuplicateValue", "DuplicateValueInBulk", "duplicate_error", "unique_indexes")

# how MongoDB, FerretDB and mongo-java-server name the index in an E11000 message
INDEX_IN_MESSAGE = re.compile(r"index: ?([^\s]+)")
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


def _failure(error: Exception, documents: Sequence[Mapping[str, Any]]
             ) -> tuple[Mapping[str, Any], Mapping[str, Any] | None]:
    """The server's details of the duplicate and the document (as encoded) that hit it."""
    if isinstance(error, pymongo.errors.BulkWriteError):
        for failure in error.details.get("writeErrors", []):
            if failure.get("code") in DUPLICATE_KEY_CODES:
                index = failure.get("index")
                document = documents[index] if isinstance(index, int) else None
                return failure, document
        return {}, None
    details = getattr(error, "details", None) or {}
    return details, documents[0] if len(documents) == 1 else None


def _stored_keys(cls: Any, details: Mapping[str, Any]) -> tuple[str, ...] | None:
    pattern = details.get("keyPattern") or details.get("keyValue")
    if isinstance(pattern, Mapping) and pattern:
        return tuple(pattern)
    match = INDEX_IN_MESSAGE.search(str(details.get("errmsg", "")))
    if match is None:
        return None
    return unique_indexes(cls).get(match[1].strip("\"',"))


def duplicate_error(cls: Any, error: Exception, documents: Sequence[Mapping[str, Any]]
                    ) -> DuplicateValue:
    """The error for ``error``, a duplicate key the server reported while ``documents``
    (encoded, stored names) of model ``cls`` were written. It names the field and the
    value (from the server's ``keyValue``, else from the document written); when the server
    does not say which index, it names the model's unique fields."""
    details, document = _failure(error, documents)
    if not details:  # a plain OperationFailure: its message is all there is
        details = {"errmsg": str(error)}
    keys = _stored_keys(cls, details)
    names = {field.db_field: name for name, field in cls._fields.items()}
    bulk = isinstance(error, pymongo.errors.BulkWriteError)
    kind = DuplicateValueInBulk if bulk else DuplicateValue
    if keys is None:
        unique = [name for index, stored in unique_indexes(cls).items() if index != "_id_"
                  for name in (names.get(key, key) for key in stored)]
        return kind(f"a {cls.__name__} with the same {' or '.join(unique) or 'id'} "
                    "already exists")
    key_value = details.get("keyValue")
    given: Mapping[str, Any] = key_value if isinstance(key_value, Mapping) else {}
    values = []
    for key in keys:
        if key in given:
            values.append(given[key])
        elif document is not None:
            values.append(document.get(key))
        else:
            values.append(None)
    fields = tuple(names.get(key, "id" if key == "_id" else key) for key in keys)
    if document is None and not given:
        return kind(f"a {cls.__name__} with the same {' and '.join(fields)} already exists",
                    fields)
    shown = ", ".join(f"{field} {preview(value)}" for field, value in zip(fields, values, strict=True))
    return kind(f"{shown} already exists", fields, tuple(values))
