"""RoleplaySession: one practice conversation (collection ``roleplaysessions``)."""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, cast

from bson import ObjectId
from mongoengine import DENY, ValidationError
from mongoengine.base import get_document
from mongoengine.errors import NotUniqueError

from ..db.server import server_facts
from ..errors import ConcurrentModification, InvalidTransition, SessionNotActive
from ..odm.document import RoleplayDocument, RoleplayEmbeddedDocument
from ..odm.fast_paths import EmbeddedListField
from ..odm.fields import (
    EmbeddedDocumentField,
    NumberField,
    ObjectIdField,
    ReferenceField,
    StrictBooleanField,
    TextField,
    UTCDateTimeField,
    loading_from_database,
    utc_now,
)
from ..odm.filters import as_choice, preview
from ..odm.limits import current_limits
from ..odm.queryset import PerSessionQuerySet
from ..odm.references import reference_id
from ..odm.timestamps import UPDATED
from ..odm.uniqueness import DuplicateValue
from ..odm.writes import Conditional, WriteOutcome, retried_once, set_or_unset, update_if
from .character import Character
from .scenario import Scenario
from .statuses import FINAL_STATUSES, SESSION_STATUSES, TRANSITIONS

if TYPE_CHECKING:
    from typing_extensions import Self

    from .analytics import SessionAnalytics

__all__ = (
    "ConversationEntry",
    "RoleplaySession",
    "RoleplaySessionQuerySet",
    "SessionMetadata",
    "SESSION_STATUSES",
    "SPEAKER_ROLES",
    "as_turn_id",
)

#: Who speaks a turn: the rep (``user``) or the AI prospect (``assistant``).
SPEAKER_ROLES = ("user", "assistant")

# A transition or a turn is tried this often when another writer changed the session first.
MAX_ATTEMPTS = 20
MAX_TURN_ID_CHARS = 128
LIFECYCLE_FIELDS = ("status", "start_time", "end_time", "total_duration", "paused_at",
                    "paused_seconds", "last_turn_at")


def as_turn_id(value: Any) -> ObjectId:
    """The ``_id`` a turn is stored under: a fresh ObjectId for None; an ObjectId, or its 24
    hex digits, as given; any other string of 1 to 128 characters (a UUID the frontend made,
    say) mapped to one by a hash, so that the same string always names the same turn."""
    if value is None:
        return ObjectId()
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str) and 0 < len(value) <= MAX_TURN_ID_CHARS:
        if ObjectId.is_valid(value):
            return ObjectId(value)
        return ObjectId(hashlib.blake2b(value.encode(), digest_size=12,
                                        person=b"roleplay-turn").digest())
    raise ValidationError(f"turn_id must be an ObjectId or a string of 1 to {MAX_TURN_ID_CHARS}"
                          f" characters; got {preview(value)}", field_name="turn_id")


def _turn_not_stored(collection: Any, entry_id: ObjectId) -> dict[str, Any]:
    """The filter that no turn of the history has the id ``entry_id``: ``$ne`` through the
    array where the server reads it as MongoDB documents it, else ``$nor`` of the equality
    (see :class:`~roleplay_models.db.server.ServerFacts`)."""
    if server_facts(collection.database.client).ne_through_arrays:
        return {"conversation_history._id": {"$ne": entry_id}}
    return {"$nor": [{"conversation_history._id": entry_id}]}


class ConversationEntry(RoleplayEmbeddedDocument):
    """One turn of the conversation; like mongoose, each carries its own ``_id``."""

    id = ObjectIdField(db_field="_id", default=ObjectId,
                       help_text="id of the turn; a turn is stored once per id")
    role = TextField(required=True, choices=SPEAKER_ROLES,
                     help_text="user (the rep) or assistant (the AI prospect)")
    text = TextField(required=True, max_bytes=lambda: current_limits().turn_text_bytes)
    timestamp = UTCDateTimeField(default=utc_now, help_text="UTC; when the turn was stored")
    audio_duration = NumberField(min_value=0, default=None,
                                 help_text="seconds of audio, fractional; None for a typed turn")


class SessionMetadata(RoleplayEmbeddedDocument):
    """Where the session was held from; every field optional."""

    ip_address = TextField(help_text="IP address of the rep, as the frontend saw it")
    user_agent = TextField(help_text="User-Agent header of the browser of the rep")
    session_quality = TextField(help_text="how the frontend rated the connection")


