"""Bounds on what one request can store, so that no document grows past what MongoDB holds."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import bson
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions
from mongoengine import ValidationError

__all__ = ("Limits", "check_document_size", "configure_limits", "current_limits",
           "encoded_within_limits")

MONGODB_MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
# What one stored turn takes besides its text: _id, role, timestamp, audio_duration, keys.
TURN_OVERHEAD_BYTES = 160
# Room left in a full session for everything but its turns (ids, metadata, stamps).
SESSION_ROOM_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The bounds the package enforces on every server (FerretDB does not enforce MongoDB's).

    ``document_bytes``: a saved document's BSON size, MongoDB's 16 MiB less room
    for the stamps an update adds. ``turn_text_bytes``: one turn's text,
    in UTF-8 bytes (8 KiB: 2,048 to 8,192 characters). ``turns_per_session``:
    turns one session holds. Together they keep the fullest session under
    9 MiB, so a page of sessions stays readable.
    """

    document_bytes: int = MONGODB_MAX_DOCUMENT_BYTES - 64 * 1024
    turn_text_bytes: int = 8 * 1024
    turns_per_session: int = 1000

    def check(self) -> None:
        """Refuse a combination under which a full session could outgrow ``document_bytes``."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"limit {field.name} must be a whole number of at least 1")
        if self.document_bytes > MONGODB_MAX_DOCUMENT_BYTES:
            raise ValueError(f"limit document_bytes cannot exceed MongoDB's "
                             f"{MONGODB_MAX_DOCUMENT_BYTES} bytes")
        fullest = self.turns_per_session * (self.turn_text_bytes + TURN_OVERHEAD_BYTES)
        if fullest + SESSION_ROOM_BYTES > self.document_bytes:
            raise ValueError(
                f"turns_per_session x turn_text_bytes allows sessions of {fullest} bytes; "
                f"with room for the rest that exceeds document_bytes ({self.document_bytes})")


LIMITS = Limits()
_CODEC: CodecOptions[Any] = CodecOptions(uuid_representation=UuidRepresentation.STANDARD)


def current_limits() -> Limits:
    """The limits in force in this process."""
    return LIMITS


def check_document_size(model: type, son: Any) -> None:
    """Refuse, with a ValidationError, a document whose BSON outgrows ``document_bytes``."""
    encoded_within_limits(model, son, _CODEC)


def encoded_within_limits(model: type, son: Any, codec_options: CodecOptions[Any]) -> bytes:
    """``son`` as BSON; a ValidationError if that outgrows ``document_bytes``."""
    encoded = bson.encode(son, codec_options=codec_options)
    if len(encoded) > LIMITS.document_bytes:
        raise ValidationError(f"{model.__name__} would be {len(encoded)} bytes stored; "
                              f"the limit is {LIMITS.document_bytes}")
    return encoded


def configure_limits(**changes: int) -> Limits:
    """Change some limits for this process, e.g. ``configure_limits(turns_per_session=2000,
    turn_text_bytes=4096)``; a combination that could outgrow a document is refused."""
    global LIMITS
    unknown = set(changes) - {field.name for field in dataclasses.fields(Limits)}
    if unknown:
        raise TypeError(f"unknown limits: {', '.join(sorted(unknown))}")
    limits = dataclasses.replace(LIMITS, **changes)
    limits.check()
    LIMITS = limits
    return limits
