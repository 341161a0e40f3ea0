"""RoleplayTip: a coaching tip, general or for one session (collection ``roleplaytips``)."""

from __future__ import annotations

from typing import Any, ClassVar

from mongoengine import PULL
from mongoengine.fields import ListField, ReferenceField

from ..odm.document import RoleplayDocument
from ..odm.fields import StrictBooleanField, TextField, TrimmedTextListField
from ..odm.filters import as_bool, as_choice, as_positive_int, as_text
from ..odm.pagination import MAX_LIMIT
from ..odm.queryset import ActiveQuerySet
from .scenario import Scenario

__all__ = ("RoleplayTip", "RoleplayTipQuerySet", "TIP_CATEGORIES", "DIFFICULTY_LEVELS")

TIP_CATEGORIES = (
    "objection_handling",
    "rapport_building",
    "closing",
    "discovery",
    "presentation",
)
DIFFICULTY_LEVELS = ("beginner", "intermediate", "advanced")


class RoleplayTipQuerySet(ActiveQuerySet):
    """Queries the tip routes make; only active tips unless asked otherwise."""

    def featured(self, flag: Any = True) -> RoleplayTipQuerySet:
        return self.filter(is_featured=as_bool("featured", flag))

    def recent(self, limit: Any = 5) -> RoleplayTipQuerySet:
        """The newest ``limit`` active tips."""
        return self.active().newest_first().limit(as_positive_int("limit", limit, MAX_LIMIT))

    def matching(
        self,
        category: Any = None,
        session_id: Any = None,
        difficulty_level: Any = None,
        featured: Any = None,
    ) -> RoleplayTipQuerySet:
        """Active tips, narrowed by each argument that is not None; each one is checked."""
        query = self.active()
        if category is not None:
            query = query.filter(category=as_choice("category", category, TIP_CATEGORIES))
        if session_id is not None:
            query = query.filter(session_id=as_text("session_id", session_id))
        if difficulty_level is not None:
            query = query.filter(difficulty_level=as_choice(
                "difficulty_level", difficulty_level, DIFFICULTY_LEVELS))
        if featured is not None:
            query = query.featured(featured)
        return query


class RoleplayTip(RoleplayDocument):
    """A coaching tip; deleting a Scenario removes it from ``related_scenarios``."""

    session_id = TextField(default=None, null=True)
    category = TextField(required=True, choices=TIP_CATEGORIES)
    title = TextField(required=True, trim=True)
    content = TextField(required=True)
    techniques = TrimmedTextListField()
    practice_scenarios = TrimmedTextListField()
    related_scenarios = ListField(ReferenceField(Scenario, reverse_delete_rule=PULL))
    difficulty_level = TextField(required=True, choices=DIFFICULTY_LEVELS)
    is_featured = StrictBooleanField(default=False)
    is_active = StrictBooleanField(default=True)
    created_by = TextField(default="system")

    meta = {
        "collection": "roleplaytips",
        "indexes": [
            ("category", "difficulty_level"),
            ("is_featured", "is_active"),
            "-created_at",
            "session_id",
        ],
        "queryset_class": RoleplayTipQuerySet,
    }

    api_references = {"related_scenarios": ("scenario_id", "title")}
    objects: ClassVar[RoleplayTipQuerySet]
