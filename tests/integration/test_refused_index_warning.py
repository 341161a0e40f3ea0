"""The warning about an index the server refuses: once per process and server, in plain words."""

from __future__ import annotations

import uuid
import warnings

import pytest

import roleplay_models as rp

from conftest import TEST_DB_PREFIX, with_database


@pytest.fixture
def fresh_uris(server_uri):
    """Two databases on the run's server that nobody has connected to yet; dropped afterwards."""
    names = [f"{TEST_DB_PREFIX}warn_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    yield [with_database(server_uri, name) for name in names]
    client = rp.connect(with_database(server_uri, names[0]), ensure_indexes=False)
    for name in names:
        client.drop_database(name)
    rp.disconnect()


def refused(caught):
    return [str(w.message) for w in caught if issubclass(w.category, rp.IndexRefusedWarning)]


def test_the_text_index_warning_is_said_once_per_server_and_says_what_it_means(fresh_uris):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        client = rp.connect(fresh_uris[0])
        rp.connect(fresh_uris[1])  # another database on the same server: nothing new to say
    if rp.server_facts(client).text_search:
        assert refused(caught) == []
        return
    assert refused(caught) == [
        "this server has no text search, so the index scenarios (title:text, "
        "description:text) is not used: search() matches words with a case-insensitive "
        "pattern instead"]


def test_a_filter_of_always_shows_it_on_every_first_connect_to_a_database(fresh_uris):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = rp.connect(fresh_uris[0])
        rp.connect(fresh_uris[1])
    assert len(refused(caught)) == (0 if rp.server_facts(client).text_search else 2)
