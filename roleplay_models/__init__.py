"""roleplay_models: the MongoDB data layer of the sales-roleplay trainer, on mongoengine."""

from .audit import AuditFinding, AuditReport, DuplicateValue, IndexFinding, ModelAudit, audit
from .db.connection import (
    DEFAULT_URI,
    connect,
    connect_from_settings,
    disconnect,
    ensure_ready,
    ping,
)
from .db.indexes import IndexReport, RefusedIndex, ensure_indexes
from .db.server import ServerFacts, server_facts
from .errors import (
    ConcurrentModification,
    ConfigurationError,
    IndexRefusedWarning,
    InvalidFilter,
    InvalidTransition,
    ServerUnreachable,
    SessionNotActive,
    SessionNotFinished,
    SessionStateError,
    WriteUnconfirmed,
)
from .models import MODELS
from .models.analytics import SCORE_FIELDS, KeyMoment, SessionAnalytics, SessionAnalyticsQuerySet
from .models.character import Character, CharacterQuerySet
from .models.scenario import Scenario, ScenarioQuerySet
from .models.session import (
    SESSION_STATUSES,
    SPEAKER_ROLES,
    ConversationEntry,
    RoleplaySession,
    RoleplaySessionQuerySet,
    SessionMetadata,
)
from .models.tip import DIFFICULTY_LEVELS, TIP_CATEGORIES, RoleplayTip, RoleplayTipQuerySet
from .odm.api import iso_utc
from .odm.limits import Limits, configure_limits, current_limits
from .odm.pagination import MAX_LIMIT, MAX_PAGE, Page
from .odm.queryset import RoleplayQuerySet, populate
from .odm.timestamps import TimestampedMixin, TimestampedQuerySet
from .odm.writes import WriteOutcome

__version__ = "0.1.0"

__all__ = (
    "AuditFinding",
    "AuditReport",
    "Character",
    "CharacterQuerySet",
    "ConcurrentModification",
    "ConfigurationError",
    "IndexRefusedWarning",
    "ConversationEntry",
    "DEFAULT_URI",
    "DIFFICULTY_LEVELS",
    "DuplicateValue",
    "IndexFinding",
    "IndexReport",
    "InvalidFilter",
    "InvalidTransition",
    "KeyMoment",
    "Limits",
    "MAX_LIMIT",
    "MAX_PAGE",
    "MODELS",
    "ModelAudit",
    "Page",
    "RefusedIndex",
    "RoleplayQuerySet",
    "RoleplaySession",
    "RoleplaySessionQuerySet",
    "RoleplayTip",
    "RoleplayTipQuerySet",
    "SCORE_FIELDS",
    "SESSION_STATUSES",
    "SPEAKER_ROLES",
    "Scenario",
    "ScenarioQuerySet",
    "ServerFacts",
    "ServerUnreachable",
    "SessionAnalytics",
    "SessionAnalyticsQuerySet",
    "SessionMetadata",
    "SessionNotActive",
    "SessionNotFinished",
    "SessionStateError",
    "TIP_CATEGORIES",
    "TimestampedMixin",
    "TimestampedQuerySet",
    "WriteOutcome",
    "WriteUnconfirmed",
    "audit",
    "connect",
    "configure_limits",
    "connect_from_settings",
    "current_limits",
    "disconnect",
    "ensure_indexes",
    "ensure_ready",
    "iso_utc",
    "ping",
    "populate",
    "server_facts",
)
