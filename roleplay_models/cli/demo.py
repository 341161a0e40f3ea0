"""The seeded catalog and one finished practice session, for the ``demo`` command."""

from __future__ import annotations

from datetime import timedelta
from typing import TextIO

from ..models.analytics import KeyMoment, SessionAnalytics
from ..models.character import Character
from ..models.scenario import Scenario
from ..models.session import ConversationEntry, RoleplaySession
from ..models.tip import RoleplayTip
from ..odm.fields import utc_now
from .seed import seed_catalog

__all__ = ("create_demo_data", "print_demo")

DEMO_SCENARIO = "cold-call-cfo"
DEMO_CHARACTER = "Dana Whitfield"
DEMO_CONVERSATION = (
    ("user", "Hi Dana, thanks for taking the call. "
             "I'd like to show how we cut month-end close by a week."),
    ("assistant", "You have two minutes. We already bought a tool for that last year."),
    ("user", "Understood. What does month-end look like today with that tool?"),
    ("assistant", "Still nine days, honestly. But the budget is spent."),
    ("user", "If we could show a five-day close on your data, "
             "would a pilot next quarter be worth a look?"),
    ("assistant", "Send me something concrete and I'll look at it Thursday."),
)


def create_demo_data(user_id: str = "demo-rep") -> RoleplaySession:
    """Seed the catalog (see :mod:`.seed`) and save one completed, analysed session in it."""
    seed_catalog()
    scenario = Scenario.objects.get(scenario_id=DEMO_SCENARIO)
    character = Character.objects.get(name=DEMO_CHARACTER)
    started = utc_now() - timedelta(minutes=6)
    history = [
        ConversationEntry(role=role, text=text, timestamp=started + timedelta(seconds=40 * i))
        for i, (role, text) in enumerate(DEMO_CONVERSATION)
    ]
    session = RoleplaySession(
        session_id="session_demo",
        scenario=scenario,
        character=character,
        user_id=user_id,
        status="completed",
        start_time=started,
        end_time=started + timedelta(minutes=5),
        total_duration=300,
        conversation_history=history,
    ).save()
    SessionAnalytics(
        session_id=session.session_id,
        scenario=scenario,
        user_id=user_id,
        overall_score=7.5,
        communication_score=8,
        objection_handling_score=7,
        rapport_building_score=6.5,
        closing_technique_score=8,
        strengths=["Concise opener", "Turned the objection into a question"],
        areas_for_improvement=["Build rapport before the pitch"],
        objections_encountered=["We already have a tool", "The budget is spent"],
        objections_handled_well=["We already have a tool"],
        key_moments=[KeyMoment(timestamp="01:20", description="Asked about the current close",
                               score_impact=3)],
        conversation_flow_analysis="Quick discovery, a clear ask, a soft commitment for Thursday.",
    ).save()
    return session


def print_demo(session: RoleplaySession, out: TextIO) -> None:
    """Print the catalog and the session readably."""
    out.write("Scenarios\n")
    for scenario in Scenario.objects.order_by("scenario_id"):
        out.write(f"  {scenario.scenario_id}: {scenario.title}\n")
    out.write("Characters\n")
    for character in Character.objects.order_by("name"):
        titles = ", ".join(s.title for s in character.scenarios)
        out.write(f"  {character.name} ({character.role}) in: {titles}\n")
        out.write(f"    objections: {'; '.join(character.objections)}\n")
    out.write("Tips\n")
    for tip in RoleplayTip.objects.order_by("title"):
        out.write(f"  [{tip.category}, {tip.difficulty_level}] {tip.title}\n")
    partner = session.character.name if session.character is not None else "(no character)"
    out.write(
        f"Session {session.session_id} ({session.status}, {session.total_duration} s)"
        f" with {partner} in '{session.scenario.title}'\n"
    )
    for entry in session.conversation_history:
        speaker = "Rep" if entry.role == "user" else partner
        out.write(f"  {entry.timestamp:%H:%M:%S} {speaker}: {entry.text}\n")
    analysis = SessionAnalytics.objects.get(session_id=session.session_id)
    out.write(
        f"Analysis: overall {analysis.overall_score}/10, communication {analysis.communication_score},"
        f" objections {analysis.objection_handling_score}, rapport {analysis.rapport_building_score},"
        f" closing {analysis.closing_technique_score}\n"
    )
    out.write(f"  strengths: {'; '.join(analysis.strengths)}\n")
    out.write(f"  to improve: {'; '.join(analysis.areas_for_improvement)}\n")
