"""Fixtures shared by the unit and integration suites.

The server: ``$MONGODB_URI`` if set, else one started for the run, of the
kind ``$ROLEPLAY_TEST_SERVER`` names: ``ferretdb`` (the default) or
``mongo-java-server``. If it cannot be started the tests that need it skip
with the reason, or fail under ``ROLEPLAY_REQUIRE_SERVER=1``.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

import roleplay_models
from roleplay_models.testing import FerretDB, MongoJavaServer, TestServerUnavailable

TEST_DB_PREFIX = "roleplay_test_"
REQUIRE_SERVER = os.environ.get("ROLEPLAY_REQUIRE_SERVER") == "1"
TEST_SERVERS: dict[str, type[FerretDB | MongoJavaServer]] = {
    "ferretdb": FerretDB,
    "mongo-java-server": MongoJavaServer,
}
TEST_SERVER = os.environ.get("ROLEPLAY_TEST_SERVER") or "ferretdb"


# What the package must detect on each test server (atomic updates, text search, $group
# accumulators); a server at $MONGODB_URI is taken to be MongoDB.
EXPECTED_CAPABILITIES = {
    "ferretdb": (False, False, False),
    "mongo-java-server": (True, False, True),
    "MONGODB_URI": (True, True, True),
}


def pytest_configure(config: pytest.Config) -> None:
    if TEST_SERVER not in TEST_SERVERS:
        raise pytest.UsageError(
            f"ROLEPLAY_TEST_SERVER={TEST_SERVER!r}: expected one of {', '.join(TEST_SERVERS)}")


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


def _start_new() -> FerretDB | MongoJavaServer:
    server = TEST_SERVERS[TEST_SERVER]()
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server


def start_test_server() -> FerretDB | MongoJavaServer:
    """A started server of the chosen kind, or the test is skipped (failed under
    ROLEPLAY_REQUIRE_SERVER=1). The caller closes it."""
    try:
        return _start_new()
    except TestServerUnavailable as err:
        reason = str(err)
    no_server(reason)  # outside the except block, so no exception chain is printed
    raise AssertionError("unreachable")


_run_server: list[FerretDB | MongoJavaServer | TestServerUnavailable] = []


def run_server() -> FerretDB | MongoJavaServer:
    """This run's server, started on first use and closed at the end of the run.

    Raises ``TestServerUnavailable`` (the same one on every call) if it
    cannot be started.
    """
    if not _run_server:
        try:
            _run_server.append(_start_new())
        except TestServerUnavailable as err:
            _run_server.append(err)
    if isinstance(_run_server[0], TestServerUnavailable):
        raise _run_server[0]
    return _run_server[0]


def pytest_unconfigure(config: pytest.Config) -> None:
    for found in _run_server:
        if not isinstance(found, TestServerUnavailable):
            found.close()
    _run_server.clear()


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Which server the run uses (starting it, unless ``$MONGODB_URI`` is set)."""
    external = os.environ.get("MONGODB_URI")
    if external:
        parts = urlsplit(external)
        hosts = parts.netloc.rpartition("@")[2]  # no credentials in the output
        return [f"server: $MONGODB_URI at {parts.scheme}://{hosts}/"]
    kind = TEST_SERVERS[TEST_SERVER]
    try:
        return [f"server: {kind.name} at {run_server().uri}"]
    except TestServerUnavailable as err:
        return [f"server: {kind.name}, unavailable: {str(err).splitlines()[0]}"]


@pytest.fixture(scope="session")
def server_uri() -> str:
    """``$MONGODB_URI`` if set, else the URI of the server started for this run."""
    external = os.environ.get("MONGODB_URI")
    if external:
        return external
    try:
        return run_server().uri
    except TestServerUnavailable as err:
        reason = str(err)
    no_server(reason)
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def run_database_uri(server_uri: str) -> Iterator[str]:
    """This run's own database on the real server, indexes created, dropped at the end."""
    name = f"{TEST_DB_PREFIX}{uuid.uuid4().hex[:10]}"
    uri = with_database(server_uri, name)
    client = roleplay_models.connect(uri, ensure_indexes=False)
    client.drop_database(name)
    roleplay_models.ensure_indexes()
    _detected.append(roleplay_models.server_facts(client).describe())
    yield uri
    client = roleplay_models.connect(uri, ensure_indexes=False)
    client.drop_database(name)
    roleplay_models.disconnect()


_detected: list[str] = []  # what the package found the run's server can do


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _detected[:1]:
        terminalreporter.write_line(f"roleplay_models detected on the server: {line}")


@pytest.fixture
def db(run_database_uri: str) -> Iterator[object]:
    """The real server, connected, with the five collections emptied."""
    client = roleplay_models.connect(run_database_uri, ensure_indexes=False)
    database = client.get_default_database()
    for model in roleplay_models.MODELS:
        database[model._meta["collection"]].delete_many({})
    yield database
    roleplay_models.disconnect()


@pytest.fixture
def embedded() -> Iterator[object]:
    """The in-process mongomock backend, for unit tests that need a collection."""
    name = f"{TEST_DB_PREFIX}unit"
    with warnings.catch_warnings():  # mongomock runs no $text query: no text index there
        warnings.simplefilter("ignore", roleplay_models.IndexRefusedWarning)
        client = roleplay_models.connect(f"mongomock://localhost/{name}")
    yield client[name]
    client.drop_database(name)
    roleplay_models.disconnect()


@pytest.fixture(scope="session")
def expected_capabilities() -> dict[str, bool]:
    """What the package must find the run's server can do."""
    kind = "MONGODB_URI" if os.environ.get("MONGODB_URI") else TEST_SERVER
    atomic, text, group = EXPECTED_CAPABILITIES[kind]
    return {"atomic_updates": atomic, "text_search": text, "group_accumulators": group}
