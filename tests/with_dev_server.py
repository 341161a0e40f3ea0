"""Run a command with ``$MONGODB_URI`` pointed at a ``roleplay-models server`` started for it.

    python tests/with_dev_server.py ferretdb|mongo-java-server -- pytest tests

tox runs the suite this way on each server (``oldest``, ``javaserver``), so that it is shown to
pass through a URI, as on a user's own deployment, and on the development server the package
ships. The server runs in memory on a free port and is stopped (SIGINT, as Ctrl-C) when the
command ends; the exit status is the command's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

EXPORT = "export MONGODB_URI="


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    kind, command = argv[0], argv[2:]
    server = subprocess.Popen(
        [sys.executable, "-m", "roleplay_models", "server", "--kind", kind, "--memory",
         "--port", "0"],
        stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline() if server.stdout else ""
        if not line.startswith(EXPORT):
            print(f"roleplay-models server --kind {kind} did not start", file=sys.stderr)
            return 1
        uri = line[len(EXPORT):].strip()
        print(f"with_dev_server: {kind} at {uri}", file=sys.stderr, flush=True)
        return subprocess.call(command, env={**os.environ, "MONGODB_URI": uri})
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
