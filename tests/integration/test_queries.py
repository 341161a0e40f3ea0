"""The query helpers the ten routes stand on, against seeded data on the real server."""

from __future__ import annotations

import json
import random

import pytest
from pymongo.errors import OperationFailure

import roleplay_models
from roleplay_models import (
    Character,
    ConversationEntry,
    InvalidFilter,
    RoleplaySession,
    RoleplayTip,
    Scenario,
    SessionAnalytics,
)
from roleplay_models.db.server import server_facts
from roleplay_models.odm.fast_paths import is_built
from roleplay_models.odm.stored_bson import ReadDocument
from roleplay_models.testing import CommandLog

import builders


@pytest.fixture
def seeded(db):
    rng = random.Random(7)
    cold = builders.scenario(title="Cold call to a CFO", description="Budget objections").save()
    demo = builders.scenario(title="Product demo", description="Show the dashboard").save()
    builders.scenario(title="Retired drill", description="Old", is_active=False).save()
    characters = [
        builders.character([cold], name="Dana", role="Chief Financial Officer").save(),
        builders.character([cold, demo], name="Sam", role="IT manager").save(),
        builders.character([demo], name="Lee", role="cfo (acting)", is_active=False).save(),
        builders.character([demo], name="Max", role="VP.*Sales").save(),
    ]
    sessions = []
    for i in range(12):
        user = "rep-a" if i % 3 else "rep-b"
        session = builders.session(
            [cold, demo][i % 2], user_id=user, character=characters[i % 2],
            status=["active", "completed", "paused", "ended"][i % 4]).save()
        sessions.append(session)
    analyses = []
    for session in sessions:
        if session.status in ("completed", "ended"):
            scores = {name: rng.choice([1, 2.5, 5, 7.5, 8, 10]) for name in roleplay_models.SCORE_FIELDS}
            analyses.append(builders.analytics(session.scenario, session_id=session.session_id,
                                               user_id=session.user_id, **scores).save())
    tips = [
        builders.tip(category="closing", difficulty_level="beginner", is_featured=True,
                     related_scenarios=[cold]).save(),
        builders.tip(category="closing", difficulty_level="advanced",
                     session_id=sessions[1].session_id).save(),
        builders.tip(category="discovery", difficulty_level="beginner",
                     related_scenarios=[cold, demo]).save(),
        builders.tip(category="discovery", difficulty_level="beginner", is_active=False).save(),
    ]
    return {"scenarios": (cold, demo), "characters": characters, "sessions": sessions,
            "analyses": analyses, "tips": tips}


def ids(documents):
    return [d.pk for d in documents]


def test_active_scenarios_and_search(seeded):
    assert Scenario.objects.active().count() == 2
    cold, demo = seeded["scenarios"]
    assert ids(Scenario.objects.active().search("budget")) == [cold.pk]
    assert set(ids(Scenario.objects.search("DASHBOARD cfo"))) == {cold.pk, demo.pk}
    assert list(Scenario.objects.search("(.*)")) == []


@pytest.mark.needs("text_search")
def test_search_uses_text_search_where_the_server_has_it(seeded):
    cold, demo = seeded["scenarios"]
    found = list(Scenario.objects.search("budget objections"))
    assert ids(found) == [cold.pk] and found[0].get_text_score() > 0
    as_found = {k: v for k, v in found[0].to_mongo().items() if k != "_text_score"}
    assert as_found == Scenario.objects.get(pk=cold.pk).to_mongo().to_dict()
    assert Scenario.objects.search("budget").api_dicts()[0]["title"] == "Cold call to a CFO"


@pytest.mark.needs("text_search")
def test_a_text_search_result_saved_keeps_the_keys_mongoose_wrote(seeded):
    cold, _ = seeded["scenarios"]
    collection = Scenario._get_collection()
    collection.update_one({"_id": cold.pk}, {"$set": {"__v": 0, "tags": ["finance"]}})
    (found,) = Scenario.objects.search("budget objections")
    found.title = "Cold call to a CFO, again"
    found.save()
    stored = collection.find_one({"_id": cold.pk})
    assert stored["__v"] == 0 and stored["tags"] == ["finance"]
    assert stored["title"] == "Cold call to a CFO, again" and "_text_score" not in stored


