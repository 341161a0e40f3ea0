"""A throwaway FerretDB server (MongoDB wire protocol over SQLite) for tests and benchmarks.

FerretDB v1.24.2 is built once from the Go module proxy and cached. ``go
install ...@v1.24.2`` alone gives a binary that panics at start-up, since
the module lacks the ``build/version/version.txt`` its release builds
generate, so the module source is copied, that file written, and the
binary built with ``go build``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ("FERRETDB_VERSION", "FerretDB", "FerretDBUnavailable", "ferretdb_binary")

FERRETDB_VERSION = "v1.24.2"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"


class FerretDBUnavailable(RuntimeError):
    """FerretDB could not be built or started here; the message says why."""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "roleplay_models" / f"ferretdb-{FERRETDB_VERSION}"


def _run(command: list[str], cwd: str | None = None) -> str:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=1200)
    except FileNotFoundError:
        raise FerretDBUnavailable(
            f"{command[0]} is not installed; it is needed to build FerretDB") from None
    if done.returncode != 0:
        raise FerretDBUnavailable(f"{' '.join(command)} failed:\n{done.stderr[-4000:]}")
    return done.stdout


def _build(target: Path) -> None:
    module = f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"
    source = json.loads(_run(["go", "mod", "download", "-json", module]))["Dir"]
    with tempfile.TemporaryDirectory(prefix="ferretdb-src-") as work:
        tree = Path(work) / "src"
        shutil.copytree(source, tree)
        version_file = tree / "build" / "version" / "version.txt"
        for path in [tree, *tree.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        version_file.write_text(FERRETDB_VERSION + "\n")
        built = Path(work) / "ferretdb"
        _run(["go", "build", "-o", str(built), "./cmd/ferretdb"], cwd=str(tree))
        shutil.move(str(built), target)


def ferretdb_binary() -> Path:
    """The FerretDB binary: ``$ROLEPLAY_FERRETDB_BIN``, else the cached build, built if missing."""
    configured = os.environ.get("ROLEPLAY_FERRETDB_BIN")
    if configured:
        return Path(configured)
    cache = _cache_dir()
    binary = cache / "ferretdb"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build even when tox envs start together
        if not binary.exists():
            _build(binary)
    return binary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FerretDB:
    """A FerretDB process on a free loopback port with its own data directory.

    ``kill()`` ends it with SIGKILL and ``start()`` brings it back on the same
    port and data, for fault tests. Use as a context manager, or call
    ``start()`` and ``stop()``.
    """

    def __init__(self, binary: Path | None = None) -> None:
        self.binary = binary or ferretdb_binary()
        self.port = _free_port()
        self.data_dir = tempfile.mkdtemp(prefix="roleplay-ferretdb-")
        self.process: subprocess.Popen[bytes] | None = None
        self._log = open(os.path.join(self.data_dir, "ferretdb.log"), "ab")

    @property
    def uri(self) -> str:
        """A URI for the server, without a database name."""
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 30.0) -> None:
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "--handler=sqlite",
                f"--sqlite-url=file:{self.data_dir}/",
                f"--state-dir={self.data_dir}",
                f"--listen-addr=127.0.0.1:{self.port}",
                "--telemetry=disable",
                "--debug-addr=-",
                "--log-level=warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise FerretDBUnavailable(f"FerretDB exited at start:\n{self.log()[-4000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise FerretDBUnavailable(f"FerretDB did not listen within {timeout} s")

    def log(self) -> str:
        return Path(self.data_dir, "ferretdb.log").read_text(errors="replace")

    def kill(self) -> None:
        """End the server abruptly (SIGKILL), leaving its data directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def close(self) -> None:
        """Stop the server and remove its data directory."""
        self.stop()
        self._log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "FerretDB":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
