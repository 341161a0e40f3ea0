"""Connecting mongoengine to a MongoDB server, or to the embedded mongomock backend."""

from __future__ import annotations

import os
import re
import sys
import threading
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_plus, urlsplit, urlunsplit

import mongoengine
from mongoengine.connection import DEFAULT_CONNECTION_NAME
from pymongo import uri_parser
from pymongo.errors import ConnectionFailure, InvalidURI, PyMongoError

from ..errors import ConfigurationError, IndexRefusedWarning, ServerUnreachable
from .indexes import RefusedIndex, format_keys
from .server import server_facts

__all__ = (
    "DEFAULT_URI",
    "EMBEDDED_SCHEME",
    "connect",
    "connect_from_settings",
    "disconnect",
    "ensure_ready",
    "first_reason",
    "ping",
    "redact_uri",
    "with_database",
)

#: Where :func:`connect` goes without a URI and without ``$MONGODB_URI``.
DEFAULT_URI = "mongodb://localhost:27017/roleplay"
EMBEDDED_SCHEME = "mongomock://"
SRV_SCHEME = "mongodb+srv://"
DEFAULT_TIMEOUTS_MS = {
    "serverSelectionTimeoutMS": 5000,
    "connectTimeoutMS": 5000,
    "socketTimeoutMS": 60000,
}

_PASSWORD_IN_URI = re.compile(r"(?P<head>[a-z+]+://[^:/@]*):[^@/]*@", re.IGNORECASE)


def redact_uri(uri: str) -> str:
    """The URI with its password, if any, replaced by ``***``."""
    return _PASSWORD_IN_URI.sub(r"\g<head>:***@", uri)


def first_reason(err: Exception) -> str:
    """The first cause of a pymongo error, without its topology dump."""
    text = redact_uri(str(err)).splitlines()[0]
    return text.split(" (configured timeouts")[0].split(", Timeout:")[0]


def with_database(uri: str, database: str) -> str:
    """``uri`` naming ``database`` instead of its own, every host and option kept."""
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(database, safe=""), parts.query,
                       parts.fragment))


def _uri_option_names(uri: str) -> set[str]:
    """The option names in ``uri``'s query string, lowercased (pymongo ignores their case)."""
    return {name.lower() for name, _ in parse_qsl(urlsplit(uri).query, keep_blank_values=True)}


def _database_name(uri: str) -> str:
    if uri.startswith(SRV_SCHEME):
        # parse_uri would resolve the SRV record here; the client does that when it connects.
        if not urlsplit(uri).hostname:
            raise ConfigurationError(f"invalid MongoDB URI {redact_uri(uri)!r}: no host")
        database = unquote_plus(urlsplit(uri).path.lstrip("/"))
    else:
        try:
            database = uri_parser.parse_uri(uri, validate=True, warn=False)["database"]
        except (InvalidURI, PyMongoError, ValueError) as err:
            raise ConfigurationError(f"invalid MongoDB URI {redact_uri(uri)!r}: {err}") from None
    if not database:
        raise ConfigurationError(
            f"MongoDB URI {redact_uri(uri)!r} names no database; add one, e.g. .../roleplay"
        )
    return database


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


def connect(
    uri: str | None = None,
    alias: str = "default",
    ensure_indexes: bool = True,
    wait: bool = True,
    **kwargs: Any,
) -> Any:
    """Connect the models and return the pymongo (or mongomock) client.

    ``uri`` defaults to ``$MONGODB_URI``, else :data:`DEFAULT_URI`, and must
    name a database; ``mongodb+srv://`` is accepted. ``mongomock://localhost/<db>``
    selects the in-process backend (the ``embedded`` extra); nothing else
    ever does. The server is pinged before returning: an unreachable one
    raises :class:`ServerUnreachable` within ``serverSelectionTimeoutMS``
    (5 s unless the URI or a keyword says otherwise). Extra keyword arguments
    go to ``pymongo.MongoClient`` and, like the URI's options, win over the
    package's defaults. With ``ensure_indexes`` (the default), the declared
    indexes that are missing are created, once per database and process, so
    unique ids hold from the first write; a deployment that manages its own
    indexes passes False. With ``wait=False`` (for web apps, which must boot
    while the database is down) nothing is sent now: the URI is still
    checked, and the indexes are created by the first :func:`ensure_ready`
    that reaches the server. An existing connection under the same alias is
    replaced.
    """
    uri = uri or os.environ.get("MONGODB_URI") or DEFAULT_URI
    disconnect(alias)
    if uri.startswith(EMBEDDED_SCHEME):
        client = _connect_embedded(uri, alias)
    else:
        client = _connect_server(uri, alias, kwargs, wait)
    if ensure_indexes and alias == DEFAULT_CONNECTION_NAME:
        _pending_indexes[alias] = uri
        if wait:
            ensure_ready(alias)
    return client


def ensure_ready(alias: str = "default") -> None:
    """Create the indexes that a :func:`connect` with ``wait=False`` left for later; raises
    :class:`ServerUnreachable` when the server does not answer. Once they exist (or when
    none were left), it does nothing and sends nothing."""
    uri = _pending_indexes.get(alias)
    if uri is not None:
        _ensure_indexes_once(uri)
        _pending_indexes.pop(alias, None)


