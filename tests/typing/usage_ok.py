"""Correct user code: what each public attribute, query helper and lifecycle method gives.

``mypy --strict`` and ``pyright --strict`` must find no error here (``tox -e typing``);
``test_types_at_run_time.py`` runs :func:`exercise` against the real server with an
``assert_type`` that checks each value, so the types stated here are also what is returned.
"""

from __future__ import annotations

import datetime
from typing import Any

import typing_extensions as te
from bson import SON, ObjectId

import roleplay_models as rp
from roleplay_models.odm.fast_paths import EmbeddedListField
from roleplay_models.odm.fields import (
    EmbeddedDocumentField,
    ListField,
    NumberField,
    ReferenceField,
    StrictBooleanField,
    TextField,
    TrimmedTextListField,
    UTCDateTimeField,
)

__all__ = ("exercise",)

Datetime = datetime.datetime


def fields_on_the_class() -> None:
    te.assert_type(rp.Scenario.scenario_id, TextField[str])
    te.assert_type(rp.Scenario.is_active, StrictBooleanField[bool])
    te.assert_type(rp.Scenario.created_at, UTCDateTimeField[Datetime | None])
    te.assert_type(rp.Character.voice_id, TextField[str | None])
    te.assert_type(rp.Character.scenarios, ListField[list[rp.Scenario]])
    te.assert_type(rp.Character.objections, TrimmedTextListField)
    te.assert_type(rp.RoleplaySession.user_id, TextField[str])
    te.assert_type(rp.RoleplaySession.end_time, UTCDateTimeField[Datetime | None])
    te.assert_type(rp.RoleplaySession.total_duration, NumberField[float])
    te.assert_type(rp.RoleplaySession.scenario, ReferenceField[rp.Scenario])
    te.assert_type(rp.RoleplaySession.character, ReferenceField[rp.Character | None])
    te.assert_type(rp.RoleplaySession.metadata, EmbeddedDocumentField[rp.SessionMetadata])
    te.assert_type(rp.RoleplaySession.conversation_history,
                   EmbeddedListField[rp.ConversationEntry])
    te.assert_type(rp.RoleplayTip.related_scenarios, ListField[list[rp.Scenario]])


def scenario_fields(scenario: rp.Scenario) -> None:
    te.assert_type(scenario.pk, ObjectId | None)
    te.assert_type(scenario.id, ObjectId | None)
    te.assert_type(scenario.scenario_id, str)
    te.assert_type(scenario.title, str)
    te.assert_type(scenario.description, str)
    te.assert_type(scenario.llm_prompt, str)
    te.assert_type(scenario.is_active, bool)
    te.assert_type(scenario.created_by, str)
    te.assert_type(scenario.created_at, Datetime | None)
    te.assert_type(scenario.updated_at, Datetime | None)


def character_fields(character: rp.Character) -> None:
    te.assert_type(character.name, str)
    te.assert_type(character.role, str)
    te.assert_type(character.personality, str)
    te.assert_type(character.background, str)
    te.assert_type(character.objections, list[str])
    te.assert_type(character.voice_id, str | None)
    te.assert_type(character.scenarios, list[rp.Scenario])
    te.assert_type(character.is_active, bool)
    te.assert_type(character.created_by, str)
    te.assert_type(character.created_at, Datetime | None)


def tip_fields(tip: rp.RoleplayTip) -> None:
    te.assert_type(tip.session_id, str | None)
    te.assert_type(tip.category, str)
    te.assert_type(tip.title, str)
    te.assert_type(tip.content, str)
    te.assert_type(tip.techniques, list[str])
    te.assert_type(tip.practice_scenarios, list[str])
    te.assert_type(tip.related_scenarios, list[rp.Scenario])
    te.assert_type(tip.difficulty_level, str)
    te.assert_type(tip.is_featured, bool)
    te.assert_type(tip.is_active, bool)
    te.assert_type(tip.created_by, str)


def session_fields(session: rp.RoleplaySession) -> None:
    te.assert_type(session.session_id, str)
    te.assert_type(session.scenario, rp.Scenario)
    te.assert_type(session.character, rp.Character | None)
    te.assert_type(session.user_id, str)
    te.assert_type(session.status, str)
    te.assert_type(session.start_time, Datetime)
    te.assert_type(session.end_time, Datetime | None)
    te.assert_type(session.total_duration, float)
    te.assert_type(session.conversation_history, list[rp.ConversationEntry])
    te.assert_type(session.voice_enabled, bool)
    te.assert_type(session.metadata, rp.SessionMetadata)
    te.assert_type(session.metadata.ip_address, str | None)
    te.assert_type(session.metadata.user_agent, str | None)
    te.assert_type(session.metadata.session_quality, str | None)
    te.assert_type(session.paused_at, Datetime | None)
    te.assert_type(session.paused_seconds, float | None)
    te.assert_type(session.last_turn_at, Datetime | None)
    te.assert_type(session.last_outcome, rp.WriteOutcome | None)
    te.assert_type(session.scenario.title, str)
    for entry in session.conversation_history:
        entry_fields(entry)


