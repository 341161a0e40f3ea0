"""RoleplaySession: one practice conversation (collection ``roleplaysessions``)."""

from __future__ import annotations

from bson import ObjectId
from mongoengine import DENY
from mongoengine.fields import (
    BooleanField,
    EmbeddedDocumentField,
    ListField,
    ObjectIdField,
    ReferenceField,
)

from .character import Character
from .document import RoleplayDocument, RoleplayEmbeddedDocument
from .fields import NumberField, TextField, UTCDateTimeField, utc_now
from .scenario import Scenario

__all__ = (
    "ConversationEntry",
    "RoleplaySession",
    "SessionMetadata",
    "SESSION_STATUSES",
    "SPEAKER_ROLES",
)

SESSION_STATUSES = ("active", "completed", "paused", "ended")
SPEAKER_ROLES = ("user", "assistant")


class ConversationEntry(RoleplayEmbeddedDocument):
    """One turn of the conversation; like mongoose, each carries its own ``_id``."""

    id = ObjectIdField(db_field="_id", default=ObjectId)
    role = TextField(required=True, choices=SPEAKER_ROLES)
    text = TextField(required=True)
    timestamp = UTCDateTimeField(default=utc_now)
    audio_duration = NumberField(min_value=0, default=None)


class SessionMetadata(RoleplayEmbeddedDocument):
    """Where the session was held from; every field optional."""

    ip_address = TextField()
    user_agent = TextField()
    session_quality = TextField()


class RoleplaySession(RoleplayDocument):
    """A rep's practice conversation with a character in a scenario.

    Deleting a Scenario or Character that a session refers to is refused.
    """

    session_id = TextField(required=True, unique=True)
    scenario = ReferenceField(
        Scenario, required=True, db_field="scenario_id", reverse_delete_rule=DENY
    )
    character = ReferenceField(
        Character, default=None, db_field="character_id", reverse_delete_rule=DENY
    )
    user_id = TextField(required=True)
    status = TextField(choices=SESSION_STATUSES, default="active")
    start_time = UTCDateTimeField(default=utc_now)
    end_time = UTCDateTimeField(default=None)
    total_duration = NumberField(min_value=0, default=0)
    conversation_history = ListField(EmbeddedDocumentField(ConversationEntry))
    voice_enabled = BooleanField(default=False)
    metadata = EmbeddedDocumentField(SessionMetadata, default=SessionMetadata)

    meta = {
        "collection": "roleplaysessions",
        "indexes": [
            ("user_id", "-created_at"),
            {"fields": ["session_id"], "unique": True},
            "status",
            "scenario",
        ],
    }
