"""The five models in one list, for code that works on all of them."""

from __future__ import annotations

from .analytics import SessionAnalytics
from .character import Character
from .scenario import Scenario
from .session import RoleplaySession
from .tip import RoleplayTip

__all__ = ("MODELS",)

MODELS = (Scenario, Character, RoleplaySession, SessionAnalytics, RoleplayTip)