def ping(alias: str = "default") -> None:
    """One round trip to the server of ``alias`` (a readiness check); raises
    :class:`ServerUnreachable` when it does not answer in time."""
    client = mongoengine.get_connection(alias)
    try:
        client.admin.command("ping")
    except ConnectionFailure as err:
        raise ServerUnreachable(f"the database does not answer: {first_reason(err)}") from None


def _connect_server(uri: str, alias: str, kwargs: dict[str, Any], wait: bool) -> Any:
    if kwargs.get("tz_aware", True) is not True:
        raise ConfigurationError("tz_aware must stay True: the package works in aware UTC")
    database = _database_name(uri)
    in_uri = _uri_option_names(uri)
    defaults = {k: v for k, v in DEFAULT_TIMEOUTS_MS.items() if k.lower() not in in_uri}
    options = {"tz_aware": True, "uuidRepresentation": "standard", **defaults, **kwargs}
    try:
        client = mongoengine.connect(db=database, host=uri, alias=alias, **options)
        if wait:
            client.admin.command("ping")
    except ConnectionFailure as err:
        disconnect(alias)
        raise ServerUnreachable(
            f"cannot reach MongoDB at {redact_uri(uri)}: {first_reason(err)}"
        ) from None
    except (PyMongoError, TypeError, ValueError) as err:
        disconnect(alias)
        raise ConfigurationError(
            f"cannot connect to {redact_uri(uri)}: {redact_uri(str(err))}"
        ) from None
    return client


_indexed: set[str] = set()
_indexed_lock = threading.Lock()
_pending_indexes: dict[str, str] = {}  # alias -> URI whose indexes are still to be ensured


def _ensure_indexes_once(uri: str) -> None:
    """Create the missing declared indexes the first time this process connects to a database;
    each index the server refuses is a warning."""
    from .indexes import ensure_indexes

    key = redact_uri(uri.split("?")[0])
    with _indexed_lock:
        if key in _indexed:
            return
    # Not under the lock: while the server is down, each caller (a web request, say) fails
    # within its own selection timeout instead of queueing behind the others. Creating an
    # index that exists is a no-op, so two threads doing it at once is harmless.
    try:
        report = ensure_indexes()
    except ConnectionFailure as err:
        raise ServerUnreachable(
            f"cannot reach MongoDB at {redact_uri(uri)}: {first_reason(err)}") from None
    with _indexed_lock:
        if key in _indexed:
            return
        _indexed.add(key)
    if report.refused:
        _warn_refused(uri, report.refused)


def _server_of(uri: str) -> str:
    """The scheme and hosts of ``uri``: which server it names, whatever its database."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2].lower()}"


# server -> the registry in which Python's warning filters note what was already said there
_said: dict[str, dict[Any, Any]] = {}


def _warn_refused(uri: str, refused: list[RefusedIndex]) -> None:
    """One IndexRefusedWarning per refused index, said once per process and server: each
    server has its own registry for Python's default warning action (a filter of
    ``"always"`` shows every one; ``"ignore"`` none)."""
    client = mongoengine.get_connection(DEFAULT_CONNECTION_NAME)
    registry = _said.setdefault(_server_of(uri), {})
    for index in refused:
        index_name = f"{index.collection} ({format_keys(index.keys)})"
        if any(direction == "text" for _, direction in index.keys) and \
                not server_facts(client).text_search:
            text = (f"this server has no text search, so the index {index_name} is not used: "
                    "search() matches words with a case-insensitive pattern instead")
        else:
            text = f"the server refused the index {index_name}: {index.reason}"
        warnings.warn_explicit(text, IndexRefusedWarning, __file__, sys._getframe().f_lineno,
                               module=__name__, registry=registry)


def connect_from_settings(
    settings: Mapping[str, Any] | None, uri: str | None = None, wait: bool = True
) -> Any:
    """Connect from a flask-mongoengine-style mapping: ``host`` (a URI), optionally ``db``
    (replacing the URI's database, its options kept), ``alias``, ``ensure_indexes``, and
    pymongo options; ``uri`` when ``host`` is missing; ``$MONGODB_URI`` when both are.
    ``wait`` is :func:`connect`'s."""
    if settings is None:
        return connect(uri, wait=wait)
    if not isinstance(settings, Mapping):
        raise ConfigurationError("MongoDB settings must be a mapping like {'host': 'mongodb://...'}")
    options = dict(settings)
    uri = options.pop("host", None) or uri
    database = options.pop("db", None)
    if database:
        if uri is None:
            raise ConfigurationError("MongoDB settings name a 'db' but no 'host'")
        if not isinstance(database, str):
            raise ConfigurationError("MongoDB settings 'db' must be a string")
        uri = with_database(uri, database)
    return connect(uri, wait=wait, **options)


def disconnect(alias: str = "default") -> None:
    """Close the connection of ``alias``, if any, and forget cached collections."""
    _pending_indexes.pop(alias, None)
    mongoengine.disconnect(alias)
