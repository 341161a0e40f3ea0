"""SessionAnalytics: the scored analysis of one session (collection ``sessionanalytics``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from inspect import getattr_static
from typing import Any, ClassVar

from bson import ObjectId
from mongoengine import DENY
from mongoengine.base import BaseField
from mongoengine.errors import LookUpError
from mongoengine.fields import EmbeddedDocumentField, ListField
from pymongo.errors import OperationFailure

from ..db.server import server_facts
from ..errors import SessionNotFinished
from ..odm._mongoengine import query_filter
from ..odm.document import RoleplayDocument, RoleplayEmbeddedDocument
from ..odm.fast_paths import EmbeddedListField
from ..odm.fields import (
    NumberField,
    ObjectIdField,
    ReferenceField,
    TextField,
    TrimmedTextListField,
    UTCDateTimeField,
    utc_now,
)
from ..odm.queryset import PerSessionQuerySet
from .scenario import Scenario
from .statuses import FINAL_STATUSES

__all__ = ("KeyMoment", "SessionAnalytics", "SessionAnalyticsQuerySet", "SCORE_FIELDS")

COPIED_FROM_SESSION = ("session_id", "scenario", "user_id")

#: The five scores of an analysis, each from 1 to 10.
SCORE_FIELDS = (
    "overall_score",
    "communication_score",
    "objection_handling_score",
    "rapport_building_score",
    "closing_technique_score",
)

# One batch for the whole result, so that the summary stays one round trip.
SUMMARY_BATCH = 1_000_000
# The server's answer to an accumulator it lacks ($avg on FerretDB v1).
NOT_IMPLEMENTED = 238
_MISSING = object()


def _summary_pipeline(match: dict[str, Any], group_accumulators: bool) -> list[dict[str, Any]]:
    """The aggregation behind ``summary()``.

    Where ``$group`` computes several accumulators (MongoDB), the server groups
    by scenario: the count, the best overall score and the sum of each score.
    FerretDB v1 feeds a group's documents to its first accumulator only, so
    there it returns just the six fields of each analysis in one batch, and
    Python adds them up (see :func:`_as_groups`).
    """
    matched = [{"$match": match}] if match else []  # a server may copy every document for {}
    if not group_accumulators:
        return [*matched,
                {"$project": {"_id": 0, "scenario_id": 1, **dict.fromkeys(SCORE_FIELDS, 1)}}]
    group = {"_id": "$scenario_id", "n": {"$sum": 1}, "best": {"$max": "$overall_score"},
             **{name: {"$sum": f"${name}"} for name in SCORE_FIELDS}}
    return [*matched, {"$group": group}]


def _as_groups(rows: Iterable[dict[str, Any]], group_accumulators: bool) -> Iterable[dict[str, Any]]:
    """Rows of either pipeline as per-scenario groups: ``_id``, ``n``, ``best`` and sums."""
    if group_accumulators:
        return rows
    return (
        {"_id": row.get("scenario_id"), "n": 1, "best": row["overall_score"],
         **{name: row[name] for name in SCORE_FIELDS}}
        for row in rows
    )


def _summarize(groups: Iterable[dict[str, Any]],
               titles: Callable[[list[Any]], Mapping[Any, Any]]) -> dict[str, Any]:
    """The summary of per-scenario groups; ``titles`` gives the title of each scenario id
    asked (None for one that does not exist)."""
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
    found = titles([scenario for scenario in per_scenario if scenario is not None])
    by_scenario: list[dict[str, Any]] = [
        {"scenario_id": str(scenario), "title": found.get(scenario), "count": n,
         "average_overall_score": total / n}
        for scenario, (n, total) in per_scenario.items()
    ]
    by_scenario.sort(key=lambda entry: (-entry["count"], entry["scenario_id"]))
    return {
        "count": count,
        "averages": {name: (sums[name] / count if count else None) for name in SCORE_FIELDS},
        "best_overall_score": best,
        "by_scenario": by_scenario,
    }


def scenario_titles(ids: list[Any]) -> dict[Any, Any]:
    """The stored title of each Scenario ``_id`` in ``ids`` that exists: one query reading
    only titles, none for no ids."""
    if not ids:
        return {}
    found = Scenario._get_collection().find({"_id": {"$in": ids}}, {"title": 1})
    return {doc["_id"]: doc.get("title") for doc in found}


def _stored_path(document: type, field: str) -> tuple[str, bool]:
    """The stored path of ``field`` (dot notation through embedded documents, as mongoengine
    takes it) and whether it names a list; anything else is mongoengine's LookUpError."""
    cls: Any = document
    stored = []
    found: Any = None
    for part in field.split("."):
        # static: a manager such as ``objects`` would connect when read
        found = getattr_static(cls, part, None) if cls is not None and part else None
        if not isinstance(found, BaseField):
            raise LookUpError(f"Cannot resolve field {part!r} of {field!r}")
        stored.append(found.db_field)
        inner = found.field if isinstance(found, ListField) else found
        cls = inner.document_type if isinstance(inner, EmbeddedDocumentField) else None
    return ".".join(stored), isinstance(found, ListField)


