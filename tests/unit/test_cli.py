"""The command line, run as a user would run it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading

import pytest

from roleplay_models.cli.server import waited_for


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "roleplay_models", *args], input=stdin,
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
    assert "run `roleplay-models server`" in done.stderr and "MONGODB_URI" in done.stderr


def test_bad_flags_exit_non_zero_without_a_traceback():
    done = run("demo", "--no-such-flag")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_a_bad_audit_batch_size_is_one_line_and_exit_2():
    done = run("audit", "--uri", "mongomock://localhost/audited", "--batch-size", "0")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--batch-size must be 1 or more" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [("--bogus",), ("--bogus", "demo"), ("demo", "--bogus")])
def test_an_unknown_option_is_named_as_such(args):
    done = run(*args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "unrecognized arguments: --bogus" in done.stderr and "required" not in done.stderr


def test_no_command_says_a_command_is_required():
    done = run()
    assert done.returncode == 2 and "the following arguments are required: COMMAND" in done.stderr


def test_an_error_in_the_plain_shell_is_not_chained_to_the_missing_ipython():
    without_ipython = ("import sys; sys.modules['IPython'] = None; "  # import IPython now fails
                       "from roleplay_models.cli import main; "
                       "raise SystemExit(main(['--uri', 'mongomock://localhost/shell', 'shell']))")
    done = subprocess.run([sys.executable, "-c", without_ipython], input="1/0\nprint('after')\n",
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ZeroDivisionError: division by zero" in done.stderr and "after" in done.stdout
    assert "IPython" not in done.stderr and "During handling" not in done.stderr


def test_python_m_roleplay_models_testing_points_at_the_server_command():
    done = subprocess.run([sys.executable, "-m", "roleplay_models.testing", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert "run `roleplay-models server --help`" in done.stderr
    served = subprocess.run([sys.executable, "-m", "roleplay_models", "server", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert served.returncode == 0, served.stderr
    assert served.stdout.startswith("usage: roleplay-models server")
    assert "--kind {ferretdb,mongo-java-server}" in served.stdout and "--memory" in served.stdout


def test_server_refuses_a_data_folder_for_mongo_java_server_and_creates_none(tmp_path):
    folder = tmp_path / "data"
    done = run("server", "--kind", "mongo-java-server", "--data", str(folder), "--port", "0")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "mongo-java-server keeps its data in memory only" in done.stderr
    assert "--kind ferretdb" in done.stderr and not folder.exists() and done.stdout == ""


@pytest.mark.parametrize("args, says", [
    (("--data", "d", "--memory"), "not allowed with argument"),
    (("--port", "70000"), "--port must be 0 to 65535, not 70000"),
    (("--port", "-1"), "--port must be 0 to 65535, not -1"),
    (("--kind", "mongod"), "invalid choice: 'mongod'"),
    (("--uri", "mongodb://x/y"), "unrecognized arguments: --uri"),
])
def test_server_refuses_bad_flags_with_exit_2(tmp_path, args, says):
    done = subprocess.run([sys.executable, "-m", "roleplay_models", "server", *args],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == [] and done.stdout == ""


def test_server_on_a_port_in_use_says_so_and_starts_nothing(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "roleplay_models", "server", "--port",
                               str(port)], capture_output=True, text=True, timeout=120,
                              cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == "", done.stderr
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr and "--port 0" in done.stderr
    assert list(tmp_path.iterdir()) == []  # no data folder made


class Stopped(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise Stopped


def test_the_servers_wait_ends_on_a_stop_signal_taken_by_another_thread():
    # a signal sent to the process may be taken by any thread not blocking it: its handler
    # then runs on the main thread at the main thread's next step, which a blocking wait
    # for the server never takes (the dev server's stop once hung that way)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(20)"])
    previous = signal.signal(signal.SIGUSR1, _stop)
    # sent once the main thread waits (a thread's signal mask is its creator's: made here,
    # before the main thread blocks the signal, it takes it)
    sender = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGUSR1))
    try:
        with pytest.raises(Stopped):
            sender.start()
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
            waited_for(child)
        assert child.poll() is None  # stopped while the server still runs
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})
        signal.signal(signal.SIGUSR1, previous)
        sender.cancel()
        child.kill()
        child.wait()
