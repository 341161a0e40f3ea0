"""Scenario: a training situation the sales rep practises (collection ``scenarios``)."""

from __future__ import annotations

from mongoengine.fields import BooleanField

from .document import RoleplayDocument
from .fields import TextField

__all__ = ("Scenario",)


class Scenario(RoleplayDocument):
    """A practice scenario with the prompt that drives the AI prospect."""

    scenario_id = TextField(required=True, unique=True)
    title = TextField(required=True, trim=True)
    description = TextField(required=True)
    llm_prompt = TextField(required=True, db_field="llmPrompt")
    is_active = BooleanField(default=True)
    created_by = TextField(default="system")

    meta = {
        "collection": "scenarios",
        "indexes": [
            {"fields": ["scenario_id"], "unique": True},
            "is_active",
            {"fields": ["$title", "$description"]},
        ],
    }
