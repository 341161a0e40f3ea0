"""MongoDB-wire servers to develop and test against: FerretDB and mongo-java-server.

This module is a documented part of the package, shipped in the wheel on
purpose: ``roleplay-models server`` (:mod:`roleplay_models.cli.server`) runs
one of these servers to develop against, and the test suite and benchmarks
start them as throwaway servers. ``python -m roleplay_models.testing`` is
``roleplay-models server``.

Each runs as a child process on a loopback port (a free one unless given)
with its directory (data and log: a temporary one, removed by ``close()``,
unless given, when it is kept), is started with ``start()`` or as a context
manager, ``kill()`` ends it with SIGKILL and ``start()`` brings it back on the
same port. A server that cannot be built or started raises a
``TestServerUnavailable`` whose message says what is missing.

FerretDB v1.24.2 (MongoDB wire protocol over SQLite, in its directory) is
built once from the Go module proxy and cached. ``go install ...@v1.24.2``
alone gives a binary that panics at start-up, since the module lacks the
``build/version/version.txt`` its release builds generate, so the module
source is copied, that file written, and the binary built with ``go build``.

mongo-java-server 1.46.0 (in-memory backend: it keeps nothing on disk) runs
from ``launchers/MongoJavaServerLauncher.java`` in Java's source-file mode; its
classpath is resolved once with Maven from
``launchers/mongo-java-server.pom.xml`` and cached (the jars stay in
Maven's own repository). It needs Java 11+ and Maven.
``$ROLEPLAY_FERRETDB_BIN`` and ``$ROLEPLAY_MONGO_JAVA_SERVER_CLASSPATH``
replace the build and the resolution.

Both caches live under ``$XDG_CACHE_HOME/roleplay_models`` (default
``~/.cache``) and are filled under a file lock, so tox envs starting together
build or resolve once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import bson
from pymongo import monitoring

__all__ = (
    "CommandLog",
    "FERRETDB_VERSION",
    "MONGO_JAVA_SERVER_VERSION",
    "FerretDB",
    "FerretDBUnavailable",
    "MongoJavaServer",
    "MongoJavaServerUnavailable",
    "TestServerUnavailable",
    "ferretdb_binary",
    "mongo_java_server_classpath",
    "port_in_use",
)

FERRETDB_VERSION = "v1.24.2"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
MONGO_JAVA_SERVER_VERSION = "1.46.0"  # also pinned in launchers/mongo-java-server.pom.xml

LAUNCHERS = Path(__file__).with_name("launchers")


class TestServerUnavailable(RuntimeError):
    """A test server could not be built or started here; the message says why."""

    __test__ = False  # not a pytest test class, despite the name


class FerretDBUnavailable(TestServerUnavailable):
    """FerretDB could not be built or started here; the message says why."""


class MongoJavaServerUnavailable(TestServerUnavailable):
    """mongo-java-server could not be resolved or started here; the message says why."""


_Server = TypeVar("_Server", bound="_ServerProcess")


class CommandLog(monitoring.CommandListener):
    """Every command a client sends, for tests and benchmarks that count round trips or
    bytes: pass it in ``event_listeners=[log]`` when connecting."""

    def __init__(self) -> None:
        self.commands: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands.append(dict(event.command))

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass

    @property
    def names(self) -> list[str]:
        """The command names, in order (``find``, ``update``, ...)."""
        return [next(iter(command)) for command in self.commands]

    def sizes(self, name: str) -> list[int]:
        """The encoded size in bytes of each command called ``name``."""
        return [len(bson.encode(c)) for c in self.commands if next(iter(c)) == name]

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[dict[str, Any]]]:
        """Collect only the commands sent inside the block."""
        self.commands = []
        yield self.commands


def _cache_dir(name: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "roleplay_models" / name


def _cached(target: Path, make: Callable[[Path], None],
            usable: Callable[[Path], bool] = Path.exists) -> Path:
    """``target``, made by ``make(target)`` unless ``usable``; one maker at a time across processes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build even when tox envs start together
        if not usable(target):
            make(target)
    return target


def _run(command: list[str], unavailable: type[TestServerUnavailable], purpose: str,
         cwd: str | None = None) -> str:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=1200)
    except FileNotFoundError:
        raise unavailable(f"{command[0]} is not installed; it is needed {purpose}") from None
    if done.returncode != 0:
        output = (done.stderr + done.stdout)[-4000:]
        raise unavailable(f"{' '.join(command)} failed ({purpose}):\n{output}")
    return done.stdout


