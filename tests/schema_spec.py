"""The mongoose schema, as data: what every test of the models checks against."""

from __future__ import annotations

from roleplay_models import (
    Character,
    RoleplaySession,
    RoleplayTip,
    Scenario,
    SessionAnalytics,
)

COLLECTIONS = {
    Scenario: "scenarios",
    Character: "characters",
    RoleplaySession: "roleplaysessions",
    SessionAnalytics: "sessionanalytics",
    RoleplayTip: "roleplaytips",
}

TIMESTAMPS = {"created_at": "createdAt", "updated_at": "updatedAt"}

# attribute -> stored name, for every field of every model
STORED_NAMES = {
    Scenario: {
        "scenario_id": "scenario_id", "title": "title", "description": "description",
        "llm_prompt": "llmPrompt", "is_active": "is_active", "created_by": "created_by",
    },
    Character: {
        "name": "name", "role": "role", "personality": "personality", "background": "background",
        "objections": "objections", "voice_id": "voice_id", "scenarios": "scenario_ids",
        "is_active": "is_active", "created_by": "created_by",
    },
    RoleplaySession: {
        "session_id": "session_id", "scenario": "scenario_id", "character": "character_id",
        "user_id": "user_id", "status": "status", "start_time": "start_time",
        "end_time": "end_time", "total_duration": "total_duration",
        "conversation_history": "conversation_history", "voice_enabled": "voice_enabled",
        "metadata": "metadata",
    },
    SessionAnalytics: {
        "session_id": "session_id", "scenario": "scenario_id", "user_id": "user_id",
        "overall_score": "overall_score", "communication_score": "communication_score",
        "objection_handling_score": "objection_handling_score",
        "rapport_building_score": "rapport_building_score",
        "closing_technique_score": "closing_technique_score", "strengths": "strengths",
        "areas_for_improvement": "areas_for_improvement",
        "objections_encountered": "objections_encountered",
        "objections_handled_well": "objections_handled_well",
        "missed_opportunities": "missed_opportunities",
        "coaching_recommendations": "coaching_recommendations",
        "next_steps_suggestions": "next_steps_suggestions", "key_moments": "key_moments",
        "conversation_flow_analysis": "conversation_flow_analysis",
        "analyzed_at": "analyzed_at", "analysis_version": "analysis_version",
    },
    RoleplayTip: {
        "session_id": "session_id", "category": "category", "title": "title",
        "content": "content", "techniques": "techniques",
        "practice_scenarios": "practice_scenarios", "related_scenarios": "related_scenarios",
        "difficulty_level": "difficulty_level", "is_featured": "is_featured",
        "is_active": "is_active", "created_by": "created_by",
    },
}

# fields this package adds beside the mongoose schema (pause bookkeeping)
BOOKKEEPING = {
    RoleplaySession: {"paused_at": "paused_at", "paused_seconds": "paused_seconds",
                      "last_turn_at": "last_turn_at"},
}

NOW = object()  # a default of "the time of creation"

DEFAULTS = {
    Scenario: {"is_active": True, "created_by": "system"},
    Character: {"objections": [], "voice_id": None, "scenarios": [], "is_active": True,
                "created_by": "system"},
    RoleplaySession: {"character": None, "status": "active", "start_time": NOW, "end_time": None,
                      "total_duration": 0, "conversation_history": [], "voice_enabled": False},
    SessionAnalytics: {"analyzed_at": NOW, "analysis_version": "1.0", "key_moments": [],
                       **{name: [] for name in (
                           "strengths", "areas_for_improvement", "objections_encountered",
                           "objections_handled_well", "missed_opportunities",
                           "coaching_recommendations", "next_steps_suggestions")}},
    RoleplayTip: {"session_id": None, "techniques": [], "practice_scenarios": [],
                  "related_scenarios": [], "is_featured": False, "is_active": True,
                  "created_by": "system"},
}

REQUIRED_STRINGS = {
    Scenario: ["scenario_id", "title", "description", "llm_prompt"],
    Character: ["name", "role", "personality", "background"],
    RoleplaySession: ["session_id", "user_id"],
    SessionAnalytics: ["session_id", "user_id", "conversation_flow_analysis"],
    RoleplayTip: ["category", "title", "content", "difficulty_level"],
}

TRIMMED = {
    Scenario: ["title"],
    Character: ["name", "role"],
    RoleplayTip: ["title"],
}

TRIMMED_LISTS = {
    Character: ["objections"],
    SessionAnalytics: [
        "strengths", "areas_for_improvement", "objections_encountered",
        "objections_handled_well", "missed_opportunities", "coaching_recommendations",
        "next_steps_suggestions",
    ],
    RoleplayTip: ["techniques", "practice_scenarios"],
}

CHOICES = {
    (RoleplaySession, "status"): ("active", "completed", "paused", "ended"),
    (RoleplayTip, "category"): ("objection_handling", "rapport_building", "closing",
                                "discovery", "presentation"),
    (RoleplayTip, "difficulty_level"): ("beginner", "intermediate", "advanced"),
}

SCORES = ["overall_score", "communication_score", "objection_handling_score",
          "rapport_building_score", "closing_technique_score"]

# (model, attribute): declared indexes as stored keys
INDEXES = {
    Scenario: [([("scenario_id", 1)], True), ([("is_active", 1)], False)],
    Character: [([("scenario_ids", 1)], False), ([("is_active", 1)], False), ([("role", 1)], False)],
    RoleplaySession: [([("user_id", 1), ("createdAt", -1)], False), ([("session_id", 1)], True),
                      ([("status", 1)], False), ([("scenario_id", 1)], False)],
    SessionAnalytics: [([("user_id", 1), ("createdAt", -1)], False), ([("session_id", 1)], True),
                       ([("overall_score", -1)], False), ([("scenario_id", 1)], False)],
    RoleplayTip: [([("category", 1), ("difficulty_level", 1)], False),
                  ([("is_featured", 1), ("is_active", 1)], False), ([("createdAt", -1)], False),
                  ([("session_id", 1)], False)],
}
TEXT_INDEX = (Scenario, [("title", "text"), ("description", "text")])
