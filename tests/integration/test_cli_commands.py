"""The operator's commands against the real server, run as a subprocess like a user would."""

from __future__ import annotations

import subprocess
import sys

import pytest

from roleplay_models import Character, RoleplaySession, RoleplayTip, Scenario, SessionAnalytics


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "roleplay_models", *args], input=stdin,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def uri(db, run_database_uri):
    return run_database_uri


def counts():
    return [m.objects.count() for m in (Scenario, Character, RoleplayTip, RoleplaySession,
                                        SessionAnalytics)]


def test_seed_is_idempotent_and_adds_sessions_in_bulk(uri):
    first = run("seed", "--uri", uri)
    assert first.returncode == 0, first.stderr
    catalog = counts()
    assert catalog[:3] == [4, 4, 6] and catalog[3:] == [0, 0]
    again = run("seed", "--uri", uri, "--sessions", "30")
    assert again.returncode == 0, again.stderr
    assert "created 0 scenarios, 0 characters, 0 tips" in again.stdout
    assert counts() == [4, 4, 6, 30, 30]
    assert "30/30 sessions" in again.stderr
    assert all(s.status in ("completed", "ended") for s in RoleplaySession.objects)


def test_check_passes_on_a_clean_database_and_counts_invalid_documents(uri):
    assert run("ensure-indexes", "--uri", uri).returncode == 0
    run("seed", "--uri", uri)
    clean = run("check", "--uri", uri)
    assert clean.returncode == 0 and "check: OK" in clean.stdout, clean.stdout
    Scenario._get_collection().insert_one({"scenario_id": "broken", "title": "   "})
    broken = run("check", "--uri", uri)
    assert broken.returncode == 1
    assert "scenarios: 5 documents, 1 failing validation" in broken.stdout


def test_stats_prints_counts_and_the_summary(uri):
    run("seed", "--uri", uri, "--sessions", "5")
    done = run("stats", "--uri", uri)
    assert done.returncode == 0, done.stderr
    assert "roleplaysessions: 5" in done.stdout and '"count": 5' in done.stdout


def test_shell_has_the_models_and_is_connected(uri):
    run("seed", "--uri", uri)
    done = run("shell", "--uri", uri, stdin="print('scenarios:', Scenario.objects.count())\n")
    assert done.returncode == 0, done.stderr
    assert "scenarios: 4" in done.stdout


@pytest.mark.parametrize("args", [
    ("seed", "--sessions", "-3"), ("seed", "--sessions", "many"), ("frobnicate",),
])
def test_bad_flags_are_one_line_and_non_zero(uri, args):
    done = run(*args, "--uri", uri)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert counts() == [0, 0, 0, 0, 0]


@pytest.mark.parametrize("command", ["seed", "check", "stats", "ensure-indexes"])
def test_an_unreachable_server_or_bad_uri_is_one_line(command):
    for uri in ("mongodb://ops:pa55word@127.0.0.1:9/roleplay", "not-a-uri"):
        done = run(command, "--uri", uri)
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        assert "Traceback" not in done.stderr and "pa55word" not in done.stderr


@pytest.mark.parametrize("command", ["seed", "ensure-indexes", "check", "stats", "shell", "demo"])
@pytest.mark.parametrize("before", [True, False], ids=["uri-first", "uri-last"])
def test_uri_means_the_same_before_or_after_the_command(uri, command, before, monkeypatch):
    """With $MONGODB_URI pointing nowhere, only the --uri given can make the command work."""
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:9/roleplay_elsewhere")
    args = ["--uri", uri, command] if before else [command, "--uri", uri]
    done = run(*args, stdin="print('scenarios:', Scenario.objects.count())\n")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Traceback" not in done.stderr and "IndexRefusedWarning" not in done.stderr
    if command in ("seed", "demo"):
        assert Scenario.objects.count() > 0  # written into the database --uri names
    if command == "shell":
        assert "scenarios: 0" in done.stdout
    if command == "check":
        assert "server: reachable" in done.stdout
    if command == "ensure-indexes":
        assert "ok       scenarios.scenario_id_1" in done.stdout
    if command == "stats":
        assert "roleplaysessions: 0" in done.stdout