def test_characters_by_role_ignore_case_and_take_the_text_literally(seeded):
    dana, sam, lee, max_ = seeded["characters"]
    assert set(ids(Character.objects.with_role("cfo"))) == {lee.pk}
    assert set(ids(Character.objects.active().with_role("MANAGER"))) == {sam.pk}
    assert ids(Character.objects.with_role("VP.*")) == [max_.pk]
    assert ids(Character.objects.with_role(".*")) == [max_.pk]
    assert list(Character.objects.with_role("C.O")) == []
    assert list(Character.objects.with_role("[")) == []


def test_sessions_for_a_user_by_status_newest_first(seeded):
    expected = [s for s in reversed(seeded["sessions"])
                if s.user_id == "rep-a" and s.status in ("active", "paused")]
    found = RoleplaySession.objects.for_user("rep-a").with_status("active", "paused").newest_first()
    assert ids(found) == ids(expected)


def test_pagination(seeded):
    page = RoleplaySession.objects.for_user("rep-a").newest_first().paginate(page=2, limit=3)
    everything = [s for s in reversed(seeded["sessions"]) if s.user_id == "rep-a"]
    assert (page.total, page.page, page.limit, page.pages) == (len(everything), 2, 3, 3)
    assert ids(page.items) == ids(everything[3:6])
    assert page.items[0].scenario.title in ("Cold call to a CFO", "Product demo")
    assert RoleplaySession.objects.paginate(page=9, limit=5).items == []
    assert RoleplaySession.objects.paginate(page="1", limit="4").limit == 4


def test_tips(seeded):
    closing_beginner, closing_advanced, discovery, inactive = seeded["tips"]
    assert ids(RoleplayTip.objects.recent(2)) == [discovery.pk, closing_advanced.pk]
    assert set(ids(RoleplayTip.objects.matching(category="closing"))) == {
        closing_beginner.pk, closing_advanced.pk}
    assert ids(RoleplayTip.objects.matching(featured="true")) == [closing_beginner.pk]
    assert ids(RoleplayTip.objects.matching(difficulty_level="beginner", featured=False)) == [
        discovery.pk]
    assert ids(RoleplayTip.objects.matching(
        session_id=seeded["sessions"][1].session_id)) == [closing_advanced.pk]
    assert inactive.pk not in ids(RoleplayTip.objects.matching())


def test_analytics_for_user_and_session(seeded):
    mine = [a for a in seeded["analyses"] if a.user_id == "rep-b"]
    assert set(ids(SessionAnalytics.objects.for_user("rep-b"))) == set(ids(mine))
    one = seeded["analyses"][0]
    assert ids(SessionAnalytics.objects.for_session(one.session_id)) == [one.pk]


def python_summary(analyses):
    if not analyses:
        return None
    by_scenario = {}
    for a in analyses:
        by_scenario.setdefault(str(a.scenario.pk), []).append(a.overall_score)
    return {
        "count": len(analyses),
        "averages": {n: sum(getattr(a, n) for a in analyses) / len(analyses)
                     for n in roleplay_models.SCORE_FIELDS},
        "best_overall_score": max(a.overall_score for a in analyses),
        "by_scenario": sorted(
            [{"scenario_id": s, "count": len(v), "average_overall_score": sum(v) / len(v)}
             for s, v in by_scenario.items()],
            key=lambda e: (-e["count"], e["scenario_id"])),
    }


@pytest.mark.parametrize("user", [None, "rep-a", "rep-b"])
def test_summary_equals_a_python_computation(seeded, user):
    analyses = [a for a in seeded["analyses"] if user is None or a.user_id == user]
    summary = SessionAnalytics.objects.summary(user_id=user)
    expected = python_summary(analyses)
    assert summary["count"] == expected["count"]
    assert summary["best_overall_score"] == expected["best_overall_score"]
    assert summary["averages"] == pytest.approx(expected["averages"])
    assert [(e["scenario_id"], e["count"]) for e in summary["by_scenario"]] == [
        (e["scenario_id"], e["count"]) for e in expected["by_scenario"]]
    assert [e["average_overall_score"] for e in summary["by_scenario"]] == pytest.approx(
        [e["average_overall_score"] for e in expected["by_scenario"]])


def test_summary_of_nothing(db):
    assert SessionAnalytics.objects.summary(user_id="nobody") == {
        "count": 0, "averages": dict.fromkeys(roleplay_models.SCORE_FIELDS),
        "best_overall_score": None, "by_scenario": []}


