"""What the connected server can do, asked once per client and remembered."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

__all__ = ("ServerFacts", "server_facts")


@dataclass(frozen=True)
class ServerFacts:
    """Capabilities that change how this package talks to a server.

    ``atomic_updates``: a single-document update is applied atomically, so
    conditional updates alone keep concurrent writers correct. MongoDB does;
    FerretDB v1 reads, changes and writes back a document without a lock,
    and mongomock is not thread-safe. ``text_search``: ``$text`` queries work.
    ``group_accumulators``: a ``$group`` stage computes several accumulators
    correctly (FerretDB v1 feeds its documents to the first one only).
    """

    name: str
    atomic_updates: bool
    text_search: bool
    group_accumulators: bool


_facts: weakref.WeakKeyDictionary[Any, ServerFacts] = weakref.WeakKeyDictionary()
_facts_lock = threading.Lock()


def _ask(client: Any) -> ServerFacts:
    if type(client).__module__.startswith("mongomock"):
        return ServerFacts("mongomock", atomic_updates=False, text_search=False,
                           group_accumulators=True)
    info = client.admin.command("buildInfo")
    if "ferretdbVersion" in info:
        return ServerFacts(f"FerretDB {info['ferretdbVersion']}", atomic_updates=False,
                           text_search=False, group_accumulators=False)
    return ServerFacts(f"MongoDB {info.get('version', '?')}", atomic_updates=True,
                       text_search=True, group_accumulators=True)


def server_facts(client: Any) -> ServerFacts:
    """The facts for ``client`` (a pymongo or mongomock client); asked once, then remembered."""
    facts = _facts.get(client)
    if facts is not None:  # every add_turn comes here: no lock once the client is known
        return facts
    with _facts_lock:
        facts = _facts.get(client)
        if facts is None:
            facts = _facts[client] = _ask(client)
        return facts
