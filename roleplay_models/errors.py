"""The exceptions this package raises besides mongoengine's own."""

from __future__ import annotations

from pymongo.errors import ConnectionFailure

__all__ = (
    "ConcurrentModification",
    "ConfigurationError",
    "IndexRefusedWarning",
    "InvalidFilter",
    "InvalidTransition",
    "ServerUnreachable",
    "SessionNotActive",
    "SessionNotFinished",
    "SessionStateError",
    "WriteUnconfirmed",
)


class ConfigurationError(ValueError):
    """A connection setting is missing or malformed (bad URI, missing extra)."""


class ServerUnreachable(ConnectionFailure):
    """The MongoDB server named by the URI did not answer in time."""


class SessionStateError(ValueError):
    """A session is not in a state that allows what was asked."""


class InvalidTransition(SessionStateError):
    """A lifecycle change (pause, resume, end, complete) the session's status does not allow."""


class SessionNotActive(SessionStateError):
    """A turn was added to a session that is not active."""


class SessionNotFinished(SessionStateError):
    """An analysis was recorded for a session that is neither completed nor ended."""


class ConcurrentModification(RuntimeError):
    """A session kept changing under a transition (it was retried, then given up), or,
    on a server without atomic updates, its lease stayed held by another writer too long."""


class InvalidFilter(ValueError):
    """A query argument is not of the type or form the filter takes; nothing was queried."""


class IndexRefusedWarning(UserWarning):
    """The server refused a declared index (a text index without text search, say)."""


class WriteUnconfirmed(ConnectionFailure):
    """A write's reply was lost, and so was its repeat's: it may or may not be stored.
    Repeating the same request (the same turn id or session id) is safe."""
