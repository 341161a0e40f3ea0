"""The five models, one module each as in the mongoose schema's ``models/``, and ``MODELS``,
the list for code that works on all of them (their indexes are declared to the db layer here)."""

from __future__ import annotations

from ..db.indexes import declare_models
from .analytics import SessionAnalytics
from .character import Character
from .scenario import Scenario
from .session import RoleplaySession
from .tip import RoleplayTip

__all__ = ("MODELS",)

#: The five models, in the order their collections are listed and audited.
MODELS = (Scenario, Character, RoleplaySession, SessionAnalytics, RoleplayTip)
declare_models(*MODELS)
