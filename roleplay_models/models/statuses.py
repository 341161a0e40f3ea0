"""A practice session's statuses and the transitions between them."""

from __future__ import annotations

__all__ = ("FINAL_STATUSES", "SESSION_STATUSES", "TRANSITIONS")

#: A session's statuses; ``completed`` and ``ended`` are final.
SESSION_STATUSES = ("active", "completed", "paused", "ended")
FINAL_STATUSES = ("completed", "ended")

# target status -> the statuses it may be reached from
TRANSITIONS = {
    "paused": ("active",),
    "active": ("paused",),
    "ended": ("active", "paused"),
    "completed": ("active", "paused"),
}
