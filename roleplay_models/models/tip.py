"""RoleplayTip: a coaching tip, general or for one session (collection ``roleplaytips``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from mongoengine import PULL

from ..odm.document import RoleplayDocument
from ..odm.fields import (
    ListField,
    ReferenceField,
    StrictBooleanField,
    TextField,
    TrimmedTextListField,
)
from ..odm.filters import as_bool, as_choice, as_positive_int, as_text
from ..odm.pagination import MAX_LIMIT
from ..odm.queryset import ActiveQuerySet
from .scenario import Scenario

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ("RoleplayTip", "RoleplayTipQuerySet", "TIP_CATEGORIES", "DIFFICULTY_LEVELS")

#: The categories a tip may have (``RoleplayTip.category``).
TIP_CATEGORIES = (
    "objection_handling",
    "rapport_building",
    "closing",
    "discovery",
    "presentation",
)
#: The levels a tip is written for (``RoleplayTip.difficulty_level``).
DIFFICULTY_LEVELS = ("beginner", "intermediate", "advanced")


class RoleplayTipQuerySet(ActiveQuerySet["RoleplayTip"]):
    """Queries the tip routes make; :meth:`recent` and :meth:`matching` give only active
    tips."""

    def featured(self, flag: bool | str = True) -> Self:
        """The matches whose ``is_featured`` is ``flag`` (a bool, or ``"true"`` / ``"false"``
        / ``"1"`` / ``"0"`` as a query string has it; else an InvalidFilter); the order is
        left as it is."""
        return self.filter(is_featured=as_bool("featured", flag))

    def recent(self, limit: int | str = 5) -> Self:
        """The newest ``limit`` (1 to MAX_LIMIT) active tips, newest first by creation
        time."""
        return self.active().newest_first().limit(as_positive_int("limit", limit, MAX_LIMIT))

    def matching(
        self,
        category: str | None = None,
        session_id: str | None = None,
        difficulty_level: str | None = None,
        featured: bool | str | None = None,
    ) -> Self:
        """Active tips, narrowed by each argument that is not None (``category`` one of
        TIP_CATEGORIES, ``difficulty_level`` one of DIFFICULTY_LEVELS, ``featured`` as
        :meth:`featured` takes it; else an InvalidFilter); the order is left as it is."""
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

    session_id = TextField(default=None, null=True,
                           help_text="the session_id of the session it was written for, or "
                                     "None for a general tip")
    category = TextField(required=True, choices=TIP_CATEGORIES)
    title = TextField(required=True, trim=True)
    content = TextField(required=True)
    techniques = TrimmedTextListField(help_text="named techniques the tip teaches")
    practice_scenarios = TrimmedTextListField(
        help_text="situations to practise it in, as text (not Scenario references)")
    related_scenarios = ListField(
        ReferenceField(Scenario, reverse_delete_rule=PULL),
        help_text="Scenarios to practise it in; a deleted one is removed")
    difficulty_level = TextField(required=True, choices=DIFFICULTY_LEVELS)
    is_featured = StrictBooleanField(default=False,
                                     help_text="whether the tips page shows it first")
    is_active = StrictBooleanField(default=True,
                                   help_text="whether it is offered; active() keeps these")
    created_by = TextField(default="system",
                           help_text="who wrote it: the id of a user, or system for the seeded ones")

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
