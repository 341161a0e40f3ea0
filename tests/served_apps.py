"""The example apps served over real HTTP, each by werkzeug in a process of its own."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ("API", "App", "EXAMPLES", "SITE", "served")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SITE = EXAMPLES / "django_site"
API = "/api/roleplay"

# Each app is served by werkzeug in a process of its own on a free port, which it prints.
SERVE = """
import logging, sys
from werkzeug.serving import make_server
logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
logging.getLogger("roleplay_models.web").setLevel(logging.INFO)
if sys.argv[1] == "flask":
    from flask_app import create_app
    app = create_app({"MONGODB_URI": sys.argv[2]})
else:
    from wsgi import application as app
server = make_server("127.0.0.1", 0, app, threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""


class App:
    """One example app in its own process, and what it logged."""

    def __init__(self, kind: str, uri: str) -> None:
        env = {**os.environ, "MONGODB_URI": uri, "DJANGO_SETTINGS_MODULE": "settings",
               "PYTHONPATH": os.pathsep.join([str(EXAMPLES), str(SITE), os.environ.get("PYTHONPATH", "")])}
        self.kind = kind
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVE, kind, uri], env=env, cwd=SITE, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.strip().isdigit():
            self.process.kill()
            raise AssertionError(f"the {kind} app did not start: {self.process.communicate()[1]}")
        self.port = int(line)
        self._log: str | None = None

    def call(self, method: str, path: str, payload: Any = None) -> tuple[int, dict[str, Any]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        body = None if payload is None else json.dumps(payload)
        connection.request(method, API + path, body=body,
                           headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        data = answer.read()
        connection.close()
        assert answer.getheader("Content-Type", "").startswith("application/json"), data[:300]
        return answer.status, json.loads(data)

    def stop(self) -> str:
        """Stop the process; what it logged."""
        if self._log is None:
            self.process.terminate()
            self._log = self.process.communicate(timeout=30)[1]
        return self._log


def served(kind: str, uri: str) -> Iterator[App]:
    app = App(kind, uri)
    try:
        yield app
    finally:
        app.stop()


