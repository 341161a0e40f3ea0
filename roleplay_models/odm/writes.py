"""Conditional updates of one document: one filter and one update, the same on every server."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pymongo.errors import ConnectionFailure, PyMongoError, ServerSelectionTimeoutError

from ..db.locks import document_write_lock
from ..errors import WriteUnconfirmed
from .fields import utc_now

__all__ = ("Conditional", "WriteOutcome", "none_stored_as_null", "reply_lost", "retried_once",
           "set_or_unset", "update_if")

T = TypeVar("T")


class WriteOutcome(str, enum.Enum):
    """What a repeatable write found: it stored its change, or the change was already there
    (a retried request, or another writer that asked for the same thing)."""

    STORED = "stored"
    ALREADY_STORED = "already stored"


@dataclass(frozen=True)
class Conditional:
    """An update of one document, to apply only while the stored document matches ``filter``
    (which names no ``_id``). A repeat must be safe: the filter does not match what the
    update leaves, so a write applied once is never applied twice."""

    filter: dict[str, Any]
    update: dict[str, Any]


def reply_lost(error: BaseException) -> bool:
    """True for an error after which the server may have applied the write: the connection
    broke or timed out once the command was sent. A server that could not be selected was
    never sent anything."""
    if isinstance(error, ServerSelectionTimeoutError):
        return False
    if isinstance(error, ConnectionFailure):
        return True
    return isinstance(error, PyMongoError) and error.timeout


def retried_once(write: Callable[[], T], what: str) -> T:
    """``write()``, sent once more when its reply was lost (see :func:`reply_lost`).

    Only for a write that is safe to repeat by construction: a conditional
    update whose filter excludes its own result, or an insert keyed by a
    unique id. When the repeat loses its reply too, :class:`WriteUnconfirmed`
    says that ``what`` may or may not be stored.
    """
    try:
        return write()
    except PyMongoError as first:
        if not reply_lost(first):
            raise
    try:
        return write()
    except PyMongoError as second:
        if isinstance(second, ServerSelectionTimeoutError) or reply_lost(second):
            raise WriteUnconfirmed(
                f"{what} may or may not be stored: the server's reply was lost twice "
                f"({second}); repeat the request with the same id") from second
        raise


def update_if(
    collection: Any, document_id: Any, build: Callable[[datetime], Conditional]
) -> datetime | None:
    """Apply the update ``build(now)`` gives if the stored document matches its filter;
    returns the ``now`` it was built for, or None when the document did not match.

    One update, filtered by ``_id`` and the filter, which the server checks as it applies
    it. Where single-document updates are not atomic (FerretDB v1) the write holds the
    document's lease (see :mod:`roleplay_models.db.locks`), so no other writer through
    this package changes the document between that check and the write; ``now`` is read
    once the lease is held, so no write that this one waited for carries a later time.
    Sent once more after a lost reply (see :func:`retried_once`): the repeat does not
    match what the first one stored, and neither does a first attempt that reaches the
    server late. Left open on such a server: a late first attempt that runs at the very
    moment its repeat does.
    """

    def attempt() -> datetime | None:
        with document_write_lock(collection, document_id):
            now = utc_now()
            conditional = build(now)
            result = collection.update_one({"_id": document_id, **conditional.filter},
                                           conditional.update)
        return now if result.matched_count == 1 else None

    return retried_once(attempt, f"the update of {collection.name} {document_id}")


def none_stored_as_null(field: Any) -> bool:
    """Whether None in ``field`` is stored as ``null`` (the field is declared ``null=True``,
    the schema's ``default: null``) rather than as no key (``$unset``), as mongoose stores it.
    The one place that decides it, for save() and for :func:`set_or_unset` alike."""
    return bool(field.null)


def set_or_unset(cls: Any, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The ``$set``/``$unset`` that store ``changes`` (field name -> Python value) of a
    Document of ``cls`` as save() stores them (see :func:`none_stored_as_null`)."""
    sets: dict[str, Any] = {}
    unsets: dict[str, Any] = {}
    for name, value in changes.items():
        field = cls._fields[name]
        if value is None and not none_stored_as_null(field):
            unsets[field.db_field] = ""
        else:
            sets[field.db_field] = field.to_mongo(value) if value is not None else None
    update: dict[str, Any] = {}
    if sets:
        update["$set"] = sets
    if unsets:
        update["$unset"] = unsets
    return update
