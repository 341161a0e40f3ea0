"""Django-style glue: an AppConfig that connects from the project's settings when ready."""

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings

from .db.connection import connect_from_settings

__all__ = ("RoleplayModelsConfig",)


class RoleplayModelsConfig(AppConfig):
    """Add ``"roleplay_models.django.RoleplayModelsConfig"`` to ``INSTALLED_APPS``.

    ``ready()`` connects from ``settings.MONGODB_SETTINGS`` (``host``, ``db``,
    pymongo options), else ``settings.MONGODB_URI``, else ``$MONGODB_URI``.
    """

    name = "roleplay_models"
    label = "roleplay_models"
    verbose_name = "Sales roleplay data (MongoDB)"

    def ready(self) -> None:
        connect_from_settings(getattr(settings, "MONGODB_SETTINGS", None),
                              getattr(settings, "MONGODB_URI", None))
