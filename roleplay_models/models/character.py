"""Character: an AI prospect the rep talks to (collection ``characters``)."""

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
from ..odm.filters import as_text, contains_regex
from ..odm.queryset import ActiveQuerySet
from .scenario import Scenario

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ("Character", "CharacterQuerySet")


class CharacterQuerySet(ActiveQuerySet["Character"]):
    """Queries the character routes make."""

    def with_role(self, role: str) -> Self:
        """Characters whose role contains ``role``, ignoring case; taken literally, not as a
        regex. The order is left as it is; a non-string or blank ``role`` is an InvalidFilter."""
        return self.filter(__raw__={"role": contains_regex(as_text("role", role))})

    def in_scenario(self, scenario: Scenario) -> Self:
        """Characters that play in ``scenario``; the order is left as it is."""
        return self.filter(scenarios=scenario)


class Character(RoleplayDocument):
    """An AI persona, with the objections it raises and the scenarios it plays in.

    Deleting a Scenario removes it from ``scenarios``.
    """

    name = TextField(required=True, trim=True)
    role = TextField(required=True, trim=True, help_text="the job title of the prospect, e.g. CFO")
    personality = TextField(required=True)
    background = TextField(required=True)
    objections = TrimmedTextListField(help_text="objections the character raises, in order")
    voice_id = TextField(default=None, null=True,
                         help_text="id of the text-to-speech voice, or None for the default")
    scenarios = ListField(
        ReferenceField(Scenario, reverse_delete_rule=PULL), db_field="scenario_ids",
        help_text="the Scenarios it plays in; a deleted one is removed from the list",
    )
    is_active = StrictBooleanField(default=True,
                                   help_text="whether it is offered; active() keeps these")
    created_by = TextField(default="system",
                           help_text="who wrote it: the id of a user, or system for the seeded ones")

    meta = {
        "collection": "characters",
        "indexes": ["scenarios", "is_active", "role"],
        "queryset_class": CharacterQuerySet,
    }

    api_references = {"scenarios": ("scenario_id", "title")}
    objects: ClassVar[CharacterQuerySet]
