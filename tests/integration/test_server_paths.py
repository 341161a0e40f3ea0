"""The package takes the paths the connected server allows, proven by the commands it sends."""

from __future__ import annotations

import dataclasses

import pytest
from bson import ObjectId
from pymongo.errors import OperationFailure

from roleplay_models import RoleplaySession, Scenario, SessionAnalytics, server_facts
from roleplay_models.db import server
from roleplay_models.db.locks import LEASE_COLLECTION

import builders


def lease_commands(log):
    return [c for c in log.commands if LEASE_COLLECTION in (c.get("insert"), c.get("delete"))]


def detected():
    return server_facts(RoleplaySession._get_db().client)


def test_the_package_detects_what_the_server_can_do(log, expected_capabilities):
    facts = detected()
    found = {name: getattr(facts, name) for name in expected_capabilities}
    assert found == expected_capabilities, facts.describe()


# The tests below check that each path follows what was detected, on whatever server this is;
# the test above checks what was detected.

def test_ne_through_an_array_is_detected_as_the_server_reads_it(db):
    # MongoDB documents {"a.b": {"$ne": x}} as "no element of a has b equal to x"; a turn's
    # filter relies on that only where it was detected
    collection = db["ne_through_arrays"]
    collection.drop()
    held, other = ObjectId(), ObjectId()
    collection.insert_many([{"n": 2, "a": [{"b": held}, {"b": other}]},
                            {"n": 1, "a": [{"b": other}]}, {"n": 0, "a": []}, {"n": -1}])
    without = sorted(doc["n"] for doc in collection.find({"$nor": [{"a.b": held}]}))
    read_as_documented = sorted(doc["n"] for doc in collection.find({"a.b": {"$ne": held}}))
    assert without == [-1, 0, 1]
    assert (read_as_documented == without) is detected().ne_through_arrays


def test_a_turn_is_checked_not_stored_by_ne_exactly_where_the_server_reads_it(log):
    session = RoleplaySession.start(builders.scenario().save(), "rep")
    with log.recording():
        entry = session.add_turn("user", "Hello")
    (update,) = [c for c in log.commands if "update" in c][0]["updates"]
    not_stored = {key: update["q"].get(key) for key in ("conversation_history._id", "$nor")}
    assert not_stored == ({"conversation_history._id": {"$ne": entry.id}, "$nor": None}
                          if detected().ne_through_arrays else
                          {"conversation_history._id": None,
                           "$nor": [{"conversation_history._id": entry.id}]})


def test_session_writes_are_lock_free_exactly_where_updates_are_atomic(log):
    session = RoleplaySession.start(builders.scenario().save(), "rep")
    atomic = detected().atomic_updates
    with log.recording():
        session.add_turn("user", "Hello")
        session.end()
    updates = [c for c in log.commands if "update" in c]
    assert len(updates) == 2
    if atomic:
        assert log.names == ["update", "update"]  # one conditional update each, nothing else
    else:
        assert len(lease_commands(log)) == 4  # a lease taken and given back around each


def test_the_summary_is_grouped_on_the_server_exactly_where_group_works(log):
    scenario = builders.scenario().save()
    for score in (6, 8):
        builders.analytics(scenario, overall_score=score).save()
    grouped = detected().group_accumulators
    with log.recording():
        summary = SessionAnalytics.objects.summary()
        mine = SessionAnalytics.objects.summary(user_id="user-1")
    assert summary["count"] == mine["count"] == 2
    assert summary["averages"]["overall_score"] == 7
    every, matched = ([next(iter(stage)) for stage in command["pipeline"]]
                      for command in log.commands if "aggregate" in command)
    last = "$group" if grouped else "$project"
    assert (every, matched) == ([last], ["$match", last])  # no $match when all are asked


