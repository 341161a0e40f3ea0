"""The exceptions this package raises besides mongoengine's own."""

from __future__ import annotations

from pymongo.errors import ConnectionFailure

__all__ = ("ConfigurationError", "ServerUnreachable")


class ConfigurationError(ValueError):
    """A connection setting is missing or malformed (bad URI, missing extra)."""


class ServerUnreachable(ConnectionFailure):
    """The MongoDB server named by the URI did not answer in time."""
