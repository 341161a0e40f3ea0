"""The Django example: AppConfig.ready() connects from settings, and a view serves JSON."""

from __future__ import annotations

import os
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


def test_the_app_connects_on_ready_and_serves_scenarios(db, run_database_uri):
    builders.scenario(title="Budget talk").save()
    builders.scenario(title="Other").save()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings", "MONGODB_URI": run_database_uri,
           "PYTHONPATH": str(SITE)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=120, cwd=SITE)
    assert done.returncode == 0, done.stderr
    status, _, payload = done.stdout.strip().partition(" ")
    assert status == "200" and '"title": "Budget talk"' in payload and "Other" not in payload


def test_a_bad_uri_in_settings_fails_at_startup(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings", "PYTHONPATH": str(SITE),
           "MONGODB_URI": "mongodb://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=SITE)
    assert done.returncode != 0 and "names no database" in done.stderr
