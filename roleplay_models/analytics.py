"""SessionAnalytics: the scored analysis of one session (collection ``sessionanalytics``)."""

from __future__ import annotations

from bson import ObjectId
from mongoengine import DENY
from mongoengine.fields import EmbeddedDocumentField, ListField, ObjectIdField, ReferenceField

from .document import RoleplayDocument, RoleplayEmbeddedDocument
from .fields import NumberField, TextField, UTCDateTimeField, utc_now
from .scenario import Scenario

__all__ = ("KeyMoment", "SessionAnalytics", "SCORE_FIELDS")

SCORE_FIELDS = (
    "overall_score",
    "communication_score",
    "objection_handling_score",
    "rapport_building_score",
    "closing_technique_score",
)


def _score() -> NumberField:
    return NumberField(required=True, min_value=1, max_value=10)


def _findings() -> ListField:
    return ListField(TextField(trim=True))


class KeyMoment(RoleplayEmbeddedDocument):
    """A moment of the call that moved the score, at a ``"mm:ss"`` timestamp."""

    id = ObjectIdField(db_field="_id", default=ObjectId)
    timestamp = TextField(required=True)
    description = TextField(required=True)
    score_impact = NumberField(min_value=-10, max_value=10, default=0)


class SessionAnalytics(RoleplayDocument):
    """Scores (1 to 10) and coaching findings for one finished session."""

    session_id = TextField(required=True, unique=True)
    scenario = ReferenceField(
        Scenario, required=True, db_field="scenario_id", reverse_delete_rule=DENY
    )
    user_id = TextField(required=True)
    overall_score = _score()
    communication_score = _score()
    objection_handling_score = _score()
    rapport_building_score = _score()
    closing_technique_score = _score()
    strengths = _findings()
    areas_for_improvement = _findings()
    objections_encountered = _findings()
    objections_handled_well = _findings()
    missed_opportunities = _findings()
    coaching_recommendations = _findings()
    next_steps_suggestions = _findings()
    key_moments = ListField(EmbeddedDocumentField(KeyMoment))
    conversation_flow_analysis = TextField(required=True)
    analyzed_at = UTCDateTimeField(default=utc_now)
    analysis_version = TextField(default="1.0")

    meta = {
        "collection": "sessionanalytics",
        "indexes": [
            ("user_id", "-created_at"),
            {"fields": ["session_id"], "unique": True},
            "-overall_score",
            "scenario",
        ],
    }