class RoleplaySessionQuerySet(PerSessionQuerySet["RoleplaySession"]):
    """Queries the session routes make (``for_user`` and ``by_session_id`` among them)."""

    def with_status(self, *statuses: str) -> Self:
        """The matches whose status is any of ``statuses`` (each one of SESSION_STATUSES,
        else an InvalidFilter); the order is left as it is."""
        checked = [as_choice("status", status, SESSION_STATUSES) for status in statuses]
        return self.filter(status__in=checked)

    def by_session_id(self, session_id: str) -> Self:
        """The session whose ``session_id`` is ``session_id``, exactly as stored (at most one:
        the id is unique); :meth:`for_session` under the name the session routes use."""
        return self.for_session(session_id)

    def live(self, session_id: str) -> RoleplaySession:
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
    methods, each one conditional update (see :mod:`roleplay_models.odm.writes`),
    so concurrent requests neither lose turns nor both win a transition, and
    each is safe to repeat: a turn is stored once per turn id, a session once
    per ``session_id``, and a transition already made is a success. Deleting a
    Scenario or Character that a session refers to is refused.
    """

    session_id = TextField(required=True, unique=True,
                           help_text="the id the frontend uses; start() makes "
                                     "session_<32 hex digits> unless given one")
    scenario = ReferenceField(
        Scenario, required=True, db_field="scenario_id", reverse_delete_rule=DENY
    )
    character = ReferenceField(
        Character, default=None, null=True, db_field="character_id", reverse_delete_rule=DENY,
        help_text="the AI prospect played, or None",
    )
    user_id = TextField(required=True, help_text="the id of the rep, matched exactly as stored")
    status = TextField(choices=SESSION_STATUSES, default="active",
                       help_text="completed and ended are final")
    start_time = UTCDateTimeField(default=utc_now, help_text="UTC; when the session started")
    end_time = UTCDateTimeField(default=None, null=True,
                                help_text="UTC; when it was completed or ended, else None")
    total_duration = NumberField(
        min_value=0, default=0,
        help_text="whole seconds the session was active (paused time left out; 2.75 s is "
                  "stored as 2); 0 until it is completed or ended")
    conversation_history = EmbeddedListField(
        ConversationEntry, help_text="the turns, oldest first")
    voice_enabled = StrictBooleanField(default=False,
                                       help_text="whether the rep speaks rather than types")
    metadata = EmbeddedDocumentField(
        SessionMetadata, default=SessionMetadata,
        help_text="where the rep connected from; in API JSON only with private=True")
    # Bookkeeping for pause-aware durations, kept beside the mongoose fields.
    paused_at = UTCDateTimeField(default=None,
                                 help_text="UTC; when the open pause began, else None")
    paused_seconds = NumberField(
        min_value=0, default=None,
        help_text="seconds, fractional, spent in pauses already closed; None before the first")
    last_turn_at = UTCDateTimeField(default=None,
                                    help_text="UTC; when the latest turn was stored, else None")

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
    #: What this object's last start(), add_turn() or transition found (None before any).
    last_outcome: WriteOutcome | None = None
    objects: ClassVar[RoleplaySessionQuerySet]

    def reload(self, *fields: str, **kwargs: Any) -> Self:
        """Read the session again from the server (all of it, history included, unless
        ``fields`` are named)."""
        reloaded = super().reload(*fields, **kwargs)
        if not fields:
            self._history_loaded = True
        return reloaded

    def to_api_dict(self, private: bool = False) -> dict[str, Any]:
        """The session as the frontend's JSON; refused (ValueError) for a session from
        :meth:`RoleplaySessionQuerySet.live`, which holds no history."""
        if not self._history_loaded:
            raise ValueError("a live() session holds no history; read its JSON with "
                             "RoleplaySession.objects(pk=session.pk).api_dicts()")
        return super().to_api_dict(private=private)

    def clean(self) -> None:
        """Refuse a history longer than the turn limit (:func:`~roleplay_models.configure_limits`)."""
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
        session_id: str | None = None,
    ) -> RoleplaySession:
        """Create and save an active session, with ``session_id`` or a fresh
        ``session_<uuid4 hex>``.

        Repeatable by ``session_id``: when a session with that id exists for the
        same user, scenario and character, it is returned (``last_outcome`` is
        ``ALREADY_STORED``), so a client's retry after a lost reply does not fail;
        one for another user, scenario or character is refused with
        NotUniqueError. The insert is sent once more by itself after a lost reply.
        """
        if isinstance(metadata, Mapping):
            unknown = set(metadata) - set(SessionMetadata._fields)
            if unknown:
                raise ValidationError(
                    f"metadata has unknown keys {sorted(unknown)}", field_name="metadata"
                )
            metadata = SessionMetadata(**metadata)
        if session_id is None:
            session_id = f"session_{uuid.uuid4().hex}"
        session = cls(
            id=ObjectId(),  # a repeat of the insert meets the _id index, which always exists
            session_id=session_id,
            scenario=scenario,
            character=character,
            user_id=user_id,
            voice_enabled=voice_enabled,
            metadata=metadata if metadata is not None else SessionMetadata(),
        )
        try:
            retried_once(lambda: session.save(force_insert=True), f"session {session_id}")
        except NotUniqueError:
            existing = cls.objects.by_session_id(session_id).first()
            if existing is None:
                raise
            if not existing._started_as(session):
                raise DuplicateValue(
                    f"session_id {preview(session_id)} already exists for another user, scenario"
                    " or character", fields=("session_id",), values=(session_id,)) from None
            # holding the documents it was asked with, as the session first started does
            existing._data.update(scenario=scenario, character=character)
            existing.last_outcome = WriteOutcome.ALREADY_STORED
            return existing
        session.last_outcome = WriteOutcome.STORED
        return session

    def _started_as(self, other: RoleplaySession) -> bool:
        """Whether ``other`` asks for this session: the same user, scenario and character."""
        return self.user_id == other.user_id and all(
            reference_id(self._data.get(name)) == reference_id(other._data.get(name))
            for name in ("scenario", "character"))

    def add_turn(
        self, role: str, text: str, audio_duration: float | None = None, turn_id: Any = None
    ) -> ConversationEntry:
        """Append one turn, only while the session is active; returns the stored entry.

        ``turn_id`` (see :func:`as_turn_id`; a fresh one when not given) is the
        entry's ``_id``: a turn is stored once per id, so repeating a request
        whose reply was lost returns the entry stored the first time
        (``last_outcome`` is ``ALREADY_STORED``) and adds nothing, even after
        the session ended; the same id with another role, text or audio duration is
        refused with :class:`~roleplay_models.odm.uniqueness.DuplicateValue` (a
        NotUniqueError). The update carries just the new entry, whatever the
        history's length, and reads none of it. Raises ValidationError for a bad
        turn (text over the limit's bytes included) or a session that holds the
        most turns allowed, and :class:`SessionNotActive` when the session is
        paused, ended or completed; none of them writes.
        """
        entry_id = as_turn_id(turn_id)
        # one entry, validated here and stamped with each attempt's time, put in place as
        # setting the field stores it, without marking a change
        pushed = ConversationEntry(id=entry_id, role=role, text=text,
                                   audio_duration=audio_duration)
        pushed.validate()
        stamp = ConversationEntry._fields["timestamp"].assigned
        most = current_limits().turns_per_session
        collection = self._get_collection()

        def push(now: datetime) -> Conditional:
            pushed._data["timestamp"] = stamp(now)
            encoded = pushed.to_mongo()  # one small SON: built in C, quicker than dicts' switch
            return Conditional(
                # not yet stored (also for an id made here: a first attempt that reaches the
                # server after its repeat must not match), and a session holding the most
                # turns allowed does not match
                filter={"status": "active", **_turn_not_stored(collection, entry_id),
                        f"conversation_history.{most - 1}": {"$exists": False}},
                update={"$push": {"conversation_history": encoded},
                        "$max": {"last_turn_at": now}, "$set": {UPDATED: now}},
            )

        for _ in range(MAX_ATTEMPTS):
            now = update_if(collection, self._require_pk(), push)
            if now is not None:
                entry = pushed  # stamped by the push of the attempt stored, the last one
                self._remember_turn(entry, new=True)
                last_turn_at = now if self.last_turn_at is None else max(self.last_turn_at, now)
                self._set_clean(updated_at=now, last_turn_at=last_turn_at)
                self.last_outcome = WriteOutcome.STORED
                return entry
            stored = self._stored_turn(entry_id)
            if stored is not None:
                if (stored.role, stored.text, stored.audio_duration) != (role, text, audio_duration):
                    raise DuplicateValue(
                        f"turn_id {preview(turn_id)} already names another turn of session "
                        f"{self.session_id}", fields=("turn_id",), values=(turn_id,))
                self._remember_turn(stored, new=False)
                self.last_outcome = WriteOutcome.ALREADY_STORED
                return stored
            self._reload_lifecycle()
            if self.status != "active":
                raise SessionNotActive(f"session {self.session_id} is {self.status}; "
                                       "turns are accepted only while active")
            if self._holds_turns(most):
                raise ValidationError(
                    f"session {self.session_id} holds the most turns allowed ({most})",
                    field_name="conversation_history")
            # paused and resumed by another writer meanwhile: push again
        raise ConcurrentModification(
            f"session {self.session_id} changed {MAX_ATTEMPTS} times during add_turn")

    def _stored_turn(self, entry_id: ObjectId) -> ConversationEntry | None:
        """The entry ``entry_id`` as stored, or None; the rest of the history is not read."""
        pipeline = [{"$match": {"_id": self.pk}}, {"$unwind": "$conversation_history"},
                    {"$match": {"conversation_history._id": entry_id}},
                    {"$project": {"conversation_history": 1}}]
        found = next(iter(self._get_collection().aggregate(pipeline)), None)
        if found is None:
            return None
        with loading_from_database():
            return cast(ConversationEntry,
                        ConversationEntry._from_son(found["conversation_history"]))

    def _holds_turns(self, count: int) -> bool:
        """Whether the stored history holds at least ``count`` turns (none of them is read)."""
        pipeline = [{"$match": {"_id": self.pk}},
                    {"$match": {f"conversation_history.{count - 1}": {"$exists": True}}},
                    {"$project": {"_id": 1}}]
        return next(iter(self._get_collection().aggregate(pipeline)), None) is not None

    def _remember_turn(self, entry: ConversationEntry, new: bool) -> None:
        """Add a stored entry to the loaded history (if loaded), without marking it changed.
        A ``new`` one (this call pushed it) cannot be there yet, so the turns loaded are
        not looked at (which would build each one)."""
        if not self._history_loaded:
            return
        history = self._data["conversation_history"]
        if new or all(known.id != entry.id for known in history):
            list.append(history, entry)

    def pause(self) -> WriteOutcome:
        """active -> paused."""
        return self._transition("paused")

    def resume(self) -> WriteOutcome:
        """paused -> active; the paused time is left out of ``total_duration``."""
        return self._transition("active")

    def end(self) -> WriteOutcome:
        """active or paused -> ended (final); sets ``end_time`` and ``total_duration``."""
        return self._transition("ended")

    def complete(self) -> WriteOutcome:
        """active or paused -> completed (final); sets ``end_time`` and ``total_duration``."""
        return self._transition("completed")

    @property
    def analytics(self) -> SessionAnalytics | None:
        """The analysis recorded for this session, or None."""
        # Looked up by name: analytics.py imports this module, not the other way round.
        analyses = get_document("SessionAnalytics")
        return cast("SessionAnalytics | None",
                    analyses.objects(session_id=self.session_id).first())

    def paused_seconds_at(self, at: datetime) -> float:
        """Seconds the session has been paused by ``at``, counting a pause still open."""
        paused: float = self.paused_seconds or 0
        if self.status == "paused" and self.paused_at is not None:
            paused += (at - self.paused_at).total_seconds()
        return max(0.0, paused)

    def active_seconds(self, at: datetime) -> float:
        """Seconds from ``start_time`` to ``at`` that the session was not paused."""
        return max(0.0, (at - self.start_time).total_seconds() - self.paused_seconds_at(at))

    def _transition(self, target: str) -> WriteOutcome:
        """Make the session ``target``: STORED when this call did, ALREADY_STORED (and no
        write) when it already was, InvalidTransition when its status does not allow it."""
        allowed_from = TRANSITIONS[target]
        if self.status == target:
            self._reload_lifecycle()  # what this object last saw may be old news
        for _ in range(MAX_ATTEMPTS):
            if self.status == target:
                self.last_outcome = WriteOutcome.ALREADY_STORED
                return self.last_outcome
            if self.status not in allowed_from:
                raise InvalidTransition(
                    f"session {self.session_id} is {self.status}; cannot become {target}"
                    f" (allowed only from {' or '.join(allowed_from)})"
                )
            now = update_if(self._get_collection(), self._require_pk(),
                            functools.partial(self._transition_update, target))
            if now is not None:
                self._set_clean(updated_at=now, **self._transition_changes(target, now))
                self.last_outcome = WriteOutcome.STORED
                return self.last_outcome
            self._reload_lifecycle()  # someone else changed it first (or our lost reply did)
        raise ConcurrentModification(
            f"session {self.session_id} changed {MAX_ATTEMPTS} times during {target}"
        )

    def _transition_update(self, target: str, now: datetime) -> Conditional:
        """The conditional update that makes this session ``target`` at ``now``: its
        lifecycle fields are still as loaded, and for a final status no turn was stored
        after ``now``."""
        # None matches a null and a missing key alike
        query: dict[str, Any] = {"status": self.status, "paused_at": self.paused_at,
                                 "paused_seconds": self.paused_seconds}
        if target in FINAL_STATUSES:
            query["$or"] = [{"last_turn_at": None}, {"last_turn_at": {"$lte": now}}]
        update = set_or_unset(type(self), self._transition_changes(target, now))
        update.setdefault("$set", {})[UPDATED] = now
        return Conditional(filter=query, update=update)

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

