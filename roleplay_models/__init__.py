"""roleplay_models: the MongoDB data layer of the sales-roleplay trainer, on mongoengine."""

from .analytics import SCORE_FIELDS, KeyMoment, SessionAnalytics
from .character import Character
from .connection import DEFAULT_URI, connect, disconnect
from .errors import (
    ConcurrentModification,
    ConfigurationError,
    InvalidTransition,
    ServerUnreachable,
    SessionNotActive,
    SessionNotFinished,
    SessionStateError,
)
from .indexes import IndexReport, RefusedIndex, ensure_indexes
from .models import MODELS
from .scenario import Scenario
from .session import (
    SESSION_STATUSES,
    SPEAKER_ROLES,
    ConversationEntry,
    RoleplaySession,
    SessionMetadata,
)
from .timestamps import TimestampedMixin, TimestampedQuerySet
from .tip import DIFFICULTY_LEVELS, TIP_CATEGORIES, RoleplayTip

__version__ = "0.1.0"

__all__ = (
    "Character",
    "ConcurrentModification",
    "ConfigurationError",
    "ConversationEntry",
    "DEFAULT_URI",
    "DIFFICULTY_LEVELS",
    "IndexReport",
    "InvalidTransition",
    "KeyMoment",
    "MODELS",
    "RefusedIndex",
    "RoleplaySession",
    "RoleplayTip",
    "SCORE_FIELDS",
    "SESSION_STATUSES",
    "SPEAKER_ROLES",
    "Scenario",
    "ServerUnreachable",
    "SessionAnalytics",
    "SessionMetadata",
    "SessionNotActive",
    "SessionNotFinished",
    "SessionStateError",
    "TIP_CATEGORIES",
    "TimestampedMixin",
    "TimestampedQuerySet",
    "connect",
    "disconnect",
    "ensure_indexes",
)