def _build_ferretdb(target: Path) -> None:
    purpose = "to build FerretDB"
    module = f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"
    source = json.loads(
        _run(["go", "mod", "download", "-json", module], FerretDBUnavailable, purpose))["Dir"]
    with tempfile.TemporaryDirectory(prefix="ferretdb-src-") as work:
        tree = Path(work) / "src"
        shutil.copytree(source, tree)
        version_file = tree / "build" / "version" / "version.txt"
        for path in [tree, *tree.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        version_file.write_text(FERRETDB_VERSION + "\n")
        built = Path(work) / "ferretdb"
        _run(["go", "build", "-o", str(built), "./cmd/ferretdb"], FerretDBUnavailable, purpose,
             cwd=str(tree))
        shutil.move(str(built), target)


def _ferretdb_cache() -> Path:
    return _cache_dir(f"ferretdb-{FERRETDB_VERSION}") / "ferretdb"


def ferretdb_binary() -> Path:
    """The FerretDB binary: ``$ROLEPLAY_FERRETDB_BIN``, else the cached build, built if missing."""
    configured = os.environ.get("ROLEPLAY_FERRETDB_BIN")
    if configured:
        return Path(configured)
    return _cached(_ferretdb_cache(), _build_ferretdb)


def _classpath_usable(path: Path) -> bool:
    # Maven's repository may have been cleaned since the classpath was cached.
    return path.exists() and all(Path(jar).exists() for jar in path.read_text().split(os.pathsep))


def _resolve_classpath(target: Path) -> None:
    partial = target.with_suffix(".partial")
    _run(["mvn", "-q", "-B", "-f", str(LAUNCHERS / "mongo-java-server.pom.xml"),
          "dependency:build-classpath", f"-Dmdep.outputFile={partial}"],
         MongoJavaServerUnavailable, "to resolve mongo-java-server's classpath")
    if not partial.exists() or not partial.read_text().strip():
        raise MongoJavaServerUnavailable("mvn dependency:build-classpath wrote no classpath")
    partial.replace(target)


def mongo_java_server_classpath() -> str:
    """mongo-java-server's classpath: ``$ROLEPLAY_MONGO_JAVA_SERVER_CLASSPATH``, else the
    cached one, resolved with Maven if missing or if a jar in it is gone."""
    configured = os.environ.get("ROLEPLAY_MONGO_JAVA_SERVER_CLASSPATH")
    if configured:
        return configured
    return _cached(_classpath_cache(), _resolve_classpath, _classpath_usable).read_text().strip()


def _classpath_cache() -> Path:
    return _cache_dir(f"mongo-java-server-{MONGO_JAVA_SERVER_VERSION}") / "classpath"


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = shutil.which("java", path=str(Path(home, "bin")) if home else None)
    if java is None:
        raise MongoJavaServerUnavailable(
            "java is not installed (JAVA_HOME or PATH); Java 11+ is needed to run "
            "mongo-java-server")
    return java


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int) -> bool:
    """Whether something listens on loopback ``port`` already (a server could not bind it)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


class _ServerProcess:
    """A server child process on a loopback port, with its directory and log.

    ``port``: a free one unless given. ``data_dir``: the server's directory
    (created if missing, kept by ``close()``); a temporary one, which
    ``close()`` removes, unless given. Subclasses give the command line, and
    may say how to tell it is ready (by default: the port accepts a
    connection). ``durable``: what was written survives ``kill()`` and
    ``start()``.
    """

    name: ClassVar[str]
    durable: ClassVar[bool]
    slug: ClassVar[str]
    unavailable: ClassVar[type[TestServerUnavailable]]
    start_timeout: ClassVar[float] = 30.0

    def __init__(self, port: int | None = None, data_dir: str | os.PathLike[str] | None = None
                 ) -> None:
        self.port = _free_port() if not port else port
        self._keeps_data_dir = data_dir is not None
        if data_dir is None:
            self.data_dir = tempfile.mkdtemp(prefix=f"roleplay-{self.slug}-")
        else:
            self.data_dir = str(Path(data_dir).resolve())
            Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        self._log_path = Path(self.data_dir, f"{self.slug}.log")
        self._log = open(self._log_path, "ab")

    @classmethod
    def prepared(cls) -> bool:
        """Whether starting one needs no build or download first (it is built or resolved,
        or its environment variable names it)."""
        raise NotImplementedError

    @property
    def log_path(self) -> Path:
        """The file the server's stdout and stderr go to, over all its starts."""
        return self._log_path

    @property
    def uri(self) -> str:
        """A URI for the server, without a database name."""
        return f"mongodb://127.0.0.1:{self.port}/"

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self, log_start: int) -> bool:
        """Whether the server accepts clients; ``log_start``: the log's size when it started."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def start(self, timeout: float | None = None, *, own_session: bool = False) -> None:
        """Start the server and wait until it accepts clients (``timeout`` in seconds).

        ``own_session``: the child gets a session of its own, so a terminal's Ctrl-C
        reaches only this process, which stops the child itself.
        """
        timeout = self.start_timeout if timeout is None else timeout
        log_start = self._log_path.stat().st_size
        command = self._command()
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                start_new_session=own_session)
        except OSError as err:
            raise self.unavailable(f"cannot run {command[0]}: {err.strerror}") from None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise self.unavailable(f"{self.name} exited at start:\n{self.log()[-4000:]}")
            if self._ready(log_start):
                return
            time.sleep(0.1)
        self.stop()
        raise self.unavailable(
            f"{self.name} did not listen within {timeout} s:\n{self.log()[-4000:]}")

    def log(self) -> str:
        """Everything the server wrote to stdout and stderr, over all its starts."""
        return self._log_path.read_text(errors="replace")

    def kill(self) -> None:
        """End the server abruptly (SIGKILL), leaving its directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """End the server with SIGTERM (SIGKILL if it has not exited within 10 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def close(self) -> None:
        """Stop the server and remove its directory, unless it was given."""
        self.stop()
        self._log.close()
        if not self._keeps_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self: _Server) -> _Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FerretDB(_ServerProcess):
    """FerretDB over SQLite in its own data directory.

    ``kill()`` then ``start()`` brings it back on the same port and data, for
    fault tests.
    """

    name = f"FerretDB {FERRETDB_VERSION}"
    slug = "ferretdb"
    durable = True
    unavailable = FerretDBUnavailable

    def __init__(self, binary: Path | None = None, *, port: int | None = None,
                 data_dir: str | os.PathLike[str] | None = None) -> None:
        self.binary = binary or ferretdb_binary()
        super().__init__(port, data_dir)

    @classmethod
    def prepared(cls) -> bool:
        return bool(os.environ.get("ROLEPLAY_FERRETDB_BIN")) or _ferretdb_cache().exists()

    def _command(self) -> list[str]:
        return [
            str(self.binary),
            "--handler=sqlite",
            f"--sqlite-url=file:{self.data_dir}/",
            f"--state-dir={self.data_dir}",
            f"--listen-addr=127.0.0.1:{self.port}",
            "--telemetry=disable",
            "--debug-addr=-",
            "--log-level=warn",
        ]


class MongoJavaServer(_ServerProcess):
    """mongo-java-server with its in-memory backend, reporting MongoDB 4.4 (wire version 9).

    Data lives only in the JVM (its directory holds only the log): ``kill()`` then
    ``start()`` brings it back on the same port but empty. A start takes about a second (the JVM, and
    compiling the launcher in memory).
    """

    name = f"mongo-java-server {MONGO_JAVA_SERVER_VERSION}"
    slug = "mongo-java-server"
    durable = False
    unavailable = MongoJavaServerUnavailable
    start_timeout = 60.0

    def __init__(self, classpath: str | None = None, *, port: int | None = None,
                 data_dir: str | os.PathLike[str] | None = None) -> None:
        self.java = _java()
        self.classpath = classpath or mongo_java_server_classpath()
        super().__init__(port, data_dir)

    @classmethod
    def prepared(cls) -> bool:
        return (bool(os.environ.get("ROLEPLAY_MONGO_JAVA_SERVER_CLASSPATH"))
                or _classpath_usable(_classpath_cache()))

    def _command(self) -> list[str]:
        return [
            self.java,
            "-XX:TieredStopAtLevel=1",  # JIT tiers that start fast; the server does little work
            "-Dslf4j.internal.verbosity=ERROR",  # no "no SLF4J providers" warning in the log
            "-cp", self.classpath,
            str(LAUNCHERS / "MongoJavaServerLauncher.java"),
            str(self.port),
        ]

    def _ready(self, log_start: int) -> bool:
        # The launcher prints this once bound: no mistaking another process on the port for it.
        with open(self._log_path, "rb") as log:
            log.seek(log_start)
            return f"listening 127.0.0.1:{self.port}".encode() in log.read()


if __name__ == "__main__":  # a library: the command is the command line's
    sys.exit("roleplay_models.testing is a library; run `roleplay-models server --help` "
             "(or `python -m roleplay_models server --help`)")