def entry_fields(entry: rp.ConversationEntry) -> None:
    te.assert_type(entry.id, ObjectId)
    te.assert_type(entry.role, str)
    te.assert_type(entry.text, str)
    te.assert_type(entry.timestamp, Datetime)
    te.assert_type(entry.audio_duration, float | None)


def assignments(session: rp.RoleplaySession, character: rp.Character) -> None:
    """What may be assigned: a field's own type (None only where it reads as None)."""
    session.voice_enabled = True
    session.character = character
    session.character = None
    session.end_time = None
    session.metadata = rp.SessionMetadata(user_agent="Firefox")
    session.metadata.ip_address = None
    character.objections = ["Too expensive", "No time"]
    character.scenarios = [session.scenario]
    character.voice_id = "voice-1"


def queries(user_id: str, session_id: str, scenario: rp.Scenario) -> None:
    sessions = rp.RoleplaySession.objects
    te.assert_type(sessions, rp.RoleplaySessionQuerySet)
    te.assert_type(sessions.model, type[rp.RoleplaySession])
    te.assert_type(sessions.for_user(user_id), rp.RoleplaySessionQuerySet)
    te.assert_type(sessions.for_session(session_id), rp.RoleplaySessionQuerySet)
    te.assert_type(sessions.by_session_id(session_id), rp.RoleplaySessionQuerySet)
    te.assert_type(sessions.with_status("active", "paused"), rp.RoleplaySessionQuerySet)
    # the README's chain: each helper keeps the model's own QuerySet
    newest = sessions.newest_first().for_user(user_id).with_status("completed")
    te.assert_type(newest, rp.RoleplaySessionQuerySet)
    chained = sessions(user_id=user_id).filter(status="completed").exclude("metadata")
    te.assert_type(chained.order_by("-start_time").skip(0).limit(5).only("session_id"),
                   rp.RoleplaySessionQuerySet)
    te.assert_type(sessions.all().no_dereference().batch_size(10), rp.RoleplaySessionQuerySet)
    te.assert_type(sessions.for_user(user_id).first(), rp.RoleplaySession | None)
    te.assert_type(sessions.for_user(user_id).get(session_id=session_id), rp.RoleplaySession)
    te.assert_type(sessions.live(session_id), rp.RoleplaySession)
    te.assert_type(sessions.for_user(user_id).count(), int)
    te.assert_type(sessions.for_user(user_id)[0], rp.RoleplaySession)
    te.assert_type(sessions.for_user(user_id)[0:2], rp.RoleplaySessionQuerySet)
    for found in sessions.for_user(user_id).newest_first():
        te.assert_type(found, rp.RoleplaySession)
    te.assert_type(list(sessions.for_user(user_id)), list[rp.RoleplaySession])
    te.assert_type(sessions.for_user(user_id).populated(), list[rp.RoleplaySession])
    te.assert_type(sessions.for_user(user_id).api_dicts(), list[dict[str, Any]])
    te.assert_type(sessions.for_user(user_id).api_dicts(private=True), list[dict[str, Any]])
    page = sessions.for_user(user_id).newest_first().paginate(1, "20")
    te.assert_type(page, rp.Page[rp.RoleplaySession])
    te.assert_type(page.items, list[rp.RoleplaySession])
    te.assert_type(page.total, int)
    te.assert_type(page.pages, int)
    te.assert_type(page.as_dict(), dict[str, Any])
    te.assert_type(sessions.for_user(user_id).api_page(page=1, limit=20), rp.Page[dict[str, Any]])
    te.assert_type(sessions.distinct("user_id"), list[Any])
    te.assert_type(sessions.in_bulk([]), dict[Any, rp.RoleplaySession])

    scenarios = rp.Scenario.objects
    te.assert_type(scenarios.active(), rp.ScenarioQuerySet)
    te.assert_type(scenarios.search("cold call").active(), rp.ScenarioQuerySet)
    te.assert_type(scenarios.active().newest_first().first(), rp.Scenario | None)
    te.assert_type(scenarios.get(scenario_id=scenario.scenario_id), rp.Scenario)

    characters = rp.Character.objects
    te.assert_type(characters.with_role("cfo").active(), rp.CharacterQuerySet)
    te.assert_type(characters.in_scenario(scenario).first(), rp.Character | None)

    tips = rp.RoleplayTip.objects
    te.assert_type(tips.featured(), rp.RoleplayTipQuerySet)
    te.assert_type(tips.featured("false").active(), rp.RoleplayTipQuerySet)
    te.assert_type(tips.recent(3), rp.RoleplayTipQuerySet)
    te.assert_type(tips.matching(category="closing", featured=True).first(),
                   rp.RoleplayTip | None)
    te.assert_type(tips.newest_first().paginate(), rp.Page[rp.RoleplayTip])

    analyses = rp.SessionAnalytics.objects
    te.assert_type(analyses, rp.SessionAnalyticsQuerySet)
    te.assert_type(analyses.for_user(user_id).for_session(session_id), rp.SessionAnalyticsQuerySet)
    te.assert_type(analyses.summary(user_id), dict[str, Any])


