"""Creating the declared indexes, and reporting what the server refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from pymongo.errors import OperationFailure

from .server import forget_server_facts, server_facts

__all__ = ("IndexReport", "RefusedIndex", "declare_models", "ensure_indexes", "format_keys")


@dataclass(frozen=True)
class RefusedIndex:
    """An index the server would not create, with its reason."""

    collection: str
    keys: tuple[tuple[str, Any], ...]
    reason: str


@dataclass
class IndexReport:
    """What :func:`ensure_indexes` created (``collection.index_name``) and what was refused."""

    created: list[str] = field(default_factory=list)
    refused: list[RefusedIndex] = field(default_factory=list)


def format_keys(keys: Iterable[Any]) -> str:
    """An index's keys as the command line and warnings show them: ``title:text, description:text``
    (``keys`` as pymongo and mongoengine give them, pairs of field and direction)."""
    return ", ".join(f"{field}:{direction}" for field, direction in keys)


# The models whose indexes connect() and ensure_indexes() create: the models package
# declares them here, so that this layer never imports the one above it.
_declared: list[Any] = []


def declare_models(*models: Any) -> None:
    """Have :func:`ensure_indexes` (and so ``connect``) create these models' indexes."""
    _declared.extend(model for model in models if model not in _declared)


def ensure_indexes(models: Iterable[Any] | None = None) -> IndexReport:
    """Create every index declared in the models' ``meta`` (by default the package's five
    models), one at a time.

    An index the server refuses (a text index on a server without text
    search, say) is reported and the rest are still created. A text index
    that a server accepts but cannot query is reported as refused too.
    """
    if models is None:
        models = list(_declared)
    report = IndexReport()
    text_indexes: list[tuple[Any, RefusedIndex]] = []
    client = None
    for model in models:
        collection = model._get_collection()
        for spec in model._meta.get("index_specs", []):
            keys = spec["fields"]
            options = {k: v for k, v in spec.items() if k != "fields"}
            try:
                name = collection.create_index(keys, **options)
            except (OperationFailure, NotImplementedError) as err:
                reason = getattr(err, "details", None) or {}
                report.refused.append(
                    RefusedIndex(collection.name, tuple(keys), reason.get("errmsg", str(err)))
                )
            else:
                report.created.append(f"{collection.name}.{name}")
                if any(direction == "text" for _, direction in keys):
                    text_indexes.append((f"{collection.name}.{name}", RefusedIndex(
                        collection.name, tuple(keys),
                        "the server accepted the index but runs no $text query")))
        client = collection.database.client
    if client is not None:
        forget_server_facts(client)  # a text index created now can change the answer
        if text_indexes and not server_facts(client).text_search:
            for name, refused in text_indexes:
                report.created.remove(name)
                report.refused.append(refused)
    return report