def test_counts_follow_whether_the_server_counts_from_metadata(log):
    # FerretDB v1 reads every document for the count command, and answers the aggregate of
    # count_documents sooner; MongoDB answers the command from the collection's metadata
    info = RoleplaySession._get_db().client.admin.command("buildInfo")
    assert detected().metadata_counts is not server._ferretdb_before_2(info)
    scenario = builders.scenario().save()
    for user in ("rep-1", "rep-2"):
        RoleplaySession.start(scenario, user)
    sessions = RoleplaySession.objects
    with log.recording():
        counted = [sessions.count(), sessions.for_user("rep-1").count(),
                   sessions.newest_first().api_page(1, 1).total]
        # emptied: 0, as mongoengine answers, without a command or building the filter
        emptied = [sessions(no_such_field=1).none().count(),
                   sessions(no_such_field=1).limit(0).count()]
    assert counted == [2, 1, 2] and emptied == [0, 0]
    whole = "count" if detected().metadata_counts else "aggregate"
    assert log.names == [whole, "aggregate", whole, "find", "find"]


def test_start_with_a_loaded_scenario_is_one_round_trip(log):
    scenario = builders.scenario().save()
    loaded = type(scenario).objects.get(pk=scenario.pk)
    with log.recording():
        RoleplaySession.start(loaded, "rep")
    assert log.names == ["insert"]


def test_a_live_session_is_loaded_without_its_history_and_turns_stay_cheap(log):
    session = RoleplaySession.start(builders.scenario().save(), "rep")
    for n in range(5):
        session.add_turn("user", f"turn {n}")
    with log.recording():
        live = RoleplaySession.objects.live(session.session_id)
        live.add_turn("assistant", "Go on.")
        live.pause()
    (find,) = [c for c in log.commands if c.get("find") == "roleplaysessions"]
    assert find["projection"] == {"conversation_history": 0}
    updates = [c for c in log.commands if c.get("update") == "roleplaysessions"]
    assert len(updates) == 2
    # the updates' filters alone decide, checked by the server as it applies each one
    assert [c for c in log.commands if c.get("aggregate") == "roleplaysessions"] == []
    assert all(u["q"]["_id"] == session.pk and len(u["q"]) > 1
               for c in updates for u in c["updates"])
    stored = RoleplaySession.objects(pk=session.pk).api_dicts()[0]
    assert [t["text"] for t in stored["conversation_history"]][-2:] == ["turn 4", "Go on."]
    assert stored["status"] == "paused" and live.status == "paused"
    with pytest.raises(ValueError, match="no history"):
        live.to_api_dict()


def test_a_text_search_asks_for_every_stored_field_and_the_score(log, monkeypatch):
    """The $text path's find, as sent: on a server without $text it is sent all the same (the
    facts say otherwise here) and refused there; where $text runs, it answers in full."""
    facts = detected()
    client = Scenario._get_db().client
    monkeypatch.setitem(server._facts, id(client), dataclasses.replace(facts, text_search=True))
    scenario = builders.scenario(title="Cold call", description="Budget talk").save()
    with log.recording():
        try:
            found = list(Scenario.objects.active().search("budget"))
        except OperationFailure:
            assert not facts.text_search
        else:
            assert facts.text_search
            assert [(s.pk, s.title, s.llm_prompt) for s in found] == [
                (scenario.pk, "Cold call", scenario.llm_prompt)]
    (find,) = [c for c in log.commands if c.get("find") == "scenarios"]
    assert find["filter"] == {"$text": {"$search": "budget"}, "is_active": True}
    stored = {field.db_field for field in Scenario._fields.values()}
    assert find["projection"] == {**dict.fromkeys(stored, 1), "_text_score": {"$meta": "textScore"}}
    assert find["sort"] == {"_text_score": {"$meta": "textScore"}}


def test_a_search_without_text_search_is_a_literal_match_sending_no_projection(log):
    if detected().text_search:
        pytest.skip("the server runs $text: the search takes the text path")
    builders.scenario(title="Cold call (CFO)", description="Budget talk").save()
    with log.recording():
        found = list(Scenario.objects.search("(cfo)"))
    assert [s.title for s in found] == ["Cold call (CFO)"]
    (find,) = [c for c in log.commands if c.get("find") == "scenarios"]
    assert "projection" not in find and "sort" not in find
    assert [list(clause) for clause in find["filter"]["$or"]] == [["title"], ["description"]]
