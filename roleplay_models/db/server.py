"""What the connected server can do, asked once per client and remembered.

Every command the package sends was checked on FerretDB v1 and mongo-java-server (the test
suite run with a command log) and against how MongoDB and FerretDB 2 read it; each is either
read the same everywhere or chosen from :class:`ServerFacts`:

* ``$text`` search: the projection names every stored field of the model and the score (a
  score-only projection is "every field" to MongoDB, "only the score" to FerretDB 2); sent
  only where ``text_search``, else a case-insensitive regex match.
* ``$text`` error codes (27, 238, 2): only 27 (no text index; the query was understood), or a
  query that returns a document, counts as text search.
* The text index: refused, or accepted and not queryable, is a warning; its collection is
  asked first where the index key is ``_fts`` (as MongoDB stores it), every collection after.
* Session writes (filters on ``null``, ``$exists`` on ``history.N``, ``$max``, ``$unset`` of a
  missing field): one filtered update where ``atomic_updates``; elsewhere the same filtered
  update, sent under a lease.
* ``$group`` with several accumulators: only where ``group_accumulators``; else a ``$project``
  summed in Python.
* A turn's "not stored yet" (no element of the history holds its id): ``$ne`` on the path
  through the array where ``ne_through_arrays``; else ``$nor`` of the equality, which every
  server tested reads as MongoDB documents it (and mongo-java-server checks more slowly).
* Duplicate keys: mapped by code 11000/11001, which every server tested sends (the lease
  relies on it too).
* Timeouts (50, and client-side): pymongo's ``timeout()``, which ends the wait on the client
  even where a server ignores ``maxTimeMS``.
* Validation errors (121 on MongoDB, 525074461 on FerretDB 2), transactions, change streams:
  not used; no ``collMod`` validator is sent and every check is the package's own.
* Batch sizes: a find's first reply holds up to 101 documents when not told otherwise
  (MongoDB's default, which every server tested keeps), and a reply that holds every match
  closes the cursor; ``batchSize`` is sent only where more may match (:func:`in_one_reply`),
  as mongo-java-server answers a sorted find that carries one about a quarter slower. A
  reply holds at most 16 MiB: matches beyond that take a ``getMore`` either way.
* Totals of a whole collection (a page's, unfiltered): the ``count`` command, which MongoDB
  answers from the collection's metadata, where ``metadata_counts``; else ``count_documents``
  (FerretDB v1 reads every document for either, and answers the aggregate sooner).
* Upserts with ``$setOnInsert``, ``$pullAll``, inclusion and exclusion projections, sorts on
  ``createdAt`` then ``_id``: read as MongoDB documents them on every server tested.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pymongo.errors import OperationFailure

__all__ = ("FIRST_BATCH_DOCUMENTS", "ServerFacts", "count_every_document", "forget_server_facts",
           "in_one_reply", "server_facts")

# the documents a find's first reply holds when no batchSize is sent (MongoDB's default)
FIRST_BATCH_DOCUMENTS = 101
C = TypeVar("C", bound="Batched")


class Batched(Protocol):
    """A cursor or QuerySet whose batch size can be set (pymongo's, mongoengine's)."""

    def batch_size(self, batch_size: int) -> Any: ...


def in_one_reply(cursor: C, most: int) -> C:
    """``cursor``, read in the server's first reply when at most ``most`` documents match:
    a batch one larger than that (which the server cannot fill, so it closes the cursor
    there: no getMore or killCursors follows), sent only where the first reply would
    otherwise hold fewer."""
    if most < FIRST_BATCH_DOCUMENTS:
        return cursor
    resized: C = cursor.batch_size(most + 1)
    return resized

# MongoDB's answer to a $text query on a collection without a text index: it understood the
# query. FerretDB v1 and mongo-java-server answer 2 (unknown operator), others 238 (not
# implemented).
TEXT_INDEX_NOT_FOUND = 27


@dataclass(frozen=True)
class ServerFacts:
    """Capabilities that change how this package talks to a server.

    ``atomic_updates``: a single-document update is applied atomically, so
    conditional updates alone keep concurrent writers correct. MongoDB does;
    FerretDB v1 reads, changes and writes back a document without a lock,
    and mongomock is not thread-safe. ``text_search``: ``$text`` queries work,
    found by sending one. ``group_accumulators``: a ``$group`` stage computes
    several accumulators correctly (FerretDB v1 feeds its documents to the
    first one only). ``ne_through_arrays``: ``{"a.b": {"$ne": x}}`` matches a document
    only when no element of the array ``a`` has ``b`` equal to ``x``, as MongoDB documents
    it (FerretDB v1 matches one whose array holds ``x`` too). ``metadata_counts``: an
    unfiltered ``count`` command is answered from the collection's metadata, as MongoDB
    does (FerretDB v1 reads every document for it, more slowly than for ``count_documents``).
    """

    name: str
    atomic_updates: bool
    text_search: bool
    group_accumulators: bool
    ne_through_arrays: bool = False
    metadata_counts: bool = True

    def describe(self) -> str:
        """One line: the server and what the package does on it."""
        return (f"{self.name}: atomic updates {'yes' if self.atomic_updates else 'no'}, "
                f"text search {'yes' if self.text_search else 'no'}, "
                f"$group accumulators {'yes' if self.group_accumulators else 'no'}, "
                f"$ne through arrays {'yes' if self.ne_through_arrays else 'no'}, "
                f"counts from metadata {'yes' if self.metadata_counts else 'no'}")


# By the client object itself: pymongo's clients compare equal (and hash alike) when they
# name the same hosts, so a WeakKeyDictionary would drop a live client's facts when an equal
# client is collected. Each entry goes when its client does.
_facts: dict[int, ServerFacts] = {}
_facts_lock = threading.Lock()


def _forget_when_collected(client: Any) -> None:
    key = id(client)
    weakref.finalize(client, _facts.pop, key, None)


def _runs_text_queries(collection: Any) -> bool | None:
    """True or False when a $text query on ``collection`` tells; None when it proves nothing
    (an empty collection is no test on a server that checks operators per document)."""
    try:
        found = collection.find({"$text": {"$search": "roleplay"}}, limit=1)
        if next(iter(found), None) is not None:
            return True
    except OperationFailure as err:
        return err.code == TEXT_INDEX_NOT_FOUND
    return None


def _text_search(database: Any) -> bool:
    """Send ``$text`` queries to the database's collections, those with a text index as the
    server stores one (``_fts``) first, until an answer tells."""
    names = sorted(database.list_collection_names())
    indexed = [name for name in names
               if any("_fts" in index["key"] for index in database[name].list_indexes())]
    for name in indexed + [n for n in names if n not in indexed]:
        answer = _runs_text_queries(database[name])
        if answer is not None:
            return answer
    return bool(indexed)  # a text index the server built itself, on collections still empty


def _ferretdb_before_2(info: Mapping[str, Any]) -> bool:
    """Whether ``buildInfo`` is FerretDB's before version 2 (its own query engine, whose gaps
    ServerFacts lists; FerretDB 2 runs on DocumentDB's)."""
    version = str(info.get("ferretdbVersion", "")).lstrip("v")
    major = version.split(".", 1)[0]
    return "ferretdbVersion" in info and (not major.isdigit() or int(major) < 2)


