"""start() sent again after a lost reply stores one session even where the ``session_id``
unique index is missing: the repeat carries the same ``_id``, and the ``_id`` index always
exists."""

from __future__ import annotations

import uuid

import pytest

import roleplay_models
from roleplay_models import RoleplaySession, WriteOutcome

import builders
from conftest import TEST_DB_PREFIX, with_database
from faultproxy import FaultProxy


@pytest.fixture
def proxy_to_unindexed(server_uri):
    """A fault proxy to a database of its own, on which no connect() has created indexes;
    dropped afterwards."""
    name = f"{TEST_DB_PREFIX}unindexed_{uuid.uuid4().hex[:8]}"
    with FaultProxy(with_database(server_uri, name)) as proxy:
        yield proxy
        assert proxy.errors == []
    client = roleplay_models.connect(with_database(server_uri, name), ensure_indexes=False)
    client.drop_database(name)
    roleplay_models.disconnect()


def test_a_start_whose_reply_is_lost_is_stored_once_without_the_session_id_index(
        proxy_to_unindexed):
    roleplay_models.connect(proxy_to_unindexed.uri, ensure_indexes=False)
    scenario = builders.scenario().save()
    proxy_to_unindexed.reset_next("after_request", command="insert")
    session = RoleplaySession.start(scenario, "rep", session_id="session-fixed")
    assert proxy_to_unindexed.faults()["reset_after_request"] == 1  # applied, reply lost
    collection = RoleplaySession._get_collection()
    assert [dict(index["key"]) for index in collection.list_indexes()] == [{"_id": 1}]
    assert [stored["_id"] for stored in collection.find({"session_id": "session-fixed"})] == [
        session.pk]
    assert session.last_outcome is WriteOutcome.ALREADY_STORED
