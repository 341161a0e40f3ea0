"""The QuerySet every model's own QuerySet builds on: pages, populate, API JSON."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from bson import ObjectId
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from mongoengine import Document, signals

from ..db.server import count_every_document, in_one_reply
from . import _mongoengine as me
from .api import api_shape, populated_dicts
from .fast_paths import encoding_as_dicts
from .filters import as_text
from .limits import check_document_size, encoded_within_limits
from .pagination import Page, page_bounds
from .references import check_references_exist, load_references, reference_id, reference_target
from .timestamps import TimestampedQuerySet
from .uniqueness import duplicate_error

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ("ActiveQuerySet", "PerSessionQuerySet", "RoleplayQuerySet", "populate")

D = TypeVar("D")  # the Document class a QuerySet yields
Docs = TypeVar("Docs", bound=list[Any])


def populate(documents: Docs) -> Docs:
    """Replace the references the model populates with partial Documents, batched.

    One query per reference attribute (``Model.api_references``), whatever
    the number of documents; only the fields the routes show are loaded.
    """
    if not documents:
        return documents
    cls = type(documents[0])
    refs = [
        {cls._fields[name].db_field: doc._data.get(name) for name in cls.api_references}
        for doc in documents
    ]
    for name, rows in load_references(cls, refs).items():
        target = reference_target(cls, name)
        by_id = {row["_id"]: target._from_son(row) for row in rows}
        for doc in documents:
            value = doc._data.get(name)
            if isinstance(value, list):
                doc._data[name] = [by_id.get(reference_id(v), v) for v in value]
            elif value is not None:
                doc._data[name] = by_id.get(reference_id(value), value)
    return documents


class RoleplayQuerySet(me.ReadsStoredBSON, TimestampedQuerySet[D]):
    """Helpers shared by the five models' QuerySets, each one returning the same QuerySet
    class (``RoleplaySession.objects.newest_first()`` is a RoleplaySessionQuerySet)."""

    @property
    def model(self) -> type[D]:
        """The Document class whose documents this QuerySet finds (``RoleplaySession`` for
        ``RoleplaySession.objects``): its ``DoesNotExist``, say."""
        model: type[D] = self._document
        return model

    @overload
    def insert(self, doc_or_docs: D, load_bulk: Literal[True] = True,
               write_concern: dict[str, Any] | None = None,
               signal_kwargs: dict[str, Any] | None = None) -> D: ...
    @overload
    def insert(self, doc_or_docs: Iterable[D], load_bulk: Literal[True] = True,
               write_concern: dict[str, Any] | None = None,
               signal_kwargs: dict[str, Any] | None = None) -> list[D]: ...
    @overload
    def insert(self, doc_or_docs: D, load_bulk: Literal[False],
               write_concern: dict[str, Any] | None = None,
               signal_kwargs: dict[str, Any] | None = None) -> ObjectId: ...
    @overload
    def insert(self, doc_or_docs: Iterable[D], load_bulk: Literal[False],
               write_concern: dict[str, Any] | None = None,
               signal_kwargs: dict[str, Any] | None = None) -> list[ObjectId]: ...
    def insert(
        self, doc_or_docs: Any, load_bulk: bool = True, write_concern: Any = None,
        signal_kwargs: Any = None,
    ) -> Any:
        """mongoengine's bulk insert, validating first: one invalid document and none is
        written. References are checked for all documents together, one query per
        referenced model, and each document is encoded once, for the size check and the
        insert alike. Returns the Documents read back, or with ``load_bulk=False``
        their ids. A duplicate unique value is a NotUniqueError (and a BulkWriteError, as
        mongoengine raises, when several documents were given) naming the field and the
        value."""
        single = isinstance(doc_or_docs, Document)
        documents = [doc_or_docs] if single else list(doc_or_docs)
        me.check_insertable(self._document, documents)
        for document in documents:
            document.validate()
        check_references_exist(documents)
        signal_kwargs = signal_kwargs or {}
        signals.pre_bulk_insert.send(self._document, documents=documents, **signal_kwargs)
        with encoding_as_dicts():  # what only pymongo reads
            sons = [document.to_mongo() for document in documents]
        for son in sons:
            if son.get("_id") is None:  # as pymongo would give it
                son["_id"] = ObjectId()
        ids = [son["_id"] for son in sons]
        self._send(sons, single, write_concern)
        for document, inserted_id in zip(documents, ids, strict=True):
            document.pk = inserted_id
            document._forget_changes()
        if not load_bulk:
            signals.post_bulk_insert.send(self._document, documents=documents, loaded=False,
                                          **signal_kwargs)
            return ids[0] if single else ids
        found = self.in_bulk(ids)
        results = [found.get(inserted_id) for inserted_id in ids]
        signals.post_bulk_insert.send(self._document, documents=results, loaded=True,
                                      **signal_kwargs)
        return results[0] if single else results

    def _send(self, sons: list[Any], single: bool, write_concern: Any) -> None:
        """Insert ``sons``, each encoded once: the BSON whose size is checked is the BSON the
        server gets. Errors are mongoengine's, naming the documents as they were given, and a
        duplicate names the field and the value."""
        codec_options = self._collection.codec_options
        if isinstance(codec_options, CodecOptions):
            sent: list[Any] = [RawBSONDocument(encoded_within_limits(self._document, son,
                                                                     codec_options))
                               for son in sons]
        else:  # mongomock, the embedded backend, has codec options of its own, takes mappings
            for son in sons:
                check_document_size(self._document, son)
            sent = sons
        def duplicate(error: Exception) -> Exception | None:
            return duplicate_error(self._document, error, sons)

        with me.sending_insert(self._collection, write_concern, sons, duplicate) as collection:
            if single:
                collection.insert_one(sent[0])
            else:
                collection.insert_many(sent)

    def count(self, with_limit_and_skip: bool = False) -> int:
        """The number of matches (``with_limit_and_skip``: within the limit, after the skip).
        Every document's count (no filter) is asked as the server answers it sooner: by the
        ``count`` command, which MongoDB answers from the collection's metadata, or by
        ``count_documents`` where a count reads every document (FerretDB v1)."""
        if not with_limit_and_skip and me.counts_whole_collection(self):
            return me.counted_on_cursor_collection(self, count_every_document)
        return super().count(with_limit_and_skip)

    def newest_first(self) -> Self:
        """The same matches, newest first by creation time (``created_at``, then ``_id``
        for documents created in the same millisecond). A rep's latest session by start
        time is ``order_by("-start_time")``."""
        return self.order_by("-created_at", "-id")

    def _one_batch(self) -> Self:
        # a copy read in the first reply, closing the cursor: no getMore or killCursors
        # follows (a batch size of the caller's is replaced, as one that small would split it)
        limit = me.query_limit(self)
        if not limit:
            return self
        if me.query_batch_size(self):
            return self.batch_size(limit + 1)
        return in_one_reply(self.clone(), limit)

    def populated(self) -> list[D]:
        """The matching Documents, in the QuerySet's order, with their references populated
        (see :func:`populate`)."""
        return populate(list(self._one_batch()))

    def api_dicts(self, populate: bool = True, private: bool = False) -> list[dict[str, Any]]:
        """The matches as API JSON dicts, in the QuerySet's order, straight from pymongo
        documents (no Documents built), references populated unless ``populate=False``.
        ``private`` adds the fields kept out unless asked (a session's ``metadata``)."""
        cls = self._document
        raws = list(self._one_batch().as_pymongo())
        found = populated_dicts(cls, load_references(cls, raws)) if populate else None
        shape = api_shape(cls)
        return [shape.dump(raw, found, private=private) for raw in raws]

    def _page(self, page: int | str, limit: int | str) -> tuple[Self, int, int, int]:
        page, limit = page_bounds(page, limit)
        total = self.count()
        return self.skip((page - 1) * limit).limit(limit), total, page, limit

    def paginate(self, page: int | str = 1, limit: int | str = 20) -> Page[D]:
        """Page ``page`` (from 1 to MAX_PAGE) of ``limit`` (1 to MAX_LIMIT) populated
        Documents, in the QuerySet's order (one count, one find, one query per reference).
        An int or a string of ASCII digits is taken; anything else is an InvalidFilter."""
        rows, total, page, limit = self._page(page, limit)
        return Page(rows.populated(), total, page, limit)

    def api_page(self, page: int | str = 1, limit: int | str = 20, private: bool = False
                 ) -> Page[dict[str, Any]]:
        """Page ``page`` of ``limit`` API JSON dicts, in the QuerySet's order, through the fast
        path of :meth:`api_dicts`; page and limit are checked as by :meth:`paginate`."""
        rows, total, page, limit = self._page(page, limit)
        return Page(rows.api_dicts(private=private), total, page, limit)


class ActiveQuerySet(RoleplayQuerySet[D]):
    """The QuerySet of a model with an ``is_active`` flag."""

    def active(self) -> Self:
        """The matches whose ``is_active`` is True; the order is left as it is."""
        return self.filter(is_active=True)


class PerSessionQuerySet(RoleplayQuerySet[D]):
    """The QuerySet of a model that carries a rep's ``user_id`` and a ``session_id``; both
    match exactly what was stored."""

    def for_user(self, user_id: str) -> Self:
        """The matches of rep ``user_id``, exactly as stored; the order is left as it is.
        A value that is not a non-blank string is an InvalidFilter."""
        return self.filter(user_id=as_text("user_id", user_id))

    def for_session(self, session_id: str) -> Self:
        """The matches of session ``session_id`` (the string id, not the ``_id``), exactly
        as stored; the order is left as it is. A value that is not a non-blank string is an
        InvalidFilter."""
        return self.filter(session_id=as_text("session_id", session_id))
