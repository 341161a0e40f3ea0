"""Valid, unsaved documents of every model, with fields overridable per test."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

from roleplay_models import (
    Character,
    ConversationEntry,
    KeyMoment,
    RoleplaySession,
    RoleplayTip,
    Scenario,
    SessionAnalytics,
)

_serial = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_serial)}"


def scenario(**fields: Any) -> Scenario:
    values = {
        "scenario_id": unique("scn"),
        "title": "Cold call to a CFO",
        "description": "A busy CFO who thinks the budget is spent.",
        "llm_prompt": "You are a sceptical CFO.",
    }
    return Scenario(**{**values, **fields})


def character(scenarios: list[Scenario] | None = None, **fields: Any) -> Character:
    values = {
        "name": "Dana",
        "role": "CFO",
        "personality": "Direct, numbers first.",
        "background": "Twenty years in finance.",
        "objections": ["Too expensive", "No time"],
        "scenarios": scenarios or [],
    }
    return Character(**{**values, **fields})


def session(scenario: Scenario, **fields: Any) -> RoleplaySession:
    values = {
        "session_id": unique("session"),
        "scenario": scenario,
        "user_id": "user-1",
        "conversation_history": [ConversationEntry(role="user", text="Hello")],
    }
    return RoleplaySession(**{**values, **fields})


def analytics(scenario: Scenario, **fields: Any) -> SessionAnalytics:
    values = {
        "session_id": unique("session"),
        "scenario": scenario,
        "user_id": "user-1",
        "overall_score": 7.5,
        "communication_score": 8,
        "objection_handling_score": 6,
        "rapport_building_score": 9,
        "closing_technique_score": 5.5,
        "strengths": ["Clear opener"],
        "key_moments": [KeyMoment(timestamp="02:15", description="Price objection")],
        "conversation_flow_analysis": "Good opening, weak close.",
    }
    return SessionAnalytics(**{**values, **fields})


def tip(**fields: Any) -> RoleplayTip:
    values = {
        "category": "closing",
        "title": "Ask for the next step",
        "content": "End every call with a concrete next step.",
        "difficulty_level": "beginner",
    }
    return RoleplayTip(**{**values, **fields})


def stored(document: Any) -> Any:
    """The document as the server holds it now, by its primary key (None if gone)."""
    return type(document)._get_collection().find_one({"_id": document.pk})


class Clock:
    """A clock a test moves by hand: patch a module's ``utc_now`` with it."""

    def __init__(self, now: datetime.datetime) -> None:
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)
