"""Flask glue: connect from the app's config, JSON for ids and datetimes, errors as HTTP answers."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from bson import ObjectId
from flask import Flask, g, jsonify
from flask.json.provider import DefaultJSONProvider
from mongoengine import Document
from pymongo.errors import ConnectionFailure

from .db.connection import connect_from_settings, ensure_ready, ping
from .errors import ServerUnreachable
from .odm.api import iso_utc
from .web import MAPPED_ERRORS, OutageLog, error_answer, find_or_not_found

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
    provider and the error handlers. Returns the client, also kept in
    ``app.extensions['roleplay_models']``.

    Nothing is sent to the server here, so an app boots while the database is down
    (a restarted worker during an outage keeps running). The first request that
    reaches the server creates the missing indexes. The package's errors become
    ``{"success": false, "error": ...}`` answers: 404 for a document that does not
    exist, 400 for invalid input, 409 for a session state conflict or a duplicate,
    503 while the database does not answer (within the selection timeout; logged
    once per outage on the ``roleplay_models.web`` logger), and the app recovers by
    itself when the server is back.
    """
    client = connect_from_settings(app.config.get("MONGODB_SETTINGS"),
                                   app.config.get("MONGODB_URI"), wait=False)
    app.json = RoleplayJSONProvider(app)
    app.extensions[EXTENSION] = client
    outages = OutageLog()
    app.before_request(_ensure_ready)
    app.after_request(partial(_request_done, outages))
    for error in MAPPED_ERRORS:
        app.register_error_handler(error, partial(_answer, outages))
    return client


def _ensure_ready() -> None:
    ensure_ready()


def _answer(outages: OutageLog, error: Exception) -> Any:
    answer = error_answer(error)
    if answer is None:  # not one of MAPPED_ERRORS: let Flask's own handling have it
        raise error
    if isinstance(error, ConnectionFailure):  # a busy session (also a 503) is no outage
        outages.failed(error)
        g.roleplay_outage = True
    return jsonify(answer.envelope()), answer.status


def _request_done(outages: OutageLog, response: Any) -> Any:
    outages.request_done(met_outage=g.get("roleplay_outage", False))
    return response


def readiness() -> Any:
    """A view for orchestrators: 200 when the database answers a ping, else 503."""
    try:
        ping()
    except ServerUnreachable as err:
        return jsonify(ready=False, error=str(err)), 503
    return jsonify(ready=True), 200


def get_or_404(query: Any, **filters: Any) -> Any:
    """The one document ``query`` matches with ``filters``; when none does (a malformed
    id included), the model's DoesNotExist, which the app answers 404. A dict or list
    value is refused (400): it would become a query operator."""
    return find_or_not_found(query, **filters)
