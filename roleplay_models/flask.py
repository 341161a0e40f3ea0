"""Flask glue: connect from the app's config, JSON for ids and datetimes, 404 lookups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from flask import Flask, abort
from flask.json.provider import DefaultJSONProvider
from mongoengine import Document

from .api import iso_utc
from .connection import connect
from .errors import ConfigurationError

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


def _connection_arguments(config: Any) -> tuple[str | None, dict[str, Any]]:
    settings = config.get("MONGODB_SETTINGS")
    if settings is None:
        return config.get("MONGODB_URI"), {}
    if not isinstance(settings, dict):
        raise ConfigurationError("MONGODB_SETTINGS must be a dict like {'host': 'mongodb://...'}")
    settings = dict(settings)
    uri = settings.pop("host", None) or config.get("MONGODB_URI")
    database = settings.pop("db", None)
    if database:
        if uri is None:
            raise ConfigurationError("MONGODB_SETTINGS has 'db' but no 'host'")
        uri = uri.split("?")[0].rstrip("/").rsplit("/", 1)[0] + "/" + database
    return uri, settings


def init_app(app: Flask) -> Any:
    """Connect from ``MONGODB_URI`` or flask-mongoengine-style ``MONGODB_SETTINGS``
    (``host``, ``db``, other keys to pymongo), else ``$MONGODB_URI``; install the JSON
    provider. Returns the client, also kept in ``app.extensions['roleplay_models']``."""
    uri, options = _connection_arguments(app.config)
    client = connect(uri, **options)
    app.json = RoleplayJSONProvider(app)
    app.extensions[EXTENSION] = client
    return client


def get_or_404(query: Any, **filters: Any) -> Any:
    """The one document ``query`` matches with ``filters``, or a 404."""
    document = query.filter(**filters).first()
    if document is None:
        abort(404, description=f"{query._document.__name__} not found")
    return document
