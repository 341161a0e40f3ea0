"""What the package learns about a server is kept per client object, for as long as it lives."""

from __future__ import annotations

import gc

import pymongo
import pytest

from roleplay_models.db import server
from roleplay_models.db.server import ServerFacts, server_facts


def test_facts_stay_with_their_client_when_an_equal_client_is_collected(monkeypatch):
    asked = []

    def ask(client):
        asked.append(type(client))  # not the client: the test must let it be collected
        return ServerFacts(f"server {len(asked)}", True, False, True, True)

    monkeypatch.setattr(server, "_ask", ask)
    kept = pymongo.MongoClient("mongodb://127.0.0.1:9/roleplay_test_unit", connect=False)
    other = pymongo.MongoClient("mongodb://127.0.0.1:9/roleplay_test_unit", connect=False)
    assert kept == other  # pymongo's clients compare by the hosts they name
    facts = server_facts(kept)
    assert server_facts(other) is not facts and len(asked) == 2  # each client asks once
    other.close()
    del other
    gc.collect()
    assert server_facts(kept) is facts and len(asked) == 2  # nothing asked again
    kept.close()
    forgotten = id(kept)
    del kept
    gc.collect()
    assert forgotten not in server._facts  # a collected client's facts go with it


@pytest.mark.parametrize("info,before_2", [
    ({"version": "7.0.0"}, False),
    ({"version": "7.0.0", "ferretdbVersion": "v1.24.2"}, True),
    ({"version": "6.0.0", "ferretdbVersion": "v0.9.4"}, True),
    ({"version": "7.0.77", "ferretdbVersion": "v2.7.0"}, False),
    ({"version": "7.0.0", "ferretdbVersion": "unknown"}, True),
])
def test_ferretdbs_own_engine_is_told_by_its_major_version(info, before_2):
    assert server._ferretdb_before_2(info) is before_2


def test_facts_made_without_the_ne_answer_take_the_safe_one():
    # a turn's "not stored yet" is then $nor, which every server tested reads as documented
    assert ServerFacts("stub", True, False, True).ne_through_arrays is False
