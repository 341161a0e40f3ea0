"""Fixtures shared by the unit and integration suites.

The server: ``$MONGODB_URI`` if set, else one started for the run, of the
kind ``$ROLEPLAY_TEST_SERVER`` names: ``ferretdb`` (the default) or
``mongo-java-server``. If it cannot be started the tests that need it skip
with the reason, or fail under ``ROLEPLAY_REQUIRE_SERVER=1``.

What the package must detect on the server: ``$ROLEPLAY_EXPECT`` if set
(``atomic,text,group,ne``, any of them, or empty for none), else what the
started server is known to do, else MongoDB's full set when the server at
``$MONGODB_URI`` says it is MongoDB; otherwise the test that compares skips,
naming the variable. A test marked ``needs("text_search")`` (any
:class:`ServerFacts` capability) skips on a server found to lack it.
"""

from __future__ import annotations

import os
import re
import uuid
import warnings
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import pytest

import roleplay_models
from roleplay_models.db import connection
from roleplay_models.db.server import ServerFacts
from roleplay_models.testing import CommandLog, FerretDB, MongoJavaServer, TestServerUnavailable

TEST_DB_PREFIX = "roleplay_test_"
REQUIRE_SERVER = os.environ.get("ROLEPLAY_REQUIRE_SERVER") == "1"
TEST_SERVERS: dict[str, type[FerretDB | MongoJavaServer]] = {
    "ferretdb": FerretDB,
    "mongo-java-server": MongoJavaServer,
}
TEST_SERVER = os.environ.get("ROLEPLAY_TEST_SERVER") or "ferretdb"


CAPABILITIES = ("atomic_updates", "text_search", "group_accumulators", "ne_through_arrays")
# ROLEPLAY_EXPECT's short names
SHORT_NAMES = {"atomic": "atomic_updates", "text": "text_search", "group": "group_accumulators",
               "ne": "ne_through_arrays"}
# What the package must detect on each server the suite starts itself.
EXPECTED_CAPABILITIES = {
    "ferretdb": frozenset(),
    "mongo-java-server": frozenset({"atomic_updates", "group_accumulators", "ne_through_arrays"}),
}
MONGODB_CAPABILITIES = frozenset(CAPABILITIES)


def declared_capabilities(value: str) -> frozenset[str]:
    """The capabilities ``$ROLEPLAY_EXPECT`` declares: names separated by commas, short
    (``atomic``, ``text``, ``group``) or long (``text_search``); empty means none. An unknown
    name is a UsageError naming it."""
    declared = set()
    for word in (w.strip() for w in value.split(",")):
        if not word:
            continue
        name = SHORT_NAMES.get(word, word)
        if name not in CAPABILITIES:
            raise pytest.UsageError(
                f"ROLEPLAY_EXPECT names {word!r}; expected names among "
                f"{', '.join([*SHORT_NAMES, *CAPABILITIES])}, separated by commas")
        declared.add(name)
    return frozenset(declared)


GIT_COMMIT = re.compile(r"[0-9a-f]{40}")


def says_it_is_mongodb(build_info: Mapping[str, Any]) -> bool:
    """Whether ``buildInfo`` is MongoDB's own: the commit it was built from, its allocator and
    JavaScript engine, and no FerretDB key. FerretDB answers ``gitVersion: "unknown"`` and
    ``ferretdbVersion``; mongo-java-server answers only a version (4.4.0)."""
    if any(key.lower().startswith("ferretdb") for key in build_info):
        return False
    return (GIT_COMMIT.fullmatch(str(build_info.get("gitVersion", ""))) is not None
            and isinstance(build_info.get("allocator"), str)
            and isinstance(build_info.get("javascriptEngine"), str))


