"""Character: an AI prospect the rep talks to (collection ``characters``)."""

from __future__ import annotations

from mongoengine import PULL
from mongoengine.fields import BooleanField, ListField, ReferenceField

from .document import RoleplayDocument
from .fields import TextField
from .scenario import Scenario

__all__ = ("Character",)


class Character(RoleplayDocument):
    """An AI persona, with the objections it raises and the scenarios it plays in.

    Deleting a Scenario removes it from ``scenarios``.
    """

    name = TextField(required=True, trim=True)
    role = TextField(required=True, trim=True)
    personality = TextField(required=True)
    background = TextField(required=True)
    objections = ListField(TextField(trim=True))
    voice_id = TextField(default=None)
    scenarios = ListField(
        ReferenceField(Scenario, reverse_delete_rule=PULL), db_field="scenario_ids"
    )
    is_active = BooleanField(default=True)
    created_by = TextField(default="system")

    meta = {
        "collection": "characters",
        "indexes": ["scenarios", "is_active", "role"],
    }
