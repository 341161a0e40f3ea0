"""Connecting to the real server: indexes from the first write, URIs kept whole, capabilities asked."""

from __future__ import annotations

import uuid
import warnings

import pytest
from mongoengine import NotUniqueError
from pymongo.errors import OperationFailure

import roleplay_models
from roleplay_models import IndexRefusedWarning, RoleplaySession, RoleplayTip, Scenario, server_facts
from roleplay_models.db.server import forget_server_facts

import builders
from conftest import TEST_DB_PREFIX, with_database


@pytest.fixture
def fresh_uri(server_uri):
    """A database nobody has connected to in this process yet; dropped afterwards."""
    name = f"{TEST_DB_PREFIX}fresh_{uuid.uuid4().hex[:8]}"
    yield with_database(server_uri, name)
    client = roleplay_models.connect(with_database(server_uri, name), ensure_indexes=False)
    client.drop_database(name)
    roleplay_models.disconnect()


def index_keys(model):
    return [tuple(info["key"]) for info in model._get_collection().list_indexes()]


def test_unique_ids_hold_from_the_first_write_on_a_fresh_database(fresh_uri):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IndexRefusedWarning)
        roleplay_models.connect(fresh_uri)
    scenario = builders.scenario(scenario_id="only-once").save()
    with pytest.raises(NotUniqueError):
        builders.scenario(scenario_id="only-once").save()
    builders.session(scenario, session_id="session_once").save()
    with pytest.raises(NotUniqueError):
        builders.session(scenario, session_id="session_once").save()
    assert RoleplaySession.objects.count() == 1 and Scenario.objects.count() == 1


@pytest.mark.parametrize("how", ["keyword", "settings"])
def test_a_deployment_that_manages_its_own_indexes_can_opt_out(fresh_uri, how):
    if how == "keyword":
        roleplay_models.connect(fresh_uri, ensure_indexes=False)
    else:
        roleplay_models.connect_from_settings({"host": fresh_uri, "ensure_indexes": False})
    builders.scenario(scenario_id="twice").save()
    builders.scenario(scenario_id="twice").save()  # no unique index: both are stored
    assert index_keys(Scenario) == [("_id",)]


def test_a_refused_index_is_a_warning_naming_it_and_the_rest_are_created(fresh_uri):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = roleplay_models.connect(fresh_uri)
    refused = [str(w.message) for w in caught if issubclass(w.category, IndexRefusedWarning)]
    if server_facts(client).text_search:
        assert refused == []
    else:
        assert len(refused) == 1 and "scenarios (title:text, description:text)" in refused[0]
    assert ("scenario_id",) in index_keys(Scenario)
    assert ("session_id",) in index_keys(RoleplaySession)


def test_indexes_are_ensured_once_per_database_and_process(fresh_uri):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IndexRefusedWarning)
        client = roleplay_models.connect(fresh_uri)
    name = client.get_default_database().name
    # a name no other collection has: mongo-java-server drops an index of that name from
    # every collection's records (bwaldvogel/mongo-java-server#246)
    client.get_default_database()["roleplaytips"].drop_index("category_1_difficulty_level_1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IndexRefusedWarning)
        client = roleplay_models.connect(fresh_uri)
    assert client.get_default_database().name == name
    assert ("category", "difficulty_level") not in index_keys(RoleplayTip)  # not asked again


def test_options_in_the_uri_win_over_the_package_defaults(fresh_uri):
    client = roleplay_models.connect(fresh_uri + "?serverSelectionTimeoutMS=300",
                                     ensure_indexes=False)
    assert client.options.server_selection_timeout == 0.3
    client = roleplay_models.connect(fresh_uri, ensure_indexes=False, serverSelectionTimeoutMS=700)
    assert client.options.server_selection_timeout == 0.7


def test_settings_with_a_db_keep_the_uris_options(server_uri, fresh_uri):
    name = fresh_uri.rsplit("/", 1)[1]
    host = with_database(server_uri, "roleplay_test_other") + "?serverSelectionTimeoutMS=1234"
    client = roleplay_models.connect_from_settings(
        {"host": host, "db": name, "ensure_indexes": False})
    assert client.get_default_database().name == name
    assert client.options.server_selection_timeout == 1.234
    assert Scenario._get_db().name == name


def test_the_server_is_asked_whether_it_runs_text_queries(db):
    """The answer comes from sending a $text query, whatever the server calls itself."""
    client = db.client
    scenario = builders.scenario(title="Cold call", description="A sceptical CFO").save()
    forget_server_facts(client)
    facts = server_facts(client)
    found = list(Scenario.objects.search("sceptical"))  # search follows what was found
    assert [s.pk for s in found] == [scenario.pk]
    try:
        list(Scenario._get_collection().find({"$text": {"$search": "sceptical"}}))
    except OperationFailure:
        assert not facts.text_search
    else:
        assert facts.text_search