def pytest_configure(config: pytest.Config) -> None:
    if TEST_SERVER not in TEST_SERVERS:
        raise pytest.UsageError(
            f"ROLEPLAY_TEST_SERVER={TEST_SERVER!r}: expected one of {', '.join(TEST_SERVERS)}")
    if "ROLEPLAY_EXPECT" in os.environ:
        declared_capabilities(os.environ["ROLEPLAY_EXPECT"])  # refused before anything runs
    config.addinivalue_line(
        "markers", f"needs(capability): skip unless the server can ({', '.join(CAPABILITIES)})")
    config.addinivalue_line(
        "markers", "long: minutes of writes on FerretDB v1; tox runs these in py313, javaserver")


def with_database(uri: str, name: str) -> str:
    """``uri`` pointed at database ``name``, which must be a test database, keeping its hosts
    and options."""
    if not name.startswith(TEST_DB_PREFIX):
        raise RuntimeError(f"refusing to use {name!r}: test databases start with {TEST_DB_PREFIX}")
    return connection.with_database(uri, name)


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
    if os.environ.get("MONGODB_URI"):
        reason = f"this test starts and kills a {TEST_SERVER} of its own: {reason}"
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
    _run_facts.append(roleplay_models.server_facts(client))
    _run_facts.append(client.admin.command("buildInfo"))
    yield uri
    client = roleplay_models.connect(uri, ensure_indexes=False)
    client.drop_database(name)
    roleplay_models.disconnect()


# what the package found the run's server can do, then the server's buildInfo
_run_facts: list[Any] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for facts in _run_facts[:1]:
        terminalreporter.write_line(f"roleplay_models detected on the server: {facts.describe()}")


def run_facts(request: pytest.FixtureRequest) -> ServerFacts:
    """What the package found the run's server can do (connecting to it if not yet done)."""
    request.getfixturevalue("run_database_uri")
    facts: ServerFacts = _run_facts[0]
    return facts


@pytest.fixture(autouse=True)
def _needs(request: pytest.FixtureRequest) -> None:
    """Skip a test marked ``needs(capability)`` on a server found to lack it, naming both."""
    for marker in request.node.iter_markers("needs"):
        for capability in marker.args:
            if capability not in CAPABILITIES:
                pytest.fail(f"needs({capability!r}): expected one of {', '.join(CAPABILITIES)}",
                            pytrace=False)
            facts = run_facts(request)
            if not getattr(facts, capability):
                pytest.skip(f"needs {capability}, which the server lacks ({facts.describe()})")


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
def log(db: object, run_database_uri: str) -> Iterator[CommandLog]:
    """Every command the package sends, recorded on a client connected for the test (``with
    log.recording():`` keeps only what a block sends)."""
    listener = CommandLog()
    client = roleplay_models.connect(run_database_uri, ensure_indexes=False,
                                     event_listeners=[listener])
    roleplay_models.server_facts(client)  # asked once per client, before what is measured
    yield listener
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


@pytest.fixture
def expected_capabilities(request: pytest.FixtureRequest) -> dict[str, bool]:
    """What the package must find the run's server can do: as ``$ROLEPLAY_EXPECT`` declares,
    else as known for a server the suite started, else MongoDB's full set for a server that
    says it is MongoDB; otherwise the test skips, naming what to set."""
    if "ROLEPLAY_EXPECT" in os.environ:
        expected = declared_capabilities(os.environ["ROLEPLAY_EXPECT"])
    elif not os.environ.get("MONGODB_URI"):
        expected = EXPECTED_CAPABILITIES[TEST_SERVER]
    else:
        facts = run_facts(request)
        if not says_it_is_mongodb(_run_facts[1]):
            pytest.skip(f"the server at $MONGODB_URI does not say it is MongoDB ({facts.name}): "
                        "set ROLEPLAY_EXPECT to what it can do (e.g. ROLEPLAY_EXPECT=atomic,group;"
                        " empty for none) to check what the package detects")
        expected = MONGODB_CAPABILITIES
    return {name: name in expected for name in CAPABILITIES}
