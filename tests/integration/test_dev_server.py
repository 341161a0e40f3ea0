"""``roleplay-models server`` run as a user runs it: a real subprocess, filled by ``demo``,
reached by pymongo, stopped by a signal; for both kinds of server."""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pymongo
import pytest

from roleplay_models.testing import FerretDB, MongoJavaServer, TestServerUnavailable

from conftest import no_server

KINDS = ["ferretdb", "mongo-java-server"]
STARTED = re.compile(r"\(pid (\d+)\) on 127\.0\.0\.1:(\d+)")


def prepare(kind: str) -> None:
    """Build or resolve the server as the suite does, or skip (fail under
    ROLEPLAY_REQUIRE_SERVER=1) naming what is missing."""
    try:
        {"ferretdb": FerretDB, "mongo-java-server": MongoJavaServer}[kind]().close()
    except TestServerUnavailable as err:
        reason = str(err)
    else:
        return
    no_server(f"roleplay-models server --kind {kind}: {reason}")


class DevServer:
    """``roleplay-models server ARGS`` as a child process; ``uri`` once it printed one."""

    def __init__(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "roleplay_models", "server", *args], cwd=cwd,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})})
        self.stderr = ""
        self.uri = self._read_uri(timeout=120)

    def _read_uri(self, timeout: float) -> str:
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if selector.select(deadline - time.monotonic()):
                    line = self.process.stdout.readline()
                    if line.startswith("export MONGODB_URI="):
                        return line.strip().partition("=")[2]
                    if not line:  # it exited
                        break
        self.process.kill()
        _, err = self.process.communicate(timeout=30)
        raise AssertionError(f"no URI printed; stderr:\n{err}")

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Send ``signum``; the exit status (stderr in ``self.stderr``)."""
        self.process.send_signal(signum)
        out, self.stderr = self.process.communicate(timeout=60)
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=30)


@pytest.fixture
def start(tmp_path):
    started: list[DevServer] = []

    def start(*args: str, env: dict[str, str] | None = None) -> DevServer:
        server = DevServer(*args, cwd=tmp_path, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def demo(uri: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "roleplay_models", "demo", "--uri", uri],
                          capture_output=True, text=True, timeout=300)


def scenario_count(uri: str) -> int:
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        return client.get_default_database()["scenarios"].count_documents({})


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # Still in the process table only as a zombie nobody has reaped yet: not running.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" in status.read_text()


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_memory_server_takes_the_demo_and_a_signal_stops_it_and_its_child(
        start, tmp_path, kind, signum):
    prepare(kind)
    server = start("--kind", kind, "--memory", "--port", "0")
    assert re.fullmatch(r"mongodb://127\.0\.0\.1:\d+/roleplay", server.uri)
    filled = demo(server.uri)
    assert filled.returncode == 0, filled.stderr
    assert "Analysis: overall 7.5/10" in filled.stdout
    assert scenario_count(server.uri) == 4
    assert server.stop(signum) == 0, server.stderr
    pid, port = map(int, STARTED.search(server.stderr).groups())
    assert gone(pid) and refused(port), server.stderr
    assert "roleplay-models server: stopped" in server.stderr
    assert list(tmp_path.iterdir()) == []  # --memory: nothing written where it ran
    if kind == "ferretdb":  # its temporary folder is removed
        folder = re.search(r"removed when it stops \((.+?)\)", server.stderr).group(1)
        assert not Path(folder).exists()
    else:
        assert "data in memory only" in server.stderr


def test_ferretdb_keeps_its_data_folder_across_a_restart(start, tmp_path):
    prepare("ferretdb")
    first = start("--kind", "ferretdb", "--data", "kept", "--port", "0")
    assert demo(first.uri).returncode == 0
    assert first.stop() == 0, first.stderr
    assert f"data kept in {tmp_path / 'kept'}" in first.stderr
    again = start("--kind", "ferretdb", "--data", "kept", "--port", "0")
    assert scenario_count(again.uri) == 4
    refilled = demo(again.uri)  # the demo wants an empty database: it is not
    assert refilled.returncode == 1 and "has data" in refilled.stderr
    assert again.stop() == 0


def test_the_default_is_ferretdb_kept_in_dot_roleplay_data_saying_why(start, tmp_path):
    prepare("ferretdb")
    server = start("--port", "0")
    assert server.stop() == 0
    assert "using FerretDB: it comes first and works here" in server.stderr
    assert "--kind mongo-java-server for the other" in server.stderr
    assert (tmp_path / ".roleplay-data" / "ferretdb").is_dir()


def test_without_ferretdb_the_default_is_mongo_java_server_saying_why(start, tmp_path):
    prepare("mongo-java-server")
    missing = tmp_path / "no-ferretdb-here"
    server = start("--port", "0", env={"ROLEPLAY_FERRETDB_BIN": str(missing)})
    assert demo(server.uri).returncode == 0
    assert server.stop() == 0
    assert f"FerretDB cannot be used here (cannot run {missing}" in server.stderr
    assert "using mongo-java-server" in server.stderr and "data in memory only" in server.stderr


def test_without_ferretdb_a_data_folder_is_refused_rather_than_ignored(tmp_path):
    missing = tmp_path / "no-ferretdb-here"
    done = subprocess.run(
        [sys.executable, "-m", "roleplay_models", "server", "--port", "0", "--data", "kept"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "ROLEPLAY_FERRETDB_BIN": str(missing)})
    assert done.returncode == 1 and done.stdout == ""
    assert "FerretDB cannot be used here" in done.stderr
    assert "mongo-java-server keeps its data in memory only" in done.stderr


def test_a_server_that_cannot_start_is_exit_1_with_its_reason(tmp_path):
    not_a_server = tmp_path / "ferretdb"
    not_a_server.write_text("#!/bin/sh\necho 'no such flag' >&2\nexit 3\n")
    not_a_server.chmod(0o755)
    done = subprocess.run(
        [sys.executable, "-m", "roleplay_models", "server", "--kind", "ferretdb", "--memory",
         "--port", "0"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "ROLEPLAY_FERRETDB_BIN": str(not_a_server)})
    assert done.returncode == 1 and done.stdout == "", done.stderr
    assert f"{FerretDB.name} exited at start" in done.stderr and "no such flag" in done.stderr
