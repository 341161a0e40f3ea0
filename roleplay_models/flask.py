"""Flask glue: connect from the app's config, JSON for ids and datetimes, 404 lookups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from flask import Flask, abort
from flask.json.provider import DefaultJSONProvider
from mongoengine import Document

from .api import iso_utc
from .connection import connect_from_settings

__all__ = ("RoleplayJSONProvider", "get_or_404", "init_app")

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
    provider. Returns the client, also kept in ``app.extensions['roleplay_models']``."""
    client = connect_from_settings(app.config.get("MONGODB_SETTINGS"), app.config.get("MONGODB_URI"))
    app.json = RoleplayJSONProvider(app)
    app.extensions[EXTENSION] = client
    return client


def get_or_404(query: Any, **filters: Any) -> Any:
    """The one document ``query`` matches with ``filters``, or a 404."""
    document = query.filter(**filters).first()
    if document is None:
        abort(404, description=f"{query._document.__name__} not found")
    return document