@pytest.mark.parametrize(
    "call",
    [
        lambda: RoleplaySession.objects.for_user({"$ne": None}),
        lambda: RoleplaySession.objects.for_user(["rep-a"]),
        lambda: RoleplaySession.objects.for_user({"$regex": ".*"}),
        lambda: RoleplaySession.objects.with_status({"$in": ["active"]}),
        lambda: RoleplaySession.objects.with_status("$ne"),
        lambda: RoleplaySession.objects.by_session_id({"$gt": ""}),
        lambda: Character.objects.with_role({"$regex": "."}),
        lambda: Scenario.objects.search({"$search": "x"}),
        lambda: SessionAnalytics.objects.for_user({"$exists": True}),
        lambda: SessionAnalytics.objects.summary(user_id={"$ne": None}),
        lambda: RoleplayTip.objects.matching(category={"$ne": None}),
        lambda: RoleplayTip.objects.matching(session_id=["a", "b"]),
        lambda: RoleplayTip.objects.matching(featured={"$ne": False}),
        lambda: RoleplayTip.objects.recent({"$gt": 0}),
        lambda: RoleplayTip.objects.recent(1000),
        lambda: RoleplaySession.objects.paginate(page=0),
        lambda: RoleplaySession.objects.paginate(page={"$gt": 0}),
        lambda: RoleplaySession.objects.paginate(limit=101),
        lambda: RoleplaySession.objects.paginate(limit=True),
    ],
)
def test_injection_attempts_are_refused_before_any_query(seeded, call):
    with pytest.raises(InvalidFilter):
        call()


@pytest.fixture
def round_trips(db, run_database_uri):
    listener = CommandLog()
    roleplay_models.connect(run_database_uri, ensure_indexes=False, event_listeners=[listener])
    server_facts(Scenario._get_db().client)  # asked once per client; not a page's cost
    listener.commands.clear()
    yield listener
    roleplay_models.disconnect()


@pytest.mark.parametrize("size", [10, 100, 101, 200])
def test_a_populated_page_takes_at_most_three_round_trips(round_trips, size):
    scenarios = [builders.scenario() for _ in range(size)]
    Scenario.objects.insert(scenarios)
    characters = Character.objects.insert([builders.character([s]) for s in scenarios])
    RoleplaySession.objects.insert([
        builders.session(s, character=c) for s, c in zip(scenarios, characters, strict=True)])
    RoleplayTip.objects.insert([builders.tip(related_scenarios=[s]) for s in scenarios])
    cases = [
        (RoleplaySession, lambda q: [(s.scenario.title, s.character.name) for s in q.populated()]),
        (Character, lambda q: [[x.title for x in c.scenarios] for c in q.populated()]),
        (RoleplayTip, lambda q: [[x.title for x in t.related_scenarios] for t in q.populated()]),
        (RoleplaySession, lambda q: q.api_dicts()),
    ]
    for model, use in cases:
        round_trips.commands.clear()
        shown = use(model.objects.newest_first().limit(size))
        assert len(shown) == size
        assert len(round_trips.names) <= 3, (model.__name__, round_trips.names)
        # a batch size only where the first reply's default (101) might not hold every match
        finds = [command for command in round_trips.commands if "find" in command]
        assert [command.get("batchSize") for command in finds] == [
            size + 1 if size > 100 else None] * len(finds), model.__name__
    round_trips.commands.clear()
    page = RoleplaySession.objects.paginate(page=1, limit=min(size, 100))
    assert [i.scenario.title for i in page.items]
    assert round_trips.names.count("find") == 3 and len(round_trips.names) == 4


def test_a_limited_page_kept_and_read_again_reads_what_is_stored_now(round_trips):
    scenario = builders.scenario().save()
    builders.session(scenario).save()
    page = RoleplaySession.objects.newest_first().limit(50)
    assert len(page.populated()) == 1
    builders.session(scenario).save()
    assert len(page.populated()) == 2


def test_a_batch_size_of_the_callers_is_replaced_so_a_page_is_one_reply(round_trips):
    scenario = builders.scenario().save()
    RoleplaySession.objects.insert([builders.session(scenario) for _ in range(12)])
    round_trips.commands.clear()
    assert len(RoleplaySession.objects.batch_size(5).limit(10).populated()) == 10
    assert "getMore" not in round_trips.names and "killCursors" not in round_trips.names
    assert round_trips.commands[0]["batchSize"] == 11


def test_api_dicts_match_between_fast_path_and_documents_and_are_json(seeded):
    session = RoleplaySession.objects.get(pk=seeded["sessions"][0].pk)
    session.add_turn("user", "Hi")
    for model in roleplay_models.MODELS:
        fast = model.objects.newest_first().api_dicts()
        documents = [d.to_api_dict() for d in model.objects.newest_first().populated()]
        assert fast == documents, model.__name__
        assert json.loads(json.dumps(fast)) == fast
    plain = [d.to_api_dict() for d in RoleplaySession.objects.newest_first()]
    assert plain == RoleplaySession.objects.newest_first().api_dicts(populate=False)


