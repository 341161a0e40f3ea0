"""TimestampedMixin and everything that keeps its two stamps like mongoose ``timestamps: true``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

from mongoengine import ValidationError, signals
from mongoengine.queryset import QuerySet

from . import _mongoengine as me
from .fields import UTCDateTimeField, utc_now

if TYPE_CHECKING:
    from pymongo.command_cursor import CommandCursor
    from typing_extensions import Self

__all__ = ("TimestampedMixin", "TimestampedQuerySet", "is_new")

D = TypeVar("D")  # the Document class a QuerySet yields

if TYPE_CHECKING:
    # Type checkers see only what TimestampedQuerySet declares of mongoengine's QuerySet
    # (which has no types), so a method that does not exist is an error, not an Any.
    UntypedQuerySet = object
else:
    UntypedQuerySet = QuerySet

CREATED = "createdAt"
UPDATED = "updatedAt"


class TimestampedMixin:
    """``created_at`` / ``updated_at`` (stored ``createdAt`` / ``updatedAt``), UTC-aware.

    ``created_at`` is stamped once, when the document is first written, and
    a change to it afterwards is refused. ``updated_at`` moves on every save
    that changes something, and on every atomic update made through
    :class:`TimestampedQuerySet`. A value set explicitly is left alone.
    """

    created_at = UTCDateTimeField(
        db_field=CREATED, help_text="UTC; when the document was first written, set once")
    updated_at = UTCDateTimeField(
        db_field=UPDATED, help_text="UTC; when a write last changed the document")


def is_new(document: Any) -> bool:
    """True for a document that save() would insert rather than update: one never stored
    (the package's documents know; for others, mongoengine's ``_created`` says)."""
    return document.pk is None or document._created or not getattr(document, "_stored", True)


def stamp_on_save(sender: Any, document: Any, **kwargs: Any) -> None:
    """pre_save receiver: stamp a new document, or move ``updated_at`` on a change."""
    if not isinstance(document, TimestampedMixin):
        return
    document = cast(Any, document)
    now = utc_now()
    if is_new(document):
        if document.created_at is None:
            document.created_at = now
        if document.updated_at is None:
            document.updated_at = now
        return
    changed = document._get_changed_fields()
    if CREATED in changed:
        raise me.document_validation_error(document, {"created_at": ValidationError(
            "is set once and cannot be changed", field_name="created_at")})
    if document.created_at is None:
        # Never stamped: written without timestamps, or given its id by hand,
        # which makes mongoengine treat a new document as an existing one.
        document.created_at = now
    if changed and UPDATED not in changed:
        document.updated_at = now


def stamp_on_bulk_insert(sender: Any, documents: Any, **kwargs: Any) -> None:
    """pre_bulk_insert receiver: stamp every new document of a bulk insert."""
    for document in documents:
        stamp_on_save(sender, document)


signals.pre_save.connect(stamp_on_save)
signals.pre_bulk_insert.connect(stamp_on_bulk_insert)


def _touches_created(update: dict[str, Any]) -> bool:
    return any(
        operator != "$setOnInsert" and isinstance(fields, dict) and CREATED in fields
        for operator, fields in update.items()
    )


def stamp_update(document_cls: type, update: dict[str, Any], upsert: bool) -> Any:
    """Turn mongoengine update keywords into a raw update that also moves the stamps.

    ``updatedAt`` is set unless the update sets it itself; on an upsert
    ``createdAt`` is set on insert only. An update that changes
    ``createdAt`` is refused.
    """
    now = utc_now()
    raw = update.get("__raw__")
    if isinstance(raw, list):  # an aggregation-pipeline update
        return {"__raw__": [*raw, {"$set": {UPDATED: now}}]}
    mongo_update = me.update_to_mongo(document_cls, **update)
    if _touches_created(mongo_update):
        raise ValidationError(
            "created_at is set once and cannot be changed", field_name="created_at"
        )
    sets = mongo_update.setdefault("$set", {})
    sets.setdefault(UPDATED, now)
    if upsert:
        on_insert = mongo_update.setdefault("$setOnInsert", {})
        on_insert.setdefault(CREATED, now)
    return {"__raw__": mongo_update}


# Keywords of QuerySet.update / modify that are options, not fields to update. They are
# passed on only when given, so that older mongoengine versions without some still work.
UPDATE_OPTIONS = frozenset({"multi", "write_concern", "read_concern", "full_result",
                            "array_filters"})
MODIFY_OPTIONS = frozenset({"full_response", "remove", "new", "array_filters"})


def _split(keywords: dict[str, Any], options: frozenset[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    chosen = {k: v for k, v in keywords.items() if k in options}
    return chosen, {k: v for k, v in keywords.items() if k not in options}


class TimestampedQuerySet(UntypedQuerySet, Generic[D]):
    """A QuerySet of ``D`` documents whose atomic updates move ``updated_at`` (bulk inserts
    are stamped by :func:`stamp_on_bulk_insert`).

    Its typed declarations of mongoengine's QuerySet methods keep the class through a
    chain (``filter``, ``order_by``, ``limit``, ... return the same QuerySet class) and give
    what each returns; they change nothing at run time.
    """

    if TYPE_CHECKING:
        _document: Any  # the Document class
        _collection: Any  # its pymongo Collection

        def __init__(self, document: type[D], collection: Any) -> None: ...
        def __call__(self, q_obj: Any = None, **query: Any) -> Self: ...
        def filter(self, *q_objs: Any, **query: Any) -> Self: ...
        def all(self) -> Self: ...
        def none(self) -> Self: ...
        def clone(self) -> Self: ...
        def order_by(self, *keys: str) -> Self: ...
        def limit(self, n: int) -> Self: ...
        def skip(self, n: int) -> Self: ...
        def only(self, *fields: str) -> Self: ...
        def exclude(self, *fields: str) -> Self: ...
        def fields(self, **kwargs: Any) -> Self: ...
        def batch_size(self, size: int) -> Self: ...
        def search_text(self, text: str, language: str | None = None) -> Self: ...
        def no_dereference(self) -> Self: ...
        def no_sub_classes(self) -> Self: ...
        def using(self, alias: str) -> Self: ...
        def hint(self, index: Any = None) -> Self: ...
        def comment(self, text: str) -> Self: ...
        def timeout(self, enabled: bool) -> Self: ...
        def max_time_ms(self, ms: int | None) -> Self: ...
        def read_preference(self, read_preference: Any) -> Self: ...
        def where(self, where_clause: str) -> Self: ...
        def first(self) -> D | None: ...
        def get(self, *q_objs: Any, **query: Any) -> D: ...
        def with_id(self, object_id: Any) -> D | None: ...
        def create(self, **kwargs: Any) -> D: ...
        def count(self, with_limit_and_skip: bool = False) -> int: ...
        def delete(self, write_concern: dict[str, Any] | None = None) -> int: ...
        def update_one(self, upsert: bool = False, **update: Any) -> int: ...
        def in_bulk(self, object_ids: Any) -> dict[Any, D]: ...
        def distinct(self, field: str) -> list[Any]: ...
        def scalar(self, *fields: str) -> TimestampedQuerySet[Any]: ...
        def values_list(self, *fields: str) -> TimestampedQuerySet[Any]: ...
        def as_pymongo(self) -> TimestampedQuerySet[dict[str, Any]]: ...
        def aggregate(self, pipeline: list[dict[str, Any]], **kwargs: Any
                      ) -> CommandCursor[dict[str, Any]]: ...
        def sum(self, field: str) -> float: ...
        def average(self, field: str) -> float: ...
        def to_json(self, *args: Any, **kwargs: Any) -> str: ...
        def explain(self) -> dict[str, Any]: ...
        def __iter__(self) -> Iterator[D]: ...
        def __len__(self) -> int: ...
        def __bool__(self) -> bool: ...
        @overload
        def __getitem__(self, key: int) -> D: ...
        @overload
        def __getitem__(self, key: slice) -> Self: ...
        def __getitem__(self, key: int | slice) -> D | Self: ...

    def update(self, upsert: bool = False, **keywords: Any) -> Any:
        """mongoengine's ``update`` of every match, also moving ``updated_at`` (and setting
        ``created_at`` when an upsert inserts); a change to ``created_at`` is refused. Returns
        the number of documents updated (mongoengine's result with ``full_result=True``)."""
        options, update = _split(keywords, UPDATE_OPTIONS)
        if update:
            update = stamp_update(self._document, update, upsert)
        untyped: Any = super()
        return untyped.update(upsert=upsert, **options, **update)

    def modify(self, upsert: bool = False, **keywords: Any) -> D | None:
        """mongoengine's ``modify``: update the first match, stamps moved as by
        :meth:`update`, and return it as it was (``new=True``: as it is now), or None when
        nothing matched."""
        options, update = _split(keywords, MODIFY_OPTIONS)
        if update and not options.get("remove"):
            update = stamp_update(self._document, update, upsert)
        untyped: Any = super()
        found: D | None = untyped.modify(upsert=upsert, **options, **update)
        return found
