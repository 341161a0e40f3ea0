"""A realistic demo catalog, written idempotently, and synthetic session history in bulk."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TextIO

from bson import ObjectId

from ..models.analytics import SCORE_FIELDS, KeyMoment, SessionAnalytics
from ..models.character import Character
from ..models.scenario import Scenario
from ..models.session import ConversationEntry, RoleplaySession
from ..models.tip import RoleplayTip
from ..odm.fields import utc_now
from .progress import show_progress

__all__ = ("seed_catalog", "seed_sessions")

SCENARIOS = [
    ("cold-call-cfo", "Cold call to a sceptical CFO",
     "Open a call with a CFO who believes the budget is already spent.",
     "You are a CFO. Be brief, sceptical and numbers-driven."),
    ("discovery-it-manager", "Discovery with an overloaded IT manager",
     "Uncover the real pain behind a vague request for 'better reporting'.",
     "You are an IT manager with too many projects. Answer only what is asked."),
    ("renewal-at-risk", "Renewal at risk",
     "A customer hints they may not renew after a rough quarter of support tickets.",
     "You are a frustrated customer. Bring up the outage from last month."),
    ("demo-to-procurement", "Product demo for procurement",
     "Present to a procurement lead who compares you line by line with a competitor.",
     "You are a procurement lead. Ask about price per seat and contract terms."),
]
CHARACTERS = [
    ("Dana Whitfield", "CFO", "Direct, impatient, respects data.",
     "Twenty years in corporate finance; burned by a failed rollout.",
     ["The budget is spent", "We already have a tool"], ["cold-call-cfo", "renewal-at-risk"]),
    ("Sam Okafor", "IT Manager", "Friendly but stretched thin.",
     "Runs a team of four supporting nine hundred staff.",
     ["No time for another project", "Security review takes months"], ["discovery-it-manager"]),
    ("Priya Raman", "Procurement Lead", "Methodical, polite, tough on terms.",
     "Negotiates every software contract above ten thousand dollars.",
     ["Your competitor is cheaper", "We need net-90 terms"], ["demo-to-procurement"]),
    ("Marcus Lee", "Customer Success Director", "Warm, candid about problems.",
     "Champion of the original purchase, now under pressure from his VP.",
     ["Support was too slow", "My VP wants to re-evaluate"], ["renewal-at-risk"]),
]
TIPS = [
    ("objection_handling", "intermediate", "Answer price with value, then price",
     "Restate the outcome the buyer cares about before discussing cost.", True),
    ("rapport_building", "beginner", "Mirror the buyer's pace",
     "Match a hurried buyer's brevity; slow down for a reflective one.", False),
    ("closing", "beginner", "Always end with a dated next step",
     "Propose a specific time for the next conversation before hanging up.", True),
    ("discovery", "intermediate", "Ask for the last time it went wrong",
     "Concrete stories reveal pain better than hypothetical questions.", False),
    ("presentation", "advanced", "Demo the buyer's workflow, not your menu",
     "Show the two screens that solve their problem; skip the tour.", False),
    ("objection_handling", "advanced", "Isolate the real objection",
     "Ask 'if that were solved, is there anything else?' before answering.", False),
]


def seed_catalog() -> dict[str, int]:
    """Create whatever of the catalog is missing; returns how many of each were created."""
    created = {"scenarios": 0, "characters": 0, "tips": 0}
    by_key = {}
    for scenario_id, title, description, prompt in SCENARIOS:
        scenario = Scenario.objects(scenario_id=scenario_id).first()
        if scenario is None:
            scenario = Scenario(scenario_id=scenario_id, title=title, description=description,
                                llm_prompt=prompt).save()
            created["scenarios"] += 1
        by_key[scenario_id] = scenario
    for name, role, personality, background, objections, scenario_ids in CHARACTERS:
        if Character.objects(name=name).first() is None:
            Character(name=name, role=role, personality=personality, background=background,
                      objections=objections,
                      scenarios=[by_key[s] for s in scenario_ids]).save()
            created["characters"] += 1
    for category, level, title, content, featured in TIPS:
        if RoleplayTip.objects(title=title).first() is None:
            RoleplayTip(category=category, difficulty_level=level, title=title, content=content,
                        is_featured=featured, related_scenarios=list(by_key.values())[:1]).save()
            created["tips"] += 1
    return created


def _progress(done: int, total: int, out: TextIO) -> None:
    show_progress(done, total, out, "sessions")


def seed_sessions(
    count: int,
    batch: int = 500,
    out: TextIO = sys.stderr,
    progress: Callable[[int, int, TextIO], None] = _progress,
) -> int:
    """Add ``count`` finished, analysed synthetic sessions in bulk over the seeded catalog."""
    scenarios = list(Scenario.objects.active())
    characters = list(Character.objects.active())
    if not scenarios or not characters:
        raise ValueError("seed the catalog first: there are no active scenarios or characters")
    rng = random.Random()
    done = 0
    while done < count:
        size = min(batch, count - done)
        sessions, analyses = [], []
        for _ in range(size):
            sessions.append(_synthetic_session(rng, rng.choice(scenarios), rng.choice(characters)))
            analyses.append(_synthetic_analysis(rng, sessions[-1]))
        RoleplaySession.objects.insert(sessions, load_bulk=False)
        SessionAnalytics.objects.insert(analyses, load_bulk=False)
        done += size
        progress(done, count, out)
    return done


def _synthetic_session(rng: random.Random, scenario: Scenario, character: Character) -> Any:
    started = utc_now() - timedelta(days=rng.randint(0, 90), minutes=rng.randint(0, 600))
    turns = rng.randint(4, 16)
    history = [
        ConversationEntry(role="user" if i % 2 == 0 else "assistant",
                          text=f"Synthetic turn {i + 1}",
                          timestamp=started + timedelta(seconds=20 * i))
        for i in range(turns)
    ]
    return RoleplaySession(
        session_id=f"session_{ObjectId()}", scenario=scenario, character=character,
        user_id=f"rep-{rng.randint(1, 25):02d}", status=rng.choice(["completed", "ended"]),
        start_time=started, end_time=started + timedelta(seconds=20 * turns),
        total_duration=20 * turns, conversation_history=history,
    )


def _synthetic_analysis(rng: random.Random, session: RoleplaySession) -> SessionAnalytics:
    return SessionAnalytics(
        session_id=session.session_id, scenario=session.scenario, user_id=session.user_id,
        conversation_flow_analysis="Synthetic analysis.",
        strengths=["Clear opener"], areas_for_improvement=["Ask for a next step"],
        key_moments=[KeyMoment(timestamp="00:40", description="First objection",
                               score_impact=rng.randint(-3, 3))],
        **{name: rng.choice([4, 5, 6, 6.5, 7, 7.5, 8, 9]) for name in SCORE_FIELDS},
    )