def test_api_dict_shape_of_a_session(seeded):
    session = RoleplaySession.objects.get(pk=seeded["sessions"][0].pk)
    session.add_turn("assistant", "Hello", audio_duration=1.25)
    data = RoleplaySession.objects(pk=session.pk).api_dicts()[0]
    assert data["id"] == str(session.pk)
    assert data["scenario_id"] == {"id": str(session.scenario.pk),
                                   "scenario_id": session.scenario.scenario_id,
                                   "title": session.scenario.title,
                                   "description": session.scenario.description}
    assert data["character_id"]["name"] == session.character.name
    assert set(data) >= {"created_at", "updated_at", "session_id", "conversation_history",
                         "start_time", "total_duration", "status", "user_id"}
    assert "createdAt" not in data and "paused_at" not in data
    assert "metadata" not in data and "metadata" not in session.to_api_dict()
    assert data["created_at"].endswith("Z") and len(data["created_at"]) == 24
    turn = data["conversation_history"][-1]
    assert turn["role"] == "assistant" and turn["audio_duration"] == 1.25
    assert turn["id"] == str(session.conversation_history[-1].id)
    character = Character.objects(pk=seeded["characters"][1].pk).api_dicts(populate=False)[0]
    assert character["scenario_ids"] == [str(s.pk) for s in seeded["characters"][1].scenarios]
    assert "llmPrompt" in Scenario.objects.api_dicts()[0]


def test_a_session_read_by_a_queryset_decodes_each_turn_when_first_used(db):
    session = builders.session(builders.scenario().save(), conversation_history=[]).save()
    for text in ("Hello", "Hi, who is this?", "A rep from Acme"):
        session.add_turn("user", text)
    read = RoleplaySession.objects.get(pk=session.pk)
    turns = read._data["conversation_history"]
    assert [type(turn.__dict__.get("_fast_stored_son")) for turn in turns] == [ReadDocument] * 3
    assert read.conversation_history[-1].text == "A rep from Acme"
    assert [is_built(turn) for turn in turns] == [False, False, True]
    assert read.to_mongo() == RoleplaySession.objects.in_bulk([session.pk])[session.pk].to_mongo()
    read.conversation_history[0].text = "Hello there"
    read.save()
    assert [turn["text"] for turn in builders.stored(read)["conversation_history"]] == [
        "Hello there", "Hi, who is this?", "A rep from Acme"]


def test_what_a_queryset_gives_other_than_documents_is_dicts(db):
    builders.session(builders.scenario().save(), user_id="rep-a").save()
    query = RoleplaySession.objects(user_id="rep-a")
    assert type(query.as_pymongo()[0]) is dict
    assert type(next(iter(query.aggregate([{"$match": {}}])))) is dict
    try:
        plan = query.explain()
    except OperationFailure:  # mongo-java-server has no explain
        return
    assert type(plan) is dict


def test_a_long_session_read_by_a_queryset_holding_a_nested_value_is_decoded_whole(db):
    # over 4 KiB, which pymongo (4.18 on) hands on as a view of its reply rather than bytes
    session = builders.session(builders.scenario().save(), conversation_history=[
        ConversationEntry(role="user", text="A line of the call, " * 10) for _ in range(40)]
    ).save()
    collection = RoleplaySession._get_collection()
    collection.update_one({"_id": session.pk},
                          {"$set": {"conversation_history.39.text": ["not", "a", "text"]}})
    read = RoleplaySession.objects.get(pk=session.pk)
    assert all(is_built(turn) for turn in read._data["conversation_history"])
    assert read.conversation_history[-1].text == ["not", "a", "text"]


def test_what_a_queryset_hands_on_is_dicts_also_after_it_read_documents(db):
    builders.session(builders.scenario().save(), user_id="rep-a").save()
    query = RoleplaySession.objects(user_id="rep-a")
    assert len(list(query)) == 1  # its cursor read BSON
    assert type(query.as_pymongo()[0]) is dict
    assert [type(row) for row in query[0:1].as_pymongo()] == [dict]
    assert [type(row) for row in query.max_time_ms(5000).as_pymongo()] == [dict]
    turns = query.no_dereference().distinct("conversation_history")
    assert turns and all(type(turn) is dict for turn in turns)