def _ask(client: Any) -> ServerFacts:
    if type(client).__module__.startswith("mongomock"):
        return ServerFacts("mongomock", atomic_updates=False, text_search=False,
                           group_accumulators=True, ne_through_arrays=True)
    info = client.admin.command("buildInfo")
    text_search = _text_search(client.get_default_database())
    if _ferretdb_before_2(info):
        # the gaps of FerretDB's own engine: updates read, change and write back without a
        # lock, $group feeds its documents to the first accumulator only, $ne through an
        # array matches a document whose array holds the value, and a count reads every
        # document (at 10,000 sessions, the count command about a tenth slower than the
        # aggregate of count_documents)
        return ServerFacts(f"FerretDB {info['ferretdbVersion']}", atomic_updates=False,
                           text_search=text_search, group_accumulators=False,
                           ne_through_arrays=False, metadata_counts=False)
    name = (f"FerretDB {info['ferretdbVersion']}" if "ferretdbVersion" in info
            else f"MongoDB-compatible {info.get('version', '?')}")
    return ServerFacts(name, atomic_updates=True, text_search=text_search,
                       group_accumulators=True, ne_through_arrays=True)


def server_facts(client: Any) -> ServerFacts:
    """The facts for ``client`` (a pymongo or mongomock client); asked once, then remembered."""
    facts = _facts.get(id(client))
    if facts is not None:  # every add_turn comes here: no lock once the client is known
        return facts
    # Asked without the lock, so that during an outage each caller fails within its own
    # selection timeout; two threads asking at once get the same answer.
    facts = _ask(client)
    with _facts_lock:
        if id(client) not in _facts:
            _facts[id(client)] = facts
            _forget_when_collected(client)
        return _facts[id(client)]


def count_every_document(collection: Any) -> int:
    """The number of documents in ``collection`` (a pymongo collection), asked as its server
    answers sooner: by the ``count`` command (pymongo's ``estimated_document_count``), which
    MongoDB answers from the collection's metadata, or by ``count_documents`` where a count
    reads every document (FerretDB v1)."""
    if server_facts(collection.database.client).metadata_counts:
        return int(collection.estimated_document_count())
    return int(collection.count_documents({}))


def forget_server_facts(client: Any) -> None:
    """Ask again next time (after indexes were created, say)."""
    with _facts_lock:
        _facts.pop(id(client), None)
