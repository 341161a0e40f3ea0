"""``SessionAnalytics.objects.average()`` / ``sum()`` answer on every server (in Python where
``$group`` cannot), and the summary names each scenario's title, on the real server."""

from __future__ import annotations

import dataclasses

import pytest
from mongoengine.errors import LookUpError

from roleplay_models import SessionAnalytics, server_facts
from roleplay_models.db import server

import builders


def grouped():
    return server_facts(SessionAnalytics._get_db().client).group_accumulators


def seed():
    scenario = builders.scenario().save()
    other = builders.scenario().save()
    for score, on, user in ((6, scenario, "rep-a"), (8.5, scenario, "rep-a"), (9, other, "rep-b")):
        builders.analytics(on, overall_score=score, user_id=user).save()
    return scenario, other


def test_average_and_sum_answer_and_follow_what_was_detected(log):
    seed()
    with log.recording():
        average = SessionAnalytics.objects.average("overall_score")
        total = SessionAnalytics.objects.sum("communication_score")
        mine = SessionAnalytics.objects.for_user("rep-a").average("overall_score")
    assert average == pytest.approx((6 + 8.5 + 9) / 3) and total == 24 and mine == 7.25
    if grouped():
        assert log.names == ["aggregate"] * 3
    else:  # a projection of that one field, read in Python
        assert log.names == ["find"] * 3
        assert [c["projection"] for c in log.commands] == [
            {"overall_score": 1, "_id": 0}, {"communication_score": 1, "_id": 0},
            {"overall_score": 1, "_id": 0}]
        assert log.commands[2]["filter"] == {"user_id": "rep-a"}


def test_what_the_server_would_answer_for_odd_stored_values(db):
    """Stored by another writer: a string, a boolean, null and a missing score count for
    nothing; no match is 0; matches without a number average to None, as $avg gives."""
    scenario, _ = seed()
    collection = SessionAnalytics._get_collection()
    for value in ("10", True, None):
        doc = builders.analytics(scenario, user_id="odd").save()
        collection.update_one({"_id": doc.pk}, {"$set": {"overall_score": value}})
    doc = builders.analytics(scenario, user_id="odd").save()
    collection.update_one({"_id": doc.pk}, {"$unset": {"overall_score": ""}})
    assert SessionAnalytics.objects.average("overall_score") == pytest.approx(23.5 / 3)
    assert SessionAnalytics.objects.sum("overall_score") == 23.5
    assert SessionAnalytics.objects.for_user("odd").average("overall_score") is None
    assert SessionAnalytics.objects.for_user("odd").sum("overall_score") == 0
    assert SessionAnalytics.objects.for_user("nobody").average("overall_score") == 0
    assert SessionAnalytics.objects.for_user("nobody").sum("overall_score") == 0


@pytest.mark.parametrize("field", ["$where", "nothing", "overall_score.$gt"])
def test_an_unknown_field_is_refused_before_anything_is_sent(log, field):
    seed()
    with log.recording():
        for aggregate in (SessionAnalytics.objects.average, SessionAnalytics.objects.sum):
            with pytest.raises(LookUpError, match="Cannot resolve field"):
                aggregate(field)
    assert log.names == []


def test_the_summary_names_each_scenario_with_one_query_for_the_titles(log):
    scenario, other = seed()
    with log.recording():
        summary = SessionAnalytics.objects.summary()
    assert [(e["scenario_id"], e["title"], e["count"]) for e in summary["by_scenario"]] == [
        (str(scenario.pk), scenario.title, 2), (str(other.pk), other.title, 1)]
    (titles,) = [c for c in log.commands if c.get("find") == "scenarios"]
    assert titles["projection"] == {"title": 1}
    assert sorted(titles["filter"]["_id"]["$in"]) == sorted([scenario.pk, other.pk])
    assert log.names == ["aggregate", "find"]


def test_a_deleted_scenario_has_no_title(db):
    scenario, other = seed()
    type(other)._get_collection().delete_one({"_id": other.pk})  # as another writer might
    by_id = {e["scenario_id"]: e for e in SessionAnalytics.objects.summary()["by_scenario"]}
    assert by_id[str(other.pk)]["title"] is None and by_id[str(scenario.pk)]["count"] == 2


def test_an_accumulator_the_server_does_not_implement_is_answered_in_python(log, monkeypatch):
    """Told that ``$group`` works, a server without ``$avg`` (FerretDB v1) answers code 238:
    the average is then read as a projection. A server with ``$avg`` answers it itself."""
    seed()
    client = SessionAnalytics._get_db().client
    facts = server_facts(client)
    monkeypatch.setitem(server._facts, id(client), dataclasses.replace(facts, group_accumulators=True))
    with log.recording():
        assert SessionAnalytics.objects.average("overall_score") == pytest.approx(23.5 / 3)
    assert log.names == (["aggregate"] if facts.group_accumulators else ["aggregate", "find"])
