"""RoleplaySession: one practice conversation (collection ``roleplaysessions``)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, cast

from bson import ObjectId
from mongoengine import DENY, ValidationError
from mongoengine.base import get_document
from mongoengine.fields import (
    EmbeddedDocumentField,
    ObjectIdField,
    ReferenceField,
)

from ..db.locks import document_write_lock
from ..errors import ConcurrentModification, InvalidTransition, SessionNotActive
from ..odm.document import RoleplayDocument, RoleplayEmbeddedDocument
from ..odm.fast_paths import EmbeddedListField
from ..odm.fields import NumberField, StrictBooleanField, TextField, UTCDateTimeField, utc_now
from ..odm.filters import as_choice
from ..odm.limits import current_limits
from ..odm.queryset import PerSessionQuerySet
from ..odm.timestamps import UPDATED
from .character import Character
from .scenario import Scenario

__all__ = (
    "ConversationEntry",
    "RoleplaySession",
    "RoleplaySessionQuerySet",
    "SessionMetadata",
    "SESSION_STATUSES",
    "SPEAKER_ROLES",
)

SESSION_STATUSES = ("active", "completed", "paused", "ended")
FINAL_STATUSES = ("completed", "ended")
SPEAKER_ROLES = ("user", "assistant")

# target status -> the statuses it may be reached from
TRANSITIONS = {
    "paused": ("active",),
    "active": ("paused",),
    "ended": ("active", "paused"),
    "completed": ("active", "paused"),
}
# A transition is retried this often when another writer changed the session first.
MAX_TRANSITION_ATTEMPTS = 20
LIFECYCLE_FIELDS = ("status", "start_time", "end_time", "total_duration", "paused_at",
                    "paused_seconds", "last_turn_at")


@dataclass(frozen=True)
class Conditional:
    """An update to apply only if the stored session matches ``query``; ``holds`` is the same
    test in Python, on the fields ``projection`` reads (for servers without atomic updates)."""

    query: dict[str, Any]
    holds: Callable[[Mapping[str, Any]], bool]
    projection: dict[str, Any]
    update: dict[str, Any]


def _transition_holds(
    stored: Mapping[str, Any], expected: dict[str, Any], final: bool, now: datetime
) -> bool:
    """A transition's filter, in Python: the lifecycle fields are as expected, and for a final
    status no turn was stored after ``now``."""
    last_turn = stored.get("last_turn_at")
    return (all(stored.get(name) == value for name, value in expected.items())
            and (not final or last_turn is None or last_turn <= now))


class ConversationEntry(RoleplayEmbeddedDocument):
    """One turn of the conversation; like mongoose, each carries its own ``_id``."""

    id = ObjectIdField(db_field="_id", default=ObjectId)
    role = TextField(required=True, choices=SPEAKER_ROLES)
    text = TextField(required=True, max_bytes=lambda: current_limits().turn_text_bytes)
    timestamp = UTCDateTimeField(default=utc_now)
    audio_duration = NumberField(min_value=0, default=None)


class SessionMetadata(RoleplayEmbeddedDocument):
    """Where the session was held from; every field optional."""

    ip_address = TextField()
    user_agent = TextField()
    session_quality = TextField()


class RoleplaySessionQuerySet(PerSessionQuerySet):
    """Queries the session routes make (``for_user`` and ``by_session_id`` among them)."""

    def with_status(self, *statuses: Any) -> RoleplaySessionQuerySet:
        """Sessions in any of ``statuses``."""
        checked = [as_choice("status", status, SESSION_STATUSES) for status in statuses]
        return self.filter(status__in=checked)

    by_session_id = PerSessionQuerySet.for_session

    def live(self, session_id: Any) -> RoleplaySession:
        """The session ``session_id`` for adding turns and changing its status, loaded
        without its history (a turn does not need it, and decoding it grows with its
        length); DoesNotExist when there is none. Its ``conversation_history`` is not
        loaded: read the session's JSON with ``api_dicts()`` after the writes."""
        session = self.exclude("conversation_history").by_session_id(session_id).get()
        session._history_loaded = False
        return session


