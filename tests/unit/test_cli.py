"""The command line, run as a user would run it."""

from __future__ import annotations

import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "roleplay_models", *args],
                          capture_output=True, text=True, timeout=120)


def test_demo_prints_the_catalog_and_the_finished_session():
    done = run("demo")
    assert done.returncode == 0, done.stderr
    for text in ("Scenarios", "Dana Whitfield (CFO)", "Session session_demo (completed",
                 "Analysis: overall 7.5/10"):
        assert text in done.stdout


def test_seed_adds_sessions_in_bulk_on_the_embedded_backend_with_progress():
    done = run("--uri", "mongomock://localhost/seeded", "seed", "--sessions", "3")
    assert done.returncode == 0, done.stderr
    assert "sessions: added 3 finished sessions with analyses" in done.stdout
    assert "3/3 sessions" in done.stderr


def test_an_unreachable_server_is_one_line_and_a_non_zero_exit():
    done = run("demo", "--uri", "mongodb://u:hunter2@127.0.0.1:9/db")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "hunter2" not in done.stderr and "cannot reach MongoDB" in done.stderr


def test_bad_flags_exit_non_zero_without_a_traceback():
    done = run("demo", "--no-such-flag")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_a_bad_audit_batch_size_is_one_line_and_exit_2():
    done = run("audit", "--uri", "mongomock://localhost/audited", "--batch-size", "0")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--batch-size must be 1 or more" in done.stderr and "Traceback" not in done.stderr
