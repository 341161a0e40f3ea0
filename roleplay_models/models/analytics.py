"""SessionAnalytics: the scored analysis of one session (collection ``sessionanalytics``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, ClassVar

from bson import ObjectId
from mongoengine import DENY
from mongoengine.fields import ObjectIdField, ReferenceField

from ..db.server import server_facts
from ..errors import SessionNotFinished
from ..odm._mongoengine import query_filter
from ..odm.document import RoleplayDocument, RoleplayEmbeddedDocument
from ..odm.fast_paths import EmbeddedListField
from ..odm.fields import NumberField, TextField, TrimmedTextListField, UTCDateTimeField, utc_now
from ..odm.queryset import PerSessionQuerySet
from .scenario import Scenario
from .session import FINAL_STATUSES, RoleplaySession

__all__ = ("KeyMoment", "SessionAnalytics", "SessionAnalyticsQuerySet", "SCORE_FIELDS")

COPIED_FROM_SESSION = ("session_id", "scenario", "user_id")

SCORE_FIELDS = (
    "overall_score",
    "communication_score",
    "objection_handling_score",
    "rapport_building_score",
    "closing_technique_score",
)

# One batch for the whole result, so that the summary stays one round trip.
SUMMARY_BATCH = 1_000_000


def _summary_pipeline(match: dict[str, Any], group_accumulators: bool) -> list[dict[str, Any]]:
    """The aggregation behind ``summary()``.

    Where ``$group`` computes several accumulators (MongoDB), the server groups
    by scenario: the count, the best overall score and the sum of each score.
    FerretDB v1 feeds a group's documents to its first accumulator only, so
    there it returns just the six fields of each analysis in one batch, and
    Python adds them up (see :func:`_as_groups`).
    """
    if not group_accumulators:
        return [{"$match": match},
                {"$project": {"_id": 0, "scenario_id": 1, **dict.fromkeys(SCORE_FIELDS, 1)}}]
    group = {"_id": "$scenario_id", "n": {"$sum": 1}, "best": {"$max": "$overall_score"},
             **{name: {"$sum": f"${name}"} for name in SCORE_FIELDS}}
    return [{"$match": match}, {"$group": group}]


def _as_groups(rows: Iterable[dict[str, Any]], group_accumulators: bool) -> Iterable[dict[str, Any]]:
    """Rows of either pipeline as per-scenario groups: ``_id``, ``n``, ``best`` and sums."""
    if group_accumulators:
        return rows
    return (
        {"_id": row.get("scenario_id"), "n": 1, "best": row["overall_score"],
         **{name: row[name] for name in SCORE_FIELDS}}
        for row in rows
    )


def _summarize(groups: Iterable[dict[str, Any]]) -> dict[str, Any]:
    count = 0
    sums = dict.fromkeys(SCORE_FIELDS, 0.0)
    best = None
    per_scenario: dict[Any, list[float]] = defaultdict(lambda: [0, 0.0])
    for group in groups:
        n = group["n"]
        count += n
        for name in SCORE_FIELDS:
            sums[name] += group[name]
        best = group["best"] if best is None else max(best, group["best"])
        per_scenario[group["_id"]][0] += n
        per_scenario[group["_id"]][1] += group["overall_score"]
    by_scenario: list[dict[str, Any]] = [
        {"scenario_id": str(scenario), "count": n, "average_overall_score": total / n}
        for scenario, (n, total) in per_scenario.items()
    ]
    by_scenario.sort(key=lambda entry: (-entry["count"], entry["scenario_id"]))
    return {
        "count": count,
        "averages": {name: (sums[name] / count if count else None) for name in SCORE_FIELDS},
        "best_overall_score": best,
        "by_scenario": by_scenario,
    }


class SessionAnalyticsQuerySet(PerSessionQuerySet):
    """Queries the analytics routes make (``for_user``, ``for_session``, ``summary``)."""

    def summary(self, user_id: Any = None) -> dict[str, Any]:
        """Count, the average of each score, the best overall score, and per scenario the
        count and average overall score, in one aggregation round trip.

        Grouped on the server where ``$group`` works, added up in Python on
        FerretDB v1 (see :func:`_summary_pipeline`). Averages are None when
        nothing matches.
        """
        query = self.for_user(user_id) if user_id is not None else self
        facts = server_facts(self._document._get_db().client)
        pipeline = _summary_pipeline(query_filter(query), facts.group_accumulators)
        rows = self._document._get_collection().aggregate(pipeline, batchSize=SUMMARY_BATCH)
        return _summarize(_as_groups(rows, facts.group_accumulators))


def _score() -> NumberField:
    return NumberField(required=True, min_value=1, max_value=10)


def _findings() -> TrimmedTextListField:
    return TrimmedTextListField()


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
    key_moments = EmbeddedListField(KeyMoment)
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
        "queryset_class": SessionAnalyticsQuerySet,
    }

    api_references = {"scenario": ("scenario_id", "title", "description")}
    objects: ClassVar[SessionAnalyticsQuerySet]

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
        if status not in FINAL_STATUSES:
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
