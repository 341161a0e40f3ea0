"""RoleplayTip: a coaching tip, general or for one session (collection ``roleplaytips``)."""

from __future__ import annotations

from mongoengine import PULL
from mongoengine.fields import BooleanField, ListField, ReferenceField

from .document import RoleplayDocument
from .fields import TextField
from .scenario import Scenario

__all__ = ("RoleplayTip", "TIP_CATEGORIES", "DIFFICULTY_LEVELS")

TIP_CATEGORIES = (
    "objection_handling",
    "rapport_building",
    "closing",
    "discovery",
    "presentation",
)
DIFFICULTY_LEVELS = ("beginner", "intermediate", "advanced")


class RoleplayTip(RoleplayDocument):
    """A coaching tip; deleting a Scenario removes it from ``related_scenarios``."""

    session_id = TextField(default=None)
    category = TextField(required=True, choices=TIP_CATEGORIES)
    title = TextField(required=True, trim=True)
    content = TextField(required=True)
    techniques = ListField(TextField(trim=True))
    practice_scenarios = ListField(TextField(trim=True))
    related_scenarios = ListField(ReferenceField(Scenario, reverse_delete_rule=PULL))
    difficulty_level = TextField(required=True, choices=DIFFICULTY_LEVELS)
    is_featured = BooleanField(default=False)
    is_active = BooleanField(default=True)
    created_by = TextField(default="system")

    meta = {
        "collection": "roleplaytips",
        "indexes": [
            ("category", "difficulty_level"),
            ("is_featured", "is_active"),
            "-created_at",
            "session_id",
        ],
    }
