"""Fixtures shared by the unit and integration suites."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

import roleplay_models
from roleplay_models.testing import FerretDB, FerretDBUnavailable

TEST_DB_PREFIX = "roleplay_test_"
REQUIRE_SERVER = os.environ.get("ROLEPLAY_REQUIRE_SERVER") == "1"


def with_database(uri: str, name: str) -> str:
    """``uri`` pointed at database ``name``, keeping its host and options."""
    if not name.startswith(TEST_DB_PREFIX):
        raise RuntimeError(f"refusing to use {name!r}: test databases start with {TEST_DB_PREFIX}")
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def no_server(reason: str) -> None:
    if REQUIRE_SERVER:
        pytest.fail(f"ROLEPLAY_REQUIRE_SERVER=1 but no server: {reason}", pytrace=False)
    pytest.skip(f"no MongoDB-wire server: {reason}")


def start_ferretdb() -> FerretDB:
    """A started FerretDB, or the test is skipped (failed under ROLEPLAY_REQUIRE_SERVER=1)."""
    try:
        server = FerretDB()
        server.start()
    except FerretDBUnavailable as err:
        no_server(str(err))
    return server


@pytest.fixture(scope="session")
def server_uri() -> Iterator[str]:
    """``$MONGODB_URI`` if set, else the URI of a FerretDB started for this run."""
    external = os.environ.get("MONGODB_URI")
    if external:
        yield external
        return
    server = start_ferretdb()
    yield server.uri
    server.close()


@pytest.fixture(scope="session")
def run_database_uri(server_uri: str) -> Iterator[str]:
    """This run's own database on the real server, indexes created, dropped at the end."""
    name = f"{TEST_DB_PREFIX}{uuid.uuid4().hex[:10]}"
    uri = with_database(server_uri, name)
    client = roleplay_models.connect(uri)
    client.drop_database(name)
    roleplay_models.ensure_indexes()
    yield uri
    client = roleplay_models.connect(uri)
    client.drop_database(name)
    roleplay_models.disconnect()


@pytest.fixture
def db(run_database_uri: str) -> Iterator[object]:
    """The real server, connected, with the five collections emptied."""
    client = roleplay_models.connect(run_database_uri)
    database = client.get_default_database()
    for model in roleplay_models.MODELS:
        database[model._meta["collection"]].delete_many({})
    yield database
    roleplay_models.disconnect()


@pytest.fixture
def embedded() -> Iterator[object]:
    """The in-process mongomock backend, for unit tests that need a collection."""
    name = f"{TEST_DB_PREFIX}unit"
    client = roleplay_models.connect(f"mongomock://localhost/{name}")
    yield client[name]
    client.drop_database(name)
    roleplay_models.disconnect()
