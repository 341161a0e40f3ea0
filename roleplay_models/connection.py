"""Connecting mongoengine to a MongoDB server, or to the embedded mongomock backend."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import mongoengine
from pymongo import uri_parser
from pymongo.errors import ConnectionFailure, InvalidURI, PyMongoError

from .errors import ConfigurationError, ServerUnreachable

__all__ = (
    "DEFAULT_URI",
    "EMBEDDED_SCHEME",
    "connect",
    "connect_from_settings",
    "disconnect",
    "redact_uri",
)

DEFAULT_URI = "mongodb://localhost:27017/roleplay"
EMBEDDED_SCHEME = "mongomock://"
DEFAULT_TIMEOUTS_MS = {
    "serverSelectionTimeoutMS": 5000,
    "connectTimeoutMS": 5000,
    "socketTimeoutMS": 60000,
}

_PASSWORD_IN_URI = re.compile(r"(?P<head>[a-z+]+://[^:/@]*):[^@/]*@", re.IGNORECASE)


def redact_uri(uri: str) -> str:
    """The URI with its password, if any, replaced by ``***``."""
    return _PASSWORD_IN_URI.sub(r"\g<head>:***@", uri)


def _first_reason(err: Exception) -> str:
    """The first cause of a pymongo error, without its topology dump."""
    text = redact_uri(str(err)).splitlines()[0]
    return text.split(" (configured timeouts")[0].split(", Timeout:")[0]


def _database_name(uri: str) -> str:
    try:
        parsed = uri_parser.parse_uri(uri, validate=True, warn=False)
    except (InvalidURI, PyMongoError, ValueError) as err:
        raise ConfigurationError(f"invalid MongoDB URI {redact_uri(uri)!r}: {err}") from None
    if not parsed["database"]:
        raise ConfigurationError(
            f"MongoDB URI {redact_uri(uri)!r} names no database; add one, e.g. .../roleplay"
        )
    return parsed["database"]


def _connect_embedded(uri: str, alias: str) -> Any:
    try:
        import mongomock
    except ImportError:
        raise ConfigurationError(
            f"{EMBEDDED_SCHEME} needs the embedded backend: pip install 'roleplay_models[embedded]'"
        ) from None
    server_uri = "mongodb://" + uri[len(EMBEDDED_SCHEME):]
    return mongoengine.connect(
        db=_database_name(server_uri),
        host=server_uri,
        alias=alias,
        mongo_client_class=mongomock.MongoClient,
        tz_aware=True,
        uuidRepresentation="standard",
    )


def connect(uri: str | None = None, alias: str = "default", **kwargs: Any) -> Any:
    """Connect the models and return the pymongo (or mongomock) client.

    ``uri`` defaults to ``$MONGODB_URI``, else :data:`DEFAULT_URI`, and must
    name a database. ``mongomock://localhost/<db>`` selects the in-process
    backend (the ``embedded`` extra); nothing else ever does. The server is
    pinged before returning: an unreachable one raises
    :class:`ServerUnreachable` within ``serverSelectionTimeoutMS`` (5 s by
    default). Extra keyword arguments go to ``pymongo.MongoClient``. An
    existing connection under the same alias is replaced.
    """
    uri = uri or os.environ.get("MONGODB_URI") or DEFAULT_URI
    disconnect(alias)
    if uri.startswith(EMBEDDED_SCHEME):
        return _connect_embedded(uri, alias)
    database = _database_name(uri)
    options = {"tz_aware": True, "uuidRepresentation": "standard", **DEFAULT_TIMEOUTS_MS, **kwargs}
    try:
        client = mongoengine.connect(db=database, host=uri, alias=alias, **options)
        client.admin.command("ping")
    except ConnectionFailure as err:
        disconnect(alias)
        raise ServerUnreachable(
            f"cannot reach MongoDB at {redact_uri(uri)}: {_first_reason(err)}"
        ) from None
    except (PyMongoError, TypeError, ValueError) as err:
        disconnect(alias)
        raise ConfigurationError(
            f"cannot connect to {redact_uri(uri)}: {redact_uri(str(err))}"
        ) from None
    return client


def connect_from_settings(settings: Mapping[str, Any] | None, uri: str | None = None) -> Any:
    """Connect from a flask-mongoengine-style mapping: ``host`` (a URI), optionally ``db``
    (replacing the URI's database), ``alias``, and pymongo options; ``uri`` when ``host`` is
    missing; ``$MONGODB_URI`` when both are."""
    if settings is None:
        return connect(uri)
    if not isinstance(settings, Mapping):
        raise ConfigurationError("MongoDB settings must be a mapping like {'host': 'mongodb://...'}")
    options = dict(settings)
    uri = options.pop("host", None) or uri
    database = options.pop("db", None)
    if database:
        if uri is None:
            raise ConfigurationError("MongoDB settings name a 'db' but no 'host'")
        uri = uri.split("?")[0].rstrip("/").rsplit("/", 1)[0] + "/" + database
    return connect(uri, **options)


def disconnect(alias: str = "default") -> None:
    """Close the connection of ``alias``, if any, and forget cached collections."""
    mongoengine.disconnect(alias)