def _at(value: Any, parts: list[str]) -> Any:
    """The value at a stored path as an aggregation's ``"$a.b"`` reads it: through a list,
    the list of what each item holds there; ``_MISSING`` where there is nothing."""
    for i, part in enumerate(parts):
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif isinstance(value, list):
            inside = (_at(item, parts[i:]) for item in value if isinstance(item, dict))
            return [item for item in inside if item is not _MISSING]
        else:
            return _MISSING
    return value


def _grouped_values(queryset: Any, field: str) -> list[Any]:
    """What mongoengine's ``sum()`` / ``average()`` feed to their ``$group``, read with a
    projection of that one field: a value per match, or per item for a list field."""
    path, is_list = _stored_path(queryset._document, field)
    rows = queryset._document._get_collection().find(
        query_filter(queryset), {path: 1} if path == "_id" else {path: 1, "_id": 0})
    values: list[Any] = []
    for row in rows:
        value = _at(row, path.split("."))
        if not is_list:
            values.append(value)
        elif isinstance(value, list):  # $unwind: each item, none for an empty list
            values.extend(value)
        elif value is not _MISSING and value is not None:
            values.append(value)
    return values


def _numbers(values: list[Any]) -> list[int | float]:
    """The values ``$sum`` and ``$avg`` count: ints and floats, not booleans."""
    return [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


class SessionAnalyticsQuerySet(PerSessionQuerySet["SessionAnalytics"]):
    """Queries the analytics routes make (``for_user``, ``for_session``, ``summary``)."""

    def summary(self, user_id: str | None = None) -> dict[str, Any]:
        """Count, the average of each score, the best overall score, and per scenario its
        id, title, count and average overall score: one aggregation round trip, and one
        query reading the titles of the scenarios found.

        Grouped on the server where ``$group`` works, added up in Python on
        FerretDB v1 (see :func:`_summary_pipeline`). Averages are None when
        nothing matches.
        """
        query = self.for_user(user_id) if user_id is not None else self
        facts = server_facts(self._document._get_db().client)
        pipeline = _summary_pipeline(query_filter(query), facts.group_accumulators)
        rows = self._document._get_collection().aggregate(pipeline, batchSize=SUMMARY_BATCH)
        return _summarize(_as_groups(rows, facts.group_accumulators), scenario_titles)

    def _grouped_on_server(self, field: str) -> bool:
        _stored_path(self._document, field)  # the same LookUpError on every server
        return server_facts(self._document._get_db().client).group_accumulators

    def sum(self, field: str) -> Any:
        """mongoengine's ``sum()`` of ``field`` over the matches (0 for none), with the same
        answer on every server: where ``$group`` computes several accumulators it sums, else
        (FerretDB v1), or when the server answers NotImplemented, Python adds up a projection
        of that one field. An unknown field is mongoengine's LookUpError."""
        if self._grouped_on_server(field):
            try:
                return super().sum(field)
            except OperationFailure as err:
                if err.code != NOT_IMPLEMENTED:
                    raise
        return sum(_numbers(_grouped_values(self, field)))

    def average(self, field: str) -> Any:
        """mongoengine's ``average()`` of ``field`` over the matches, with the same answer on
        every server: 0 when nothing matches, None when no match holds a number. Where the
        server lacks ``$avg`` (FerretDB v1), or answers NotImplemented, Python averages a
        projection of that one field. An unknown field is mongoengine's LookUpError."""
        if self._grouped_on_server(field):
            try:
                return super().average(field)
            except OperationFailure as err:
                if err.code != NOT_IMPLEMENTED:
                    raise
        values = _grouped_values(self, field)
        numbers = _numbers(values)
        if not values:
            return 0
        return sum(numbers) / len(numbers) if numbers else None


def _score() -> NumberField[float]:
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
    def record(cls, session: RoleplayDocument, **scores_and_findings: Any) -> SessionAnalytics:
        """Save the analysis of a finished :class:`~roleplay_models.RoleplaySession` (typed
        as its base class here: the session module reads its analysis, so it imports this
        one, not the other way round), copying its id, scenario and user.

        Refused with :class:`SessionNotFinished` unless the session is
        completed or ended (as stored now), and with NotUniqueError when the
        session already has an analysis. ``key_moments`` may be given as
        KeyMoment objects or as dicts.
        """
        finished: Any = session  # a RoleplaySession, as the docstring says
        given = sorted(set(scores_and_findings) & set(COPIED_FROM_SESSION))
        if given:
            raise TypeError(f"record() copies {', '.join(given)} from the session; do not pass them")
        if session.pk is None:
            raise ValueError("the session has not been saved")
        status = type(session).objects(pk=session.pk).scalar("status").first()
        if status not in FINAL_STATUSES:
            raise SessionNotFinished(
                f"session {finished.session_id} is {status}; analyse it once it is completed or ended"
            )
        moments = scores_and_findings.pop("key_moments", [])
        if isinstance(moments, list):
            moments = [KeyMoment(**m) if isinstance(m, dict) else m for m in moments]
        analysis = cls(
            session_id=finished.session_id,
            scenario=finished.scenario,
            user_id=finished.user_id,
            key_moments=moments,
            **scores_and_findings,
        )
        return analysis.save(force_insert=True)
