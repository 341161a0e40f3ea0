"""Wrong user code: every marked line is a mistake both checkers must report.

Each line carries mypy's ignore for the error it must give and pyright's for its rule; with
mypy's ``warn_unused_ignores`` and pyright's ``reportUnnecessaryTypeIgnoreComment``, a mistake
that either checker stops reporting fails ``tox -e typing``. This module is never run.
"""

from __future__ import annotations

import roleplay_models as rp

__all__ = ("MISTAKES",)

MISTAKES = 37  # the marked lines below; test_types_at_run_time.py counts them


def reading(session: rp.RoleplaySession, character: rp.Character) -> None:
    _a: int = session.user_id  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    _b: str = session.end_time  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    _c: bool = session.total_duration  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    _d: rp.Scenario = session.character  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    _e: list[str] = session.conversation_history  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    _f: str = character.voice_id  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    _g: str = session.scenario  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    _h: rp.Character = session.scenario  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    _j = session.started_at  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType, reportUnknownVariableType]
    session.add_trun("user", "Hi")  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    session.end_time.isoformat()  # type: ignore[union-attr]  # pyright: ignore[reportOptionalMemberAccess]
    _k = session.character.name  # type: ignore[union-attr]  # pyright: ignore[reportOptionalMemberAccess]
    session.metadata.user_agent.lower()  # type: ignore[union-attr]  # pyright: ignore[reportOptionalMemberAccess]


def assigning(session: rp.RoleplaySession, character: rp.Character, scenario: rp.Scenario) -> None:
    session.voice_enabled = "false"  # type: ignore[assignment]  # pyright: ignore[reportAttributeAccessIssue]
    scenario.is_active = 1  # type: ignore[assignment]  # pyright: ignore[reportAttributeAccessIssue]
    session.end_time = "2024-03-01T09:30:00Z"  # type: ignore[assignment]  # pyright: ignore[reportAttributeAccessIssue]
    session.total_duration = "2"  # type: ignore[assignment]  # pyright: ignore[reportAttributeAccessIssue]
    session.user_id = None  # type: ignore[assignment]  # pyright: ignore[reportAttributeAccessIssue]
    session.scenario = "cold-call-cfo"  # type: ignore[assignment]  # pyright: ignore[reportAttributeAccessIssue]
    session.character = scenario  # type: ignore[assignment]  # pyright: ignore[reportAttributeAccessIssue]
    session.conversation_history = ["Hi"]  # type: ignore[list-item]  # pyright: ignore[reportAttributeAccessIssue]
    character.objections = "Too expensive"  # type: ignore[assignment]  # pyright: ignore[reportAttributeAccessIssue]


def calling(session: rp.RoleplaySession, scenario: rp.Scenario) -> None:
    rp.RoleplaySession.objects.for_user(42)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    rp.Scenario.objects.search({"$ne": ""})  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    rp.RoleplaySession.objects.with_status(None)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    rp.RoleplayTip.objects.recent(limit=5.0)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    rp.Character.objects.in_scenario("cold-call-cfo")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    rp.RoleplaySession.objects.paginate(page=[1])  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    session.add_turn("user", "Hi", audio_duration="1.4")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    rp.RoleplaySession.start("cold-call-cfo", user_id="rep-1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    session.end(force=True)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


def chaining() -> None:
    rp.RoleplaySession.objects.newest_first().latest()  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    rp.Scenario.objects.active().for_user("rep-1")  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    rp.RoleplayTip.objects.featured().search("close")  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    rp.RoleplaySession.objects.first_or_404()  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]


def trusting_first() -> None:
    rp.RoleplaySession.objects.for_user("rep-1").first().add_turn("user", "Hi")  # type: ignore[union-attr]  # pyright: ignore[reportOptionalMemberAccess]
    _i: rp.RoleplaySession = rp.RoleplaySession.objects.first()  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
