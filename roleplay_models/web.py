"""The HTTP answer for each error the package's users meet, shared by the Flask and Django glue."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

import mongoengine
from bson import ObjectId
from mongoengine.errors import DoesNotExist, NotUniqueError, ValidationError
from pymongo.errors import ConnectionFailure

from .db.connection import first_reason, redact_uri
from .errors import ConcurrentModification, InvalidFilter, SessionStateError
from .odm.uniqueness import DuplicateValue

__all__ = ("BUSY", "MAPPED_ERRORS", "UNAVAILABLE", "ErrorAnswer", "OutageLog", "error_answer",
           "find_or_not_found")

UNAVAILABLE = "the database is unavailable; try again shortly"
MESSAGE_CHARS = 300
LOG = logging.getLogger("roleplay_models.web")

MAPPED_ERRORS: tuple[type[Exception], ...] = (
    ConnectionFailure, ConcurrentModification, DoesNotExist, ValidationError, InvalidFilter,
    SessionStateError, NotUniqueError)
BUSY = "the session is busy with other writes; try again shortly"
_SCALARS = (str, int, float, bool, ObjectId, datetime)
_DUPLICATE_KEY = re.compile(r"dup key: \{ ?\"?([A-Za-z_][\w.]*)\"?\s*:")


class ErrorAnswer(NamedTuple):
    """An HTTP status and the ``error`` text of the envelope ``{"success": false, "error": ...}``."""

    status: int
    message: str

    def envelope(self) -> dict[str, Any]:
        return {"success": False, "error": self.message}


def error_answer(error: Exception) -> ErrorAnswer | None:
    """The answer for ``error``: 404 for a document that does not exist, 400 for invalid
    input, 409 for a session state conflict or a duplicate, 503 while the database does not
    answer or a session stays busy (:class:`ConcurrentModification`: the same request may be
    sent again); None for any other error (one not in :data:`MAPPED_ERRORS`), which stays the
    app's to handle (a 500, usually).
    The text names a model or a field, never a query, BSON or a stack."""
    if isinstance(error, ConnectionFailure):
        return ErrorAnswer(503, UNAVAILABLE)
    if isinstance(error, ConcurrentModification):
        return ErrorAnswer(503, BUSY)
    if isinstance(error, DoesNotExist):
        return ErrorAnswer(404, f"{_model_name(type(error))} not found")
    if isinstance(error, ValidationError):
        return ErrorAnswer(400, _short(_validation_text(error)))
    if isinstance(error, InvalidFilter):
        return ErrorAnswer(400, _short(str(error)))
    if isinstance(error, SessionStateError):
        return ErrorAnswer(409, _short(str(error)))
    if isinstance(error, NotUniqueError):
        return ErrorAnswer(409, _duplicate_text(error))
    return None


def find_or_not_found(query: Any, **filters: Any) -> Any:
    """The one document ``query`` matches with ``filters``; the model's DoesNotExist when
    none does, also when a value cannot be stored in its field (a malformed id). A dict
    or list value is refused with InvalidFilter: it would become a query operator."""
    for name, value in filters.items():
        if value is not None and not isinstance(value, _SCALARS):
            raise InvalidFilter(f"{name} must be a single value, not {type(value).__name__}")
    model = query._document
    try:
        document = query.filter(**filters).first()
    except ValidationError:
        document = None  # a value its field cannot hold matches no stored document
    if document is None:
        raise model.DoesNotExist(f"{model.__name__} not found")
    return document


class OutageLog:
    """Logs a warning when the database stops answering, once per outage however many
    requests fail, with the cause and the server (password redacted). A request that did
    not meet the outage, once the client sees a server again, ends it
    (:meth:`request_done`), so the next failure is logged as a new outage."""

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias
        self.down = False
        self._lock = threading.Lock()

    def failed(self, error: Exception) -> None:
        """Record that a request met ``error`` (a ConnectionFailure); log it if it starts an outage."""
        with self._lock:
            if self.down:
                return
            self.down = True
        LOG.warning("the database at %s does not answer (%s); requests get 503 until it does",
                    self._server(), first_reason(error) if str(error) else type(error).__name__)

    def request_done(self, met_outage: bool) -> None:
        """Called after each request, saying whether it was answered 503: one that was not
        ends a recorded outage once the client has found a server again. Costs nothing
        while no outage is recorded."""
        if not self.down or met_outage:
            return
        try:
            client = mongoengine.get_connection(self.alias)
            back = client.topology_description.has_writable_server()
        except (AttributeError, TypeError, mongoengine.connection.ConnectionFailure):
            # mongomock, the embedded backend, keeps no topology
            return
        if back:
            with self._lock:
                self.down = False
            LOG.info("the database at %s answers again", self._server())

    def _server(self) -> str:
        try:
            client = mongoengine.get_connection(self.alias)
            database = mongoengine.get_db(self.alias).name
            hosts = ",".join(f"{host}:{port}" for host, port
                             in client.topology_description.server_descriptions())
        except (AttributeError, TypeError, mongoengine.connection.ConnectionFailure):
            # mongomock, the embedded backend, keeps no topology
            return f"connection {self.alias!r}"
        return redact_uri(f"mongodb://{hosts}/{database}")


def _short(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + "..."


def _validation_text(error: ValidationError) -> str:
    fields = _flatten(error.to_dict()) if error.errors else {}
    if fields:
        return "; ".join(f"{name}: {message}" for name, message in fields.items())
    if error.field_name:
        return f"{error.field_name}: {error.message}"
    return str(error.message)


def _flatten(errors: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, message in errors.items():
        if isinstance(message, Mapping):
            flat.update(_flatten(message, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = str(message)
    return flat


def _duplicate_text(error: NotUniqueError) -> str:
    if isinstance(error, DuplicateValue):  # the package's own: it names the field and value
        return _short(str(error))
    found = _DUPLICATE_KEY.search(str(error))
    if found:
        return f"a document with this {found.group(1)} already exists"
    return "a document with the same unique value already exists"


_model_names: dict[type, str] = {}


def _model_name(exception: type) -> str:
    """The name of the Document whose DoesNotExist ``exception`` is (mongoengine names them
    all DoesNotExist)."""
    if exception not in _model_names:
        pending: list[type] = [mongoengine.Document]
        while pending:
            model = pending.pop()
            if model.__dict__.get("DoesNotExist") is exception:
                _model_names[exception] = model.__name__
                break
            pending.extend(model.__subclasses__())
        else:
            return "document"
    return _model_names[exception]