class RoleplaySession(RoleplayDocument):
    """A rep's practice conversation with a character in a scenario.

    A live session changes only through :meth:`add_turn` and the lifecycle
    methods, each one conditional atomic update, so concurrent requests
    neither lose turns nor both win a transition. Deleting a Scenario or
    Character that a session refers to is refused.
    """

    session_id = TextField(required=True, unique=True)
    scenario = ReferenceField(
        Scenario, required=True, db_field="scenario_id", reverse_delete_rule=DENY
    )
    character = ReferenceField(
        Character, default=None, null=True, db_field="character_id", reverse_delete_rule=DENY
    )
    user_id = TextField(required=True)
    status = TextField(choices=SESSION_STATUSES, default="active")
    start_time = UTCDateTimeField(default=utc_now)
    end_time = UTCDateTimeField(default=None, null=True)
    total_duration = NumberField(min_value=0, default=0)
    conversation_history = EmbeddedListField(ConversationEntry)
    voice_enabled = StrictBooleanField(default=False)
    metadata = EmbeddedDocumentField(SessionMetadata, default=SessionMetadata)
    # Bookkeeping for pause-aware durations, kept beside the mongoose fields.
    paused_at = UTCDateTimeField(default=None)
    paused_seconds = NumberField(min_value=0, default=None)
    last_turn_at = UTCDateTimeField(default=None)

    meta = {
        "collection": "roleplaysessions",
        "indexes": [
            ("user_id", "-created_at"),
            {"fields": ["session_id"], "unique": True},
            "status",
            "scenario",
        ],
        "queryset_class": RoleplaySessionQuerySet,
    }

    api_references = {
        "scenario": ("scenario_id", "title", "description"),
        "character": ("name", "role", "voice_id"),
    }
    api_hidden = ("paused_at", "paused_seconds", "last_turn_at")
    api_private = ("metadata",)  # where the rep connected from: not for every listing
    _history_loaded = True  # False for a session from live(), loaded without its history
    objects: ClassVar[RoleplaySessionQuerySet]

    def reload(self, *fields: Any, **kwargs: Any) -> Any:
        reloaded = super().reload(*fields, **kwargs)
        if not fields:
            self._history_loaded = True
        return reloaded

    def to_api_dict(self, private: bool = False) -> dict[str, Any]:
        if not self._history_loaded:
            raise ValueError("a live() session holds no history; read its JSON with "
                             "RoleplaySession.objects(pk=session.pk).api_dicts()")
        return super().to_api_dict(private=private)

    def clean(self) -> None:
        most = current_limits().turns_per_session
        history = self._data.get("conversation_history")  # as stored: nothing to load
        if isinstance(history, (list, tuple)) and len(history) > most:
            raise ValidationError(f"a session holds at most {most} turns",
                                  field_name="conversation_history")

    @classmethod
    def start(
        cls,
        scenario: Scenario,
        user_id: str,
        character: Character | None = None,
        voice_enabled: bool = False,
        metadata: SessionMetadata | Mapping[str, Any] | None = None,
    ) -> RoleplaySession:
        """Create and save an active session with a fresh ``session_<uuid4 hex>`` id."""
        if isinstance(metadata, Mapping):
            unknown = set(metadata) - set(SessionMetadata._fields)
            if unknown:
                raise ValidationError(
                    f"metadata has unknown keys {sorted(unknown)}", field_name="metadata"
                )
            metadata = SessionMetadata(**metadata)
        session = cls(
            session_id=f"session_{uuid.uuid4().hex}",
            scenario=scenario,
            character=character,
            user_id=user_id,
            voice_enabled=voice_enabled,
            metadata=metadata if metadata is not None else SessionMetadata(),
        )
        return session.save(force_insert=True)

    def add_turn(
        self, role: str, text: str, audio_duration: float | None = None
    ) -> ConversationEntry:
        """Append one turn with a single atomic ``$push``; only while the session is active.

        The update carries just the new entry, whatever the history's length.
        Raises ValidationError for a bad turn (text over the limit's bytes
        included) or a session that holds the most turns allowed, and
        :class:`SessionNotActive` when the session is paused, ended or
        completed; none of them writes.
        """
        ConversationEntry(role=role, text=text, audio_duration=audio_duration).validate()
        most = current_limits().turns_per_session
        pushed: list[ConversationEntry] = []

        def push(now: datetime) -> Conditional:
            entry = ConversationEntry(role=role, text=text, audio_duration=audio_duration,
                                      timestamp=now)
            pushed.append(entry)
            return Conditional(
                # a session already holding the most turns allowed does not match
                query={"_id": self.pk, "status": "active",
                       f"conversation_history.{most - 1}": {"$exists": False}},
                holds=lambda stored: (stored.get("status") == "active"
                                      and len(stored.get("conversation_history", ())) < most),
                projection={"status": 1, "conversation_history._id": 1},
                update={"$push": {"conversation_history": entry.to_mongo()},
                        "$max": {"last_turn_at": now}, "$set": {UPDATED: now}},
            )

        now = self._update_if(push)
        if now is None:
            self._reload_lifecycle()
            if self.status == "active":
                raise ValidationError(
                    f"session {self.session_id} holds the most turns allowed ({most})",
                    field_name="conversation_history")
            raise SessionNotActive(
                f"session {self.session_id} is {self.status}; turns are accepted only while active"
            )
        entry = pushed[-1]
        if self._history_loaded:
            list.append(self._data["conversation_history"], entry)  # without marking it changed
        last_turn_at = now if self.last_turn_at is None else max(self.last_turn_at, now)
        self._set_clean(updated_at=now, last_turn_at=last_turn_at)
        return entry

    def pause(self) -> None:
        """active -> paused."""
        self._transition("paused")

    def resume(self) -> None:
        """paused -> active; the paused time is left out of ``total_duration``."""
        self._transition("active")

    def end(self) -> None:
        """active or paused -> ended (final); sets ``end_time`` and ``total_duration``."""
        self._transition("ended")

    def complete(self) -> None:
        """active or paused -> completed (final); sets ``end_time`` and ``total_duration``."""
        self._transition("completed")

    @property
    def analytics(self) -> RoleplayDocument | None:
        """The analysis recorded for this session, or None."""
        # Looked up by name: analytics.py imports this module, not the other way round.
        analyses = get_document("SessionAnalytics")
        return cast(RoleplayDocument | None, analyses.objects(session_id=self.session_id).first())

    def paused_seconds_at(self, at: datetime) -> float:
        """Seconds the session has been paused by ``at``, counting a pause still open."""
        paused: float = self.paused_seconds or 0
        if self.status == "paused" and self.paused_at is not None:
            paused += (at - self.paused_at).total_seconds()
        return max(0.0, paused)

    def active_seconds(self, at: datetime) -> float:
        """Seconds from ``start_time`` to ``at`` that the session was not paused."""
        return max(0.0, (at - self.start_time).total_seconds() - self.paused_seconds_at(at))

    def _transition(self, target: str) -> None:
        allowed_from = TRANSITIONS[target]
        for _ in range(MAX_TRANSITION_ATTEMPTS):
            if self.status not in allowed_from:
                raise InvalidTransition(
                    f"session {self.session_id} is {self.status}; cannot become {target}"
                    f" (allowed only from {' or '.join(allowed_from)})"
                )
            now = self._update_if(functools.partial(self._transition_update, target))
            if now is not None:
                self._set_clean(updated_at=now, **self._transition_changes(target, now))
                return
            self._reload_lifecycle()  # someone else changed it first: look again
        raise ConcurrentModification(
            f"session {self.session_id} changed {MAX_TRANSITION_ATTEMPTS} times during {target}"
        )

    def _transition_update(self, target: str, now: datetime) -> Conditional:
        """The conditional update that makes this session ``target`` at ``now``."""
        expected = {"status": self.status, "paused_at": self.paused_at,
                    "paused_seconds": self.paused_seconds}
        query: dict[str, Any] = {"_id": self.pk, **expected}
        final = target in FINAL_STATUSES
        if final:
            # No turn may be stored after end_time, even one pushed a moment ago.
            query["$or"] = [{"last_turn_at": None}, {"last_turn_at": {"$lte": now}}]
        return Conditional(
            query=query,
            holds=functools.partial(_transition_holds, expected=expected, final=final, now=now),
            projection=dict.fromkeys([*expected, "last_turn_at"], 1),
            update=self._stored_changes(self._transition_changes(target, now), now),
        )

    def _update_if(self, build: Callable[[datetime], Conditional]) -> datetime | None:
        """Apply the update ``build(now)`` gives if the stored session matches its query;
        returns the ``now`` it was built for, or None when the session did not match.

        ``now`` is read once the document's lock is held, so no write that this
        one waited for carries a later time. Where single-document updates are
        atomic this is one update filtered by the query. Elsewhere the write
        holds the document's lease, so no writer through this package changes
        the session meanwhile: it is read by ``_id``, tested with ``holds``, and
        updated by ``_id`` (FerretDB v1 finds a document by ``_id`` alone through
        its key, and scans the collection for any other filter).
        """
        collection = self._get_collection()
        with document_write_lock(collection, self._require_pk()) as locked:
            now = utc_now()
            conditional = build(now)
            if not locked:  # the server applies the filtered update atomically
                matched = collection.update_one(conditional.query, conditional.update)
            else:
                stored = collection.find_one({"_id": self.pk}, conditional.projection)
                if stored is None or not conditional.holds(stored):
                    return None
                matched = collection.update_one({"_id": self.pk}, conditional.update)
        return now if matched.matched_count == 1 else None

    def _stored_changes(self, changes: dict[str, Any], now: datetime) -> dict[str, Any]:
        """The update storing ``changes`` as save() would: None is null only where the
        schema says so, and otherwise no key."""
        sets: dict[str, Any] = {UPDATED: now}
        unsets: dict[str, Any] = {}
        for name, value in changes.items():
            field = self._fields[name]
            if value is None and not field.null:
                unsets[field.db_field] = ""
            else:
                sets[field.db_field] = value
        return {"$set": sets, "$unset": unsets} if unsets else {"$set": sets}

    def _transition_changes(self, target: str, now: datetime) -> dict[str, Any]:
        if target == "paused":
            return {"status": target, "paused_at": now}
        closed_pause = {"paused_at": None, "paused_seconds": self.paused_seconds_at(now)}
        if target == "active":
            return {"status": target, **closed_pause}
        changes: dict[str, Any] = {
            "status": target,
            "end_time": now,
            "total_duration": int(self.active_seconds(now)),
        }
        if self.status == "paused":
            changes.update(closed_pause)
        return changes

    def _require_pk(self) -> ObjectId:
        if self.pk is None:
            raise ValueError("the session has not been saved; use RoleplaySession.start()")
        return self.pk

    def _reload_lifecycle(self) -> None:
        fields = {self._fields[name].db_field: 1 for name in LIFECYCLE_FIELDS}
        raw = self._get_collection().find_one({"_id": self._require_pk()}, fields)
        if raw is None:
            raise self.DoesNotExist(f"session {self.session_id} no longer exists")
        self._set_clean(**{
            name: self._fields[name].to_python(raw.get(self._fields[name].db_field))
            for name in LIFECYCLE_FIELDS
        })

    def _set_clean(self, **values: Any) -> None:
        """Set fields to what the server now holds, without marking them for the next save()."""
        for name, value in values.items():
            self._data[name] = value
