"""Serializing writes to one document within this process, where the server will not.

On a server without atomic single-document updates (see
:class:`~roleplay_models.server.ServerFacts`), two conditional updates of
one session can both read the old version and one change is lost. There,
writes to the same document from this process take one of a fixed set of
striped locks. Writers in other processes are not covered: run more than
one writing process only against MongoDB.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from .server import server_facts

__all__ = ("document_write_lock",)

_STRIPES = [threading.Lock() for _ in range(64)]


@contextlib.contextmanager
def document_write_lock(collection: Any, document_id: Any) -> Iterator[None]:
    """Hold this document's lock when the server needs it; otherwise do nothing."""
    if server_facts(collection.database.client).atomic_updates:
        yield
        return
    with _STRIPES[hash((collection.full_name, document_id)) % len(_STRIPES)]:
        yield
