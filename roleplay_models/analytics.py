"""SessionAnalytics: the scored analysis of one session (collection ``sessionanalytics``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId
from mongoengine import DENY
from mongoengine.fields import EmbeddedDocumentField, ListField, ObjectIdField, ReferenceField

from .document import RoleplayDocument, RoleplayEmbeddedDocument
from .errors import SessionNotFinished
from .fields import NumberField, TextField, UTCDateTimeField, utc_now
from .scenario import Scenario

if TYPE_CHECKING:
    from .session import RoleplaySession

__all__ = ("KeyMoment", "SessionAnalytics", "SCORE_FIELDS")

COPIED_FROM_SESSION = ("session_id", "scenario", "user_id")

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

    @classmethod
    def record(cls, session: RoleplaySession, **scores_and_findings: Any) -> SessionAnalytics:
        """Save the analysis of a finished session, copying its id, scenario and user.

        Refused with :class:`SessionNotFinished` unless the session is
        completed or ended (as stored now), and with NotUniqueError when the
        session already has an analysis. ``key_moments`` may be given as
        KeyMoment objects or as dicts.
        """
        given = sorted(set(scores_and_findings) & set(COPIED_FROM_SESSION))
        if given:
            raise TypeError(f"record() copies {', '.join(given)} from the session; do not pass them")
        if session.pk is None:
            raise ValueError("the session has not been saved")
        status = type(session).objects(pk=session.pk).scalar("status").first()
        if status not in ("completed", "ended"):
            raise SessionNotFinished(
                f"session {session.session_id} is {status}; analyse it once it is completed or ended"
            )
        moments = scores_and_findings.pop("key_moments", [])
        if isinstance(moments, list):
            moments = [KeyMoment(**m) if isinstance(m, dict) else m for m in moments]
        analysis = cls(
            session_id=session.session_id,
            scenario=session.scenario,
            user_id=session.user_id,
            key_moments=moments,
            **scores_and_findings,
        )
        return analysis.save(force_insert=True)
