"""Flask glue: connect from the app's config, JSON for ids and datetimes, 404 and 503 answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from flask import Flask, abort, jsonify
from flask.json.provider import DefaultJSONProvider
from mongoengine import Document
from pymongo.errors import ConnectionFailure

from .db.connection import connect_from_settings, ensure_ready, ping
from .errors import ServerUnreachable
from .odm.api import iso_utc

__all__ = ("RoleplayJSONProvider", "get_or_404", "init_app", "readiness")

EXTENSION = "roleplay_models"


class RoleplayJSONProvider(DefaultJSONProvider):
    """Flask JSON that writes ObjectIds as strings, datetimes as ISO 8601 UTC and
    Documents as their ``to_api_dict()``."""

    @staticmethod
    def default(value: Any) -> Any:
        if isinstance(value, ObjectId):
            return str(value)
        if isinstance(value, datetime):
            return iso_utc(value)
        if isinstance(value, Document) and hasattr(value, "to_api_dict"):
            return value.to_api_dict()
        return DefaultJSONProvider.default(value)


def init_app(app: Flask) -> Any:
    """Connect from ``MONGODB_URI`` or flask-mongoengine-style ``MONGODB_SETTINGS``
    (``host``, ``db``, other keys to pymongo), else ``$MONGODB_URI``; install the JSON
    provider. Returns the client, also kept in ``app.extensions['roleplay_models']``.

    Nothing is sent to the server here, so an app boots while the database is down
    (a restarted worker during an outage keeps running). The first request that
    reaches the server creates the missing indexes. While the server does not
    answer, a request gets a 503 ``{"success": false, "error": ...}`` within the
    selection timeout, and the app recovers by itself when the server is back.
    """
    client = connect_from_settings(app.config.get("MONGODB_SETTINGS"),
                                   app.config.get("MONGODB_URI"), wait=False)
    app.json = RoleplayJSONProvider(app)
    app.extensions[EXTENSION] = client
    app.before_request(_ensure_ready)
    app.register_error_handler(ConnectionFailure, _database_unavailable)
    return client


def _ensure_ready() -> None:
    ensure_ready()


def _database_unavailable(error: Exception) -> Any:
    return jsonify(success=False, error="the database is unavailable; try again shortly"), 503


def readiness() -> Any:
    """A view for orchestrators: 200 when the database answers a ping, else 503."""
    try:
        ping()
    except ServerUnreachable as err:
        return jsonify(ready=False, error=str(err)), 503
    return jsonify(ready=True), 200


def get_or_404(query: Any, **filters: Any) -> Any:
    """The one document ``query`` matches with ``filters``, or a 404."""
    document = query.filter(**filters).first()
    if document is None:
        abort(404, description=f"{query._document.__name__} not found")
    return document
