"""The Django example: AppConfig.ready() connects lazily from settings, and a view serves JSON."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import builders

pytest.importorskip("django")
SITE = Path(__file__).resolve().parents[2] / "examples" / "django_site"

SCRIPT = """
import django, json
django.setup()
from django.test import Client
response = Client().get("/api/roleplay/scenarios?search=talk")
print(response.status_code, json.dumps(response.json()))
"""


def site_env(uri: str) -> dict[str, str]:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "settings", "MONGODB_URI": uri,
            "PYTHONPATH": os.pathsep.join([str(SITE), os.environ.get("PYTHONPATH", "")])}


def test_the_app_connects_on_ready_and_serves_scenarios(db, run_database_uri):
    builders.scenario(title="Budget talk").save()
    builders.scenario(title="Other").save()
    env = site_env(run_database_uri)
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=120, cwd=SITE)
    assert done.returncode == 0, done.stderr
    status, _, payload = done.stdout.strip().partition(" ")
    assert status == "200" and '"title": "Budget talk"' in payload and "Other" not in payload


def test_a_bad_uri_in_settings_fails_at_startup(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import django; django.setup()"],
                          env=site_env("mongodb://127.0.0.1:9"), capture_output=True, text=True,
                          timeout=60, cwd=SITE)
    assert done.returncode != 0 and "names no database" in done.stderr


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_manage_py_check_passes_while_the_database_is_down():
    uri = f"mongodb://127.0.0.1:{closed_port()}/roleplay_test_down?serverSelectionTimeoutMS=30000"
    done = subprocess.run([sys.executable, "manage.py", "check"], env=site_env(uri),
                          capture_output=True, text=True, timeout=60, cwd=SITE)
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout


WITHOUT_MIDDLEWARE = """
import django
from django.conf import settings
from django.core.management import call_command
settings.configure(INSTALLED_APPS=["roleplay_models.django.RoleplayModelsConfig"],
                   MONGODB_URI="mongodb://127.0.0.1:9/roleplay_test_down")
django.setup()
call_command("check")
"""


def test_check_warns_when_the_error_middleware_is_missing():
    done = subprocess.run([sys.executable, "-c", WITHOUT_MIDDLEWARE], env=site_env(""),
                          capture_output=True, text=True, timeout=60, cwd=SITE)
    assert done.returncode == 0, done.stderr
    assert "roleplay_models.W001" in done.stderr and "RoleplayErrorsMiddleware" in done.stderr
