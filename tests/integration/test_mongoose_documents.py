"""Documents written by mongoose (``__v``, subdocument ``_id``, unknown keys) survive a save."""

from __future__ import annotations

import datetime

from bson import ObjectId

from roleplay_models import (
    Character,
    ConversationEntry,
    KeyMoment,
    RoleplaySession,
    RoleplayTip,
    Scenario,
    SessionAnalytics,
)

WHEN = datetime.datetime(2024, 3, 1, 9, 30, tzinfo=datetime.timezone.utc)


def mongoose_documents():
    scenario_id, character_id = ObjectId(), ObjectId()
    stamps = {"createdAt": WHEN, "updatedAt": WHEN, "__v": 0}
    return {
        Scenario: {
            "_id": scenario_id, "scenario_id": "mongoose-1", "title": "T", "description": "D",
            "llmPrompt": "P", "is_active": True, "created_by": "node", "legacy_flag": "x", **stamps,
        },
        Character: {
            "_id": character_id, "name": "N", "role": "R", "personality": "P", "background": "B",
            "objections": ["o"], "voice_id": None, "scenario_ids": [scenario_id],
            "is_active": True, "created_by": "system", **stamps,
        },
        RoleplaySession: {
            "_id": ObjectId(), "session_id": "session_m", "scenario_id": scenario_id,
            "character_id": character_id, "user_id": "u", "status": "active",
            "start_time": WHEN, "end_time": None, "total_duration": 0, "voice_enabled": False,
            "conversation_history": [
                {"_id": ObjectId(), "role": "user", "text": "hi", "timestamp": WHEN,
                 "confidence": 0.93},
            ],
            "metadata": {"ip_address": "10.0.0.1", "browser_lang": "de"}, **stamps,
        },
        SessionAnalytics: {
            "_id": ObjectId(), "session_id": "session_m", "scenario_id": scenario_id,
            "user_id": "u", "overall_score": 7, "communication_score": 7.5,
            "objection_handling_score": 6, "rapport_building_score": 8,
            "closing_technique_score": 5, "strengths": ["s"],
            "key_moments": [{"_id": ObjectId(), "timestamp": "01:00", "description": "d",
                             "score_impact": 2}],
            "conversation_flow_analysis": "f", "analyzed_at": WHEN, "analysis_version": "1.0",
            **stamps,
        },
        RoleplayTip: {
            "_id": ObjectId(), "session_id": None, "category": "closing", "title": "T",
            "content": "C", "techniques": [], "practice_scenarios": [],
            "related_scenarios": [scenario_id], "difficulty_level": "advanced",
            "is_featured": False, "is_active": True, "created_by": "system", **stamps,
        },
    }


def modify(document):
    if isinstance(document, RoleplaySession):
        document.conversation_history.append(ConversationEntry(role="assistant", text="hello"))
        document.metadata.user_agent = "pytest"
    elif isinstance(document, SessionAnalytics):
        document.key_moments.append(KeyMoment(timestamp="02:00", description="e"))
    elif isinstance(document, Character):
        document.objections.append("p")
    else:
        document.title = "Changed"


def test_mongoose_documents_load_modify_and_save_without_losing_anything(db):
    written = mongoose_documents()
    for model, raw in written.items():
        model._get_collection().insert_one(dict(raw))
    for model, raw in written.items():
        document = model.objects.get(pk=raw["_id"])
        modify(document)
        document.save()
        after = model._get_collection().find_one({"_id": raw["_id"]})
        assert after["__v"] == 0 and after["createdAt"] == WHEN and after["updatedAt"] > WHEN
        for key in raw:
            assert key in after, (model.__name__, key)
        if model is Scenario:
            assert after["legacy_flag"] == "x"
        if model is RoleplaySession:
            first = after["conversation_history"][0]
            assert first == raw["conversation_history"][0]
            assert isinstance(after["conversation_history"][1]["_id"], ObjectId)
            assert after["metadata"] == {**raw["metadata"], "user_agent": "pytest"}
        if model is SessionAnalytics:
            assert after["key_moments"][0] == raw["key_moments"][0]
