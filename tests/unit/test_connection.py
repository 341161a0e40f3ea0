"""connect(): URIs, errors that say what is wrong, and no silent fallback."""

from __future__ import annotations

import socket
import time

import pytest

import roleplay_models
from roleplay_models import ConfigurationError, ServerUnreachable
from roleplay_models.db.connection import _database_name, redact_uri, with_database


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_server_is_a_quick_clear_error_with_the_password_hidden():
    uri = f"mongodb://rep:s3cret@127.0.0.1:{closed_port()}/roleplay"
    started = time.monotonic()
    with pytest.raises(ServerUnreachable) as caught:
        roleplay_models.connect(uri, serverSelectionTimeoutMS=500)
    assert time.monotonic() - started < 3
    assert "cannot reach MongoDB" in str(caught.value) and "s3cret" not in str(caught.value)
    assert "rep:***@" in str(caught.value)


def test_the_uri_comes_from_the_environment_before_the_default(monkeypatch):
    monkeypatch.setenv("MONGODB_URI", f"mongodb://127.0.0.1:{closed_port()}/from_env")
    with pytest.raises(ServerUnreachable, match="from_env"):
        roleplay_models.connect(serverSelectionTimeoutMS=200)
    monkeypatch.delenv("MONGODB_URI")


@pytest.mark.parametrize(
    "uri,message",
    [
        ("mongodb://127.0.0.1:27017", "names no database"),
        ("mongodb://127.0.0.1:27017/", "names no database"),
        ("postgres://127.0.0.1/roleplay", "invalid MongoDB URI"),
        ("mongodb://u:pw@/x", "invalid MongoDB URI"),
    ],
)
def test_a_malformed_uri_is_a_configuration_error(uri, message):
    with pytest.raises(ConfigurationError, match=message) as caught:
        roleplay_models.connect(uri)
    assert ":pw@" not in str(caught.value)


def test_mongomock_is_chosen_only_by_its_scheme(embedded):
    client = roleplay_models.connect("mongomock://localhost/roleplay_test_unit")
    assert type(client).__module__.startswith("mongomock")
    assert roleplay_models.server_facts(client).name == "mongomock"


def test_redact_uri_keeps_everything_but_the_password():
    assert redact_uri("mongodb+srv://u:p%40ss@host/db?x=1") == "mongodb+srv://u:***@host/db?x=1"
    assert redact_uri("mongodb://host/db") == "mongodb://host/db"


@pytest.mark.parametrize("uri,database,expected", [
    ("mongodb://db.internal:27017", "roleplay", "mongodb://db.internal:27017/roleplay"),
    ("mongodb://db.internal:27017/", "roleplay", "mongodb://db.internal:27017/roleplay"),
    ("mongodb://u:p@h1:1,h2:2/old?authSource=admin&replicaSet=rs0", "roleplay",
     "mongodb://u:p@h1:1,h2:2/roleplay?authSource=admin&replicaSet=rs0"),
    ("mongodb+srv://u:p@cluster0.example.net/?retryWrites=true", "roleplay",
     "mongodb+srv://u:p@cluster0.example.net/roleplay?retryWrites=true"),
])
def test_with_database_names_the_database_and_keeps_every_host_and_option(uri, database, expected):
    assert with_database(uri, database) == expected


def test_the_readmes_settings_example_is_understood_not_cut_apart():
    with pytest.raises(ServerUnreachable, match=r"mongodb://127\.0\.0\.1:9/roleplay\b"):
        roleplay_models.connect_from_settings(
            {"host": "mongodb://127.0.0.1:9", "db": "roleplay", "serverSelectionTimeoutMS": 100})


def test_an_srv_uri_is_accepted_as_a_uri():
    """Its database is read without resolving the SRV record; only connecting needs DNS."""
    with pytest.raises(ConfigurationError, match="names no database"):
        roleplay_models.connect("mongodb+srv://u:p@cluster0.example.net/?retryWrites=true")
    assert _database_name("mongodb+srv://u:p@cluster0.example.net/roleplay?w=1") == "roleplay"


def test_naive_datetimes_are_refused_at_connect():
    with pytest.raises(ConfigurationError, match="tz_aware"):
        roleplay_models.connect(f"mongodb://127.0.0.1:{closed_port()}/roleplay", tz_aware=False)
