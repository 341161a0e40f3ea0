"""Both summary pipelines (grouped on the server, or projected for FerretDB v1), and the
sum and average computed in Python where a server cannot, against mongomock's own, embedded."""

from __future__ import annotations

import random

import pytest
from mongoengine.errors import LookUpError

from roleplay_models import SCORE_FIELDS, Scenario, SessionAnalytics
from roleplay_models.models.analytics import (
    _MISSING,
    _as_groups,
    _at,
    _grouped_values,
    _numbers,
    _stored_path,
    _summarize,
    _summary_pipeline,
    scenario_titles,
)

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
    summary = _summarize(_as_groups(rows, group_accumulators), scenario_titles)
    assert summary["count"] == 40
    for name in SCORE_FIELDS:
        assert summary["averages"][name] == pytest.approx(
            sum(getattr(a, name) for a in analyses) / 40)
    assert summary["best_overall_score"] == max(a.overall_score for a in analyses)
    titles = {str(s.pk): s.title for s in scenarios}
    for entry in summary["by_scenario"]:
        mine = [a.overall_score for a in analyses if str(a.scenario.pk) == entry["scenario_id"]]
        assert entry["count"] == len(mine)
        assert entry["average_overall_score"] == pytest.approx(sum(mine) / len(mine))
        assert entry["title"] == titles[entry["scenario_id"]]


def test_a_scenario_gone_has_no_title_and_no_ids_ask_nothing(embedded):
    kept, gone = builders.scenario().save(), builders.scenario().save()
    assert scenario_titles([]) == {}
    assert scenario_titles([kept.pk, gone.pk]) == {kept.pk: kept.title, gone.pk: gone.title}
    Scenario._get_collection().delete_one({"_id": gone.pk})
    assert scenario_titles([kept.pk, gone.pk]) == {kept.pk: kept.title}


def test_stored_paths_are_the_stored_names_through_embedded_documents():
    assert _stored_path(SessionAnalytics, "overall_score") == ("overall_score", False)
    assert _stored_path(SessionAnalytics, "scenario") == ("scenario_id", False)
    assert _stored_path(SessionAnalytics, "key_moments") == ("key_moments", True)
    assert _stored_path(SessionAnalytics, "key_moments.score_impact") == (
        "key_moments.score_impact", False)
    assert _stored_path(SessionAnalytics, "strengths") == ("strengths", True)


@pytest.mark.parametrize("field", ["no_such_field", "$where", "objects", "save", "overall_score.x",
                                   "", "key_moments.", "key_moments.nothing"])
def test_an_unknown_field_is_a_lookup_error_naming_it(field):
    with pytest.raises(LookUpError, match="Cannot resolve field"):
        _stored_path(SessionAnalytics, field)


def test_values_are_read_as_an_aggregation_reads_a_path():
    assert _at({"a": 1}, ["a"]) == 1
    assert _at({}, ["a"]) is _MISSING
    assert _at({"a": 1}, ["a", "b"]) is _MISSING
    assert _at({"a": [{"b": 1}, {"c": 2}, 3, {"b": [4]}]}, ["a", "b"]) == [1, [4]]
    assert _numbers([1, 2.5, True, None, "3", [4], _MISSING]) == [1, 2.5]


def value_sets(rng):
    """Stored values a score field might hold in a shared database: numbers, and the odd
    string, null or missing key. (Not a boolean: mongomock adds True as 1, which MongoDB's
    ``$sum`` does not; the real servers' tests cover that.)"""
    choices = [1, 2, 7.5, 10, 3.25, "8", None, _MISSING]
    return [rng.choice(choices) for _ in range(rng.randrange(0, 8))]


@pytest.mark.parametrize("seed", range(25))
def test_python_sum_and_average_equal_the_servers(embedded, seed):
    """mongomock runs mongoengine's own ``$group``: the Python fold must give what it gives,
    for any mix of stored values, including no match and no number at all."""
    rng = random.Random(seed)
    scenario = builders.scenario().save()
    collection = SessionAnalytics._get_collection()
    for value in value_sets(rng):
        analysis = builders.analytics(scenario).save()
        change = ({"$unset": {"overall_score": ""}} if value is _MISSING
                  else {"$set": {"overall_score": value}})
        collection.update_one({"_id": analysis.pk}, change)
    query = SessionAnalytics.objects
    values = _grouped_values(query, "overall_score")
    numbers = _numbers(values)
    server_sum, server_average = query.sum("overall_score"), query.average("overall_score")
    assert sum(numbers) == server_sum
    python_average = (sum(numbers) / len(numbers) if numbers else None) if values else 0
    assert python_average == pytest.approx(server_average) if numbers else (
        python_average == server_average)


def test_a_list_field_is_unwound_as_mongoengine_does(embedded):
    scenario = builders.scenario().save()
    for moments in ([], [{"timestamp": "00:01", "description": "d", "score_impact": 2}],
                    [{"timestamp": "00:02", "description": "d", "score_impact": -1},
                     {"timestamp": "00:03", "description": "d", "score_impact": 4}]):
        builders.analytics(scenario, key_moments=moments).save()
    values = _grouped_values(SessionAnalytics.objects, "key_moments")
    assert [v["score_impact"] for v in values] == [2, -1, 4]
    assert _grouped_values(SessionAnalytics.objects, "key_moments.score_impact") == [
        [], [2], [-1, 4]]  # arrays: not numbers to $sum, as on the server
    assert SessionAnalytics.objects.sum("key_moments.score_impact") == 0
