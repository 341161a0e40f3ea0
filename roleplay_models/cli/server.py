"""``roleplay-models server``: a local MongoDB-wire server to develop against, in one command."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from ..testing import (
    FERRETDB_VERSION,
    MONGO_JAVA_SERVER_VERSION,
    FerretDB,
    MongoJavaServer,
    TestServerUnavailable,
    port_in_use,
)

__all__ = ("DATABASE", "DEFAULT_DATA", "DEFAULT_PORT", "KINDS", "add_arguments", "run_server")

# The kinds in the order the default tries them: FerretDB first, as it keeps its data.
KINDS: dict[str, type[FerretDB | MongoJavaServer]] = {
    "ferretdb": FerretDB,
    "mongo-java-server": MongoJavaServer,
}
DEFAULT_PORT = 27017  # what rp.connect() uses without a URI
DEFAULT_DATA = Path(".roleplay-data")
DATABASE = "roleplay"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
NO_DATA_FOLDER = ("mongo-java-server keeps its data in memory only (its launcher has no file "
                  "backend), so it takes no --data")


class _Stop(Exception):
    """A stop signal arrived."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``server`` command's flags."""
    parser.add_argument(
        "--kind", choices=list(KINDS),
        help="which server to run (default: the first of ferretdb, mongo-java-server that "
             "works here, saying why the other was not used)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT,
        help=f"loopback port to listen on (default {DEFAULT_PORT}; 0 for a free one)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--data", metavar="DIR", type=Path,
        help=f"folder that keeps the data across restarts (default {DEFAULT_DATA}/<kind>); "
             "FerretDB only: " + NO_DATA_FOLDER.partition(", so")[0])
    where.add_argument(
        "--memory", action="store_true",
        help="keep nothing: FerretDB uses a temporary folder removed when it stops")


def _say(text: str) -> None:
    print(f"roleplay-models server: {text}", file=sys.stderr, flush=True)


def _started(kind: str, port: int, data: Path | None) -> FerretDB | MongoJavaServer:
    """A started server of ``kind`` (built or resolved first if needed, saying so)."""
    cls = KINDS[kind]
    if not cls.prepared():
        what = (f"building FerretDB {FERRETDB_VERSION} with Go" if cls is FerretDB else
                f"resolving mongo-java-server {MONGO_JAVA_SERVER_VERSION} with Maven")
        _say(f"{what}, once (cached for next time); this can take a few minutes")
    server = cls(port=port, data_dir=data)
    try:
        server.start(own_session=True)
    except BaseException:
        server.close()
        raise
    return server


def _start(args: argparse.Namespace) -> FerretDB | MongoJavaServer:
    """The server asked for, else the first kind that starts here, started."""
    if args.kind:
        return _started(args.kind, args.port, _data_dir(args, args.kind))
    try:
        server = _started("ferretdb", args.port, _data_dir(args, "ferretdb"))
    except TestServerUnavailable as err:
        reason = str(err).strip().replace("\n", " | ")[-600:]
        if args.data is not None:
            raise TestServerUnavailable(
                f"FerretDB cannot be used here ({reason}), and {NO_DATA_FOLDER}: "
                "leave out --data to run it in memory") from None
        _say(f"FerretDB cannot be used here ({reason}); using mongo-java-server")
        return _started("mongo-java-server", args.port, None)
    _say("using FerretDB: it comes first and works here (--kind mongo-java-server for the "
         "other)")
    return server


def _data_dir(args: argparse.Namespace, kind: str) -> Path | None:
    if args.memory or kind == "mongo-java-server":
        return None
    return args.data if args.data is not None else DEFAULT_DATA / kind


def _where(server: FerretDB | MongoJavaServer, memory: bool) -> str:
    if isinstance(server, MongoJavaServer):
        return "data in memory only: gone when it stops"
    if memory:
        return f"data in a temporary folder, removed when it stops ({server.data_dir})"
    return f"data kept in {server.data_dir}"


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def waited_for(process: subprocess.Popen[Any]) -> int:
    """``process.wait()`` in short steps, so that a stop signal's handler runs within a
    step: one that lands just before a blocking wait, or on another thread, trips only
    Python's flag and leaves the wait blocked until the process exits."""
    while True:
        try:
            return process.wait(timeout=0.25)
        except subprocess.TimeoutExpired:
            continue


def run_server(args: argparse.Namespace) -> int:
    """Start the server, print the URI to export, and run until SIGINT, SIGTERM or SIGHUP,
    then stop it and return 0; 1 if it cannot start or exits on its own. Refuses (exit 2)
    ``--data`` with mongo-java-server and a port out of range; a port in use is exit 1."""
    if not 0 <= args.port <= 65535:
        return _refuse(f"--port must be 0 to 65535, not {args.port}")
    if args.kind == "mongo-java-server" and args.data is not None:
        return _refuse(f"{NO_DATA_FOLDER}; leave it out, or use --kind ferretdb to keep the "
                       "data in a folder")
    if args.port and port_in_use(args.port):
        return _fail(f"port {args.port} on 127.0.0.1 is in use (a MongoDB running already?); "
                     "choose another with --port N, or --port 0 for a free one")
    previous: dict[signal.Signals, Any] = {
        sig: signal.signal(sig, _raise_stop) for sig in STOP_SIGNALS}
    server: FerretDB | MongoJavaServer | None = None
    stopped = False
    try:
        server = _start(args)
        assert server.process is not None
        _say(f"{server.name} (pid {server.process.pid}) on 127.0.0.1:{server.port}, "
             f"{_where(server, args.memory)}; log: {server.log_path}")
        _say("Ctrl-C stops it")
        print(f"export MONGODB_URI=mongodb://127.0.0.1:{server.port}/{DATABASE}", flush=True)
        status = waited_for(server.process)
        tail = "".join(server.log().splitlines(keepends=True)[-20:])
        return _fail(f"{server.name} exited on its own (status {status}); its log ends:\n{tail}")
    except TestServerUnavailable as err:
        return _fail(str(err).rstrip())
    except (_Stop, KeyboardInterrupt):
        stopped = True
        return 0
    finally:
        for sig in STOP_SIGNALS:  # a second Ctrl-C must not cut the stop short
            signal.signal(sig, signal.SIG_IGN)
        if server is not None:
            server.close()
        if stopped:
            _say("stopped")
        for stop_signal, handler in previous.items():
            signal.signal(stop_signal, handler)


def _refuse(message: str) -> int:
    print(f"roleplay-models server: error: {message}", file=sys.stderr)
    return 2


def _fail(message: str) -> int:
    print(f"roleplay-models server: error: {message}", file=sys.stderr)
    return 1
