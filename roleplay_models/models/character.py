"""Character: an AI prospect the rep talks to (collection ``characters``)."""

from __future__ import annotations

from typing import Any, ClassVar

from mongoengine import PULL
from mongoengine.fields import ListField, ReferenceField

from ..odm.document import RoleplayDocument
from ..odm.fields import StrictBooleanField, TextField, TrimmedTextListField
from ..odm.filters import as_text, contains_regex
from ..odm.queryset import ActiveQuerySet
from .scenario import Scenario

__all__ = ("Character", "CharacterQuerySet")


class CharacterQuerySet(ActiveQuerySet):
    """Queries the character routes make."""

    def with_role(self, role: Any) -> CharacterQuerySet:
        """Characters whose role contains ``role``, ignoring case; taken literally, not as a regex."""
        return self.filter(__raw__={"role": contains_regex(as_text("role", role))})

    def in_scenario(self, scenario: Scenario) -> CharacterQuerySet:
        return self.filter(scenarios=scenario)


class Character(RoleplayDocument):
    """An AI persona, with the objections it raises and the scenarios it plays in.

    Deleting a Scenario removes it from ``scenarios``.
    """

    name = TextField(required=True, trim=True)
    role = TextField(required=True, trim=True)
    personality = TextField(required=True)
    background = TextField(required=True)
    objections = TrimmedTextListField()
    voice_id = TextField(default=None, null=True)
    scenarios = ListField(
        ReferenceField(Scenario, reverse_delete_rule=PULL), db_field="scenario_ids"
    )
    is_active = StrictBooleanField(default=True)
    created_by = TextField(default="system")

    meta = {
        "collection": "characters",
        "indexes": ["scenarios", "is_active", "role"],
        "queryset_class": CharacterQuerySet,
    }

    api_references = {"scenarios": ("scenario_id", "title")}
    objects: ClassVar[CharacterQuerySet]