def writes(scenario: rp.Scenario, character: rp.Character, user_id: str) -> rp.RoleplaySession:
    session = rp.RoleplaySession.start(scenario, user_id=user_id, character=character,
                                       metadata={"user_agent": "Chrome"})
    te.assert_type(session, rp.RoleplaySession)
    te.assert_type(session.add_turn("user", "Hi Dana, two minutes?"), rp.ConversationEntry)
    te.assert_type(session.add_turn("assistant", "Two. Go.", audio_duration=1.4, turn_id="t-2"),
                   rp.ConversationEntry)
    te.assert_type(session.pause(), rp.WriteOutcome)
    te.assert_type(session.resume(), rp.WriteOutcome)
    te.assert_type(session.active_seconds(session.start_time), float)
    te.assert_type(session.paused_seconds_at(session.start_time), float)
    te.assert_type(session.complete(), rp.WriteOutcome)
    te.assert_type(rp.RoleplaySession.start(scenario, user_id=user_id).end(), rp.WriteOutcome)
    te.assert_type(session.analytics, rp.SessionAnalytics | None)
    analysis = rp.SessionAnalytics.record(
        session, overall_score=7.5, communication_score=8, objection_handling_score=7,
        rapport_building_score=6, closing_technique_score=8,
        conversation_flow_analysis="Clear ask at the end.",
        key_moments=[{"timestamp": "00:10", "description": "Asked for two minutes"}])
    te.assert_type(analysis, rp.SessionAnalytics)
    analysis_fields(analysis)
    te.assert_type(session.reload(), rp.RoleplaySession)
    te.assert_type(session.to_api_dict(), dict[str, Any])
    te.assert_type(session.to_mongo(), SON[str, Any])
    te.assert_type(session.validate(), None)

    tip = rp.RoleplayTip(category="closing", title="Ask", content="Ask for the meeting.",
                         difficulty_level="beginner", related_scenarios=[scenario])
    te.assert_type(tip.save(), rp.RoleplayTip)
    te.assert_type(rp.RoleplayTip.objects(pk=tip.pk).update(set__is_featured=True), Any)
    te.assert_type(rp.RoleplayTip.objects(pk=tip.pk).modify(new=True, set__title="Ask now"),
                   rp.RoleplayTip | None)
    te.assert_type(tip.modify(set__title="Ask early"), bool)
    te.assert_type(rp.RoleplayTip.objects.insert(rp.RoleplayTip(
        category="closing", title="Two", content="c", difficulty_level="advanced")),
        rp.RoleplayTip)
    te.assert_type(rp.RoleplayTip.objects.insert([rp.RoleplayTip(
        category="closing", title="Three", content="c", difficulty_level="advanced")]),
        list[rp.RoleplayTip])
    te.assert_type(rp.RoleplayTip.objects.insert([rp.RoleplayTip(
        category="closing", title="Four", content="c", difficulty_level="advanced")],
        load_bulk=False), list[ObjectId])
    te.assert_type(tip.delete(), None)
    return session


def analysis_fields(analysis: rp.SessionAnalytics) -> None:
    te.assert_type(analysis.session_id, str)
    te.assert_type(analysis.scenario, rp.Scenario)
    te.assert_type(analysis.user_id, str)
    te.assert_type(analysis.overall_score, float)
    te.assert_type(analysis.strengths, list[str])
    te.assert_type(analysis.key_moments, list[rp.KeyMoment])
    for moment in analysis.key_moments:
        te.assert_type(moment.id, ObjectId)
        te.assert_type(moment.score_impact, float)
    te.assert_type(analysis.analyzed_at, datetime.datetime)
    te.assert_type(analysis.analysis_version, str)
    te.assert_type(rp.SessionAnalytics.objects.for_user("u").first(), rp.SessionAnalytics | None)
    te.assert_type(rp.SessionAnalytics.objects.summary(), dict[str, Any])


def exercise(scenario: rp.Scenario, character: rp.Character, tip: rp.RoleplayTip) -> None:
    """Every check of this module, on saved documents (the run-time test calls it)."""
    fields_on_the_class()
    scenario_fields(scenario)
    character_fields(character)
    tip_fields(tip)
    session = writes(scenario, character, "rep-typing")
    session_fields(session)
    assignments(rp.RoleplaySession.objects.get(pk=session.pk), character)
    queries("rep-typing", session.session_id, scenario)
