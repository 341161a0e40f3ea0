"""Django glue: an AppConfig that connects lazily from settings, and a middleware for errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.http import HttpRequest, HttpResponse, JsonResponse
from pymongo.errors import ConnectionFailure

from .db.connection import connect_from_settings, ensure_ready
from .web import UNAVAILABLE, ErrorAnswer, OutageLog, error_answer, find_or_not_found

__all__ = ("MIDDLEWARE", "RoleplayErrorsMiddleware", "RoleplayModelsConfig", "get_or_404")

#: The line a project adds to its ``MIDDLEWARE`` setting.
MIDDLEWARE = "roleplay_models.django.RoleplayErrorsMiddleware"


class RoleplayModelsConfig(AppConfig):
    """Add ``"roleplay_models.django.RoleplayModelsConfig"`` to ``INSTALLED_APPS``.

    ``ready()`` connects from ``settings.MONGODB_SETTINGS`` (``host``, ``db``,
    pymongo options), else ``settings.MONGODB_URI``, else ``$MONGODB_URI``, sending
    nothing to the server, so ``manage.py check`` and a worker start while the
    database is down; a malformed URI is refused here. :class:`RoleplayErrorsMiddleware`
    creates the missing indexes on the first request that reaches the server.
    """

    name = "roleplay_models"
    label = "roleplay_models"
    verbose_name = "Sales roleplay data (MongoDB)"

    def ready(self) -> None:
        connect_from_settings(getattr(settings, "MONGODB_SETTINGS", None),
                              getattr(settings, "MONGODB_URI", None), wait=False)
        checks.register(middleware_installed)


def middleware_installed(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A system check: without the middleware no request creates the indexes, and the
    package's errors are 500s."""
    if MIDDLEWARE in settings.MIDDLEWARE:
        return []
    return [checks.Warning(
        f"{MIDDLEWARE} is not in MIDDLEWARE: no request creates the declared indexes, "
        "and the package's errors are answered 500",
        hint=f'add "{MIDDLEWARE}" to MIDDLEWARE', id="roleplay_models.W001")]


class RoleplayErrorsMiddleware:
    """Add ``"roleplay_models.django.RoleplayErrorsMiddleware"`` to ``MIDDLEWARE``.

    Before each request it creates the indexes ``ready()`` left for later (nothing is
    sent once they exist). A view's error of the package becomes a JSON answer
    ``{"success": false, "error": ...}``: 404 for a document that does not exist, 400 for
    invalid input, 409 for a session state conflict or a duplicate, 503 while the
    database does not answer (logged once per outage on the ``roleplay_models.web``
    logger). Any other error is left to Django.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.outages = OutageLog()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            ensure_ready()
        except ConnectionFailure as error:
            response = self._respond(error, ErrorAnswer(503, UNAVAILABLE))
        else:
            response = self.get_response(request)
        self.outages.request_done(met_outage=getattr(response, "roleplay_outage", False))
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        answer = error_answer(exception)
        return None if answer is None else self._respond(exception, answer)

    def _respond(self, error: Exception, answer: ErrorAnswer) -> HttpResponse:
        response = JsonResponse(answer.envelope(), status=answer.status)
        if isinstance(error, ConnectionFailure):  # a busy session (also a 503) is no outage
            self.outages.failed(error)
            response.roleplay_outage = True
        return response


def get_or_404(query: Any, **filters: Any) -> Any:
    """The one document ``query`` matches with ``filters``; when none does (a malformed
    id included), the model's DoesNotExist, which the middleware answers 404. A dict or
    list value is refused (400): it would become a query operator."""
    return find_or_not_found(query, **filters)
