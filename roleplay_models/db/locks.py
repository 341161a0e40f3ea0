"""Serializing writes to one document where the server will not: across threads and processes.

On a server without atomic single-document updates (see
:class:`~roleplay_models.db.server.ServerFacts`; FerretDB v1 reads, changes and
writes back a document without a lock, and checks a filter before, not
during, the write), two conditional updates of one session can both read
the old version and one change is lost. There, a write to a document holds

* one of a fixed set of striped locks of this process, so threads queue here
  rather than at the server (for the in-process mongomock this is all), and
* a lease: a lock document in the ``roleplay_locks`` collection whose ``_id``
  names the document. Inserting it is the one step such a server does
  atomically (a second insert of the same ``_id`` fails), so exactly one
  process holds it. A lease left by a crashed holder expires after
  :data:`LEASE_SECONDS`; of the processes that find it expired, the one that
  inserts the takeover marker named after that holder's token removes it.
  Every command sent under a lease times out after :data:`COMMAND_SECONDS` (or
  the client's selection timeout, if shorter), so a live holder never outlasts
  its lease.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pymongo
from pymongo.errors import DuplicateKeyError, PyMongoError

from ..errors import ConcurrentModification
from .server import server_facts

__all__ = ("LEASE_COLLECTION", "LEASE_SECONDS", "document_write_lock")

LEASE_COLLECTION = "roleplay_locks"
# Far longer than one write holds it; only a crashed (or frozen) holder lets it run out.
LEASE_SECONDS = 30.0
LEASE = datetime.timedelta(seconds=LEASE_SECONDS)
# Each command sent while a lease is held must end well before the lease can expire, or
# another process could take it over while the command still waits at the server.
COMMAND_SECONDS = LEASE_SECONDS / 3  # lowered to the client's selection timeout
# How long a writer waits for a lease before giving up with ConcurrentModification.
WAIT_SECONDS = 60.0
FIRST_BACKOFF_S, MAX_BACKOFF_S = 0.001, 0.05

_STRIPES = [threading.Lock() for _ in range(64)]


@contextlib.contextmanager
def document_write_lock(collection: Any, document_id: Any) -> Iterator[bool]:
    """Hold this document's lock when the server needs it; otherwise do nothing. Yields
    whether it locked, i.e. whether the server lacks atomic single-document updates."""
    client = collection.database.client
    if server_facts(client).atomic_updates:
        yield False
        return
    with _STRIPES[hash((collection.full_name, document_id)) % len(_STRIPES)]:
        if not isinstance(client, pymongo.MongoClient):  # in-process (mongomock): no other process
            yield True
            return
        with _lease(collection.database[LEASE_COLLECTION], f"{collection.name}:{document_id}"):
            with pymongo.timeout(_command_seconds(collection.database.client)):
                yield True


def _command_seconds(client: Any) -> float:
    """How long one command under a lease may take: at most a third of the lease, and no
    longer than the client's selection timeout, so that during an outage a write fails as
    quickly as any other call (pymongo retries a read inside this time)."""
    if not isinstance(client, pymongo.MongoClient):  # mongomock: nothing goes over a network
        return COMMAND_SECONDS
    return float(min(COMMAND_SECONDS, client.options.server_selection_timeout))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


# Leases this process took (or may have taken) but could not give back because the server
# went away: name -> token. The next write to the document removes it before taking its own,
# so a restarted server does not keep that document locked until the lease runs out. Read
# and written under the document's stripe lock.
_unreleased: dict[str, str] = {}


@contextlib.contextmanager
def _lease(leases: Any, name: str) -> Iterator[None]:
    stale = _unreleased.pop(name, None)
    if stale is not None:
        try:
            leases.delete_one({"_id": name, "token": stale})
        except PyMongoError:
            _unreleased[name] = stale
            raise
    token = uuid.uuid4().hex
    try:
        _acquire(leases, name, token)
    except PyMongoError:
        _unreleased[name] = token  # the insert may have reached the server
        raise
    try:
        yield
    finally:
        try:
            leases.delete_one({"_id": name, "token": token})
        except PyMongoError:  # the write's own outcome stands; the lease is given back later
            _unreleased[name] = token


def _acquire(leases: Any, name: str, token: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    backoff = FIRST_BACKOFF_S
    while True:
        try:
            leases.insert_one({"_id": name, "token": token, "expires_at": _now() + LEASE})
            return
        except DuplicateKeyError:
            pass
        held = leases.find_one({"_id": name})
        if held is not None and _as_utc(held["expires_at"]) < _now():
            _take_over(leases, name, held["token"])
        if time.monotonic() > deadline:
            raise ConcurrentModification(f"{name} stayed locked by another writer for "
                                         f"{WAIT_SECONDS:.0f} s")
        time.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_S)


def _take_over(leases: Any, name: str, expired_token: str) -> None:
    """Remove an expired lease, if this process is the one that wins the right to.

    The marker's ``_id`` is unique to the expired holder's token, so of all the
    processes that saw that lease expire, exactly one inserts it and deletes
    the lease. Markers stay while they are fresh (a process that read the old
    lease late must still lose). A marker older than a lease means its winner
    died before deleting the lease: it is removed, so that a later try can win.
    """
    marker = f"{name}!{expired_token}"
    try:
        leases.insert_one({"_id": marker, "taken_at": _now()})
    except DuplicateKeyError:
        found = leases.find_one({"_id": marker})
        if found is not None and _as_utc(found["taken_at"]) < _now() - LEASE:
            leases.delete_one({"_id": marker})
        return
    leases.delete_one({"_id": name, "token": expired_token})


def _as_utc(value: datetime.datetime) -> datetime.datetime:
    """A stored time as aware UTC, whatever the client's ``tz_aware``."""
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
