"""Both summary pipelines (grouped on the server, or projected for FerretDB v1), embedded."""

from __future__ import annotations

import random

import pytest

from roleplay_models import SCORE_FIELDS, SessionAnalytics
from roleplay_models.models.analytics import _as_groups, _summarize, _summary_pipeline

import builders


@pytest.mark.parametrize("group_accumulators", [True, False])
def test_both_pipelines_give_the_python_figures(embedded, group_accumulators):
    rng = random.Random(3)
    scenarios = [builders.scenario().save() for _ in range(3)]
    analyses = [
        builders.analytics(rng.choice(scenarios), **{n: rng.choice([1, 4.5, 6, 9.5, 10])
                                                     for n in SCORE_FIELDS}).save()
        for _ in range(40)
    ]
    rows = list(SessionAnalytics._get_collection().aggregate(
        _summary_pipeline({}, group_accumulators)))
    summary = _summarize(_as_groups(rows, group_accumulators))
    assert summary["count"] == 40
    for name in SCORE_FIELDS:
        assert summary["averages"][name] == pytest.approx(
            sum(getattr(a, name) for a in analyses) / 40)
    assert summary["best_overall_score"] == max(a.overall_score for a in analyses)
    for entry in summary["by_scenario"]:
        mine = [a.overall_score for a in analyses if str(a.scenario.pk) == entry["scenario_id"]]
        assert entry["count"] == len(mine)
        assert entry["average_overall_score"] == pytest.approx(sum(mine) / len(mine))
