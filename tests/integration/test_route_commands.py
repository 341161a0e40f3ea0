"""The example apps' session routes, starting a session among them, send at most 3 commands on
a server with atomic updates and 4 on FerretDB v1 (the lease's insert and delete included),
however long the history, counted by a pymongo command listener on the real server."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from typing import Any

import bson
import pytest

import roleplay_models as rp
from roleplay_models.testing import CommandLog

import builders
from served_apps import EXAMPLES, SITE

flask = pytest.importorskip("flask")
sys.path.insert(0, str(EXAMPLES))
from flask_app import create_app  # noqa: E402

API = "/api/roleplay"
# name, method, path after /sessions/<id>, body, commands allowed beyond the budget: a turn
# repeated with its turn_id (a retry after a lost reply) reads the stored turn back
ROUTES = [
    ("turn", "patch", "", {"turn": {"role": "user", "text": "Hello"}, "turn_id": "t-1"}, 0),
    ("turn again", "patch", "", {"turn": {"role": "user", "text": "Hello"}, "turn_id": "t-1"}, 1),
    ("pause", "patch", "", {"status": "paused"}, 0),
    ("resume", "patch", "", {"status": "active"}, 0),
    ("end", "post", "/end", None, 0),
    ("end again", "post", "/end", None, 0),
]
# name, status answered, commands allowed beyond the budget for POST /sessions with a scenario,
# a character and a session_id: a repeat (a retry after a lost reply) reads the stored session
# after its insert is refused as a duplicate
STARTS = [("start", 201, 0), ("start again", 200, 1)]


class ReplyLog(CommandLog):
    """A CommandLog that also keeps the encoded size of each reply."""

    def __init__(self) -> None:
        super().__init__()
        self.reply_bytes: list[int] = []

    def succeeded(self, event: Any) -> None:
        self.reply_bytes.append(len(bson.encode(event.reply)))


def budget(client: Any) -> int:
    """At most 3 commands on a server with atomic updates, 4 where each write holds a lease."""
    return 3 if rp.server_facts(client).atomic_updates else 4


def within_budget(sent: dict[str, list[str]], most: int, routes: list[tuple] = ROUTES) -> bool:
    """Whether each route of ``routes`` sent at most ``most`` commands (and its extra)."""
    return all(len(sent[name]) <= most + extra for name, *_, extra in routes)


def reads_history(command: dict[str, Any]) -> bool:
    """Whether a find or an aggregation could return more of a session's history than one
    turn (a repeated turn reads the stored one back: unwound and matched by its id)."""
    if command.get("find") == "roleplaysessions":
        projection = command.get("projection") or {}
        if "conversation_history" in projection:
            return bool(projection["conversation_history"])
        return not any(projection.values())  # an inclusion projection leaves it out
    if command.get("aggregate") == "roleplaysessions":
        stages = [next(iter(stage.items())) for stage in command["pipeline"]]
        one_turn = any(
            (name, arg) == ("$unwind", "$conversation_history")
            and ("$match", "conversation_history._id") in
            [(after, next(iter(value), None)) for after, value in stages[n + 1:]]
            for n, (name, arg) in enumerate(stages))
        returns = any(name == "$project" and arg.get("conversation_history")
                      for name, arg in stages)
        return returns and not one_turn
    return False


def long_session(scenario: rp.Scenario, turns: int) -> rp.RoleplaySession:
    session = builders.session(scenario, user_id="rep-1")
    session.conversation_history = [
        rp.ConversationEntry(role="user" if n % 2 else "assistant", text=f"line {n}")
        for n in range(turns)]
    return session.save()


@pytest.fixture
def app(db, run_database_uri):
    log = ReplyLog()
    flask_app = create_app({"MONGODB_SETTINGS": {"host": run_database_uri, "tz_aware": True,
                                                 "event_listeners": [log]}})
    test_client = flask_app.test_client()
    assert test_client.get(f"{API}/sessions").status_code == 200  # indexes: first request
    client = flask_app.extensions["roleplay_models"]
    # server_facts remembers a client by equality (pymongo's, by address): an earlier test's
    # client, equal to this one, must not take this one's entry with it when it is collected
    gc.collect()
    rp.server_facts(client)  # asked once per client (once its indexes exist), before measuring
    return test_client, log, budget(client)


@pytest.mark.parametrize("turns", [0, 400])
def test_each_session_write_route_sends_at_most_its_budget_whatever_the_history(app, turns):
    client, log, most = app
    session = long_session(builders.scenario().save(), turns)
    sent: dict[str, list[str]] = {}
    for name, method, suffix, payload, _ in ROUTES:
        with log.recording() as commands:
            answer = getattr(client, method)(f"{API}/sessions/{session.session_id}{suffix}",
                                             json=payload)
        assert answer.status_code == 200 and answer.json["success"] is True, answer.json
        assert "conversation_history" not in answer.json["session"]
        assert not [c for c in commands if reads_history(c)], commands
        sent[name] = [next(iter(c)) for c in commands]
    assert within_budget(sent, most), sent
    stored = rp.RoleplaySession._get_collection().find_one({"_id": session.pk})
    assert len(stored["conversation_history"]) == turns + 1 and stored["status"] == "ended"


def test_starting_a_session_and_repeating_the_start_send_at_most_their_budget(app):
    client, log, most = app
    scenario = builders.scenario().save()
    character = builders.character([scenario]).save()
    payload = {"scenario_id": str(scenario.pk), "user_id": "rep-1",
               "character_id": str(character.pk), "session_id": builders.unique("session")}
    sent: dict[str, list[str]] = {}
    for name, status, _ in STARTS:
        with log.recording():
            answer = client.post(f"{API}/sessions", json=payload)
        assert answer.status_code == status and answer.json["success"] is True, answer.json
        assert answer.json["session"]["session_id"] == payload["session_id"]
        sent[name] = log.names
    assert within_budget(sent, most, STARTS), sent
    assert rp.RoleplaySession.objects(session_id=payload["session_id"]).count() == 1


def test_a_turn_sends_and_receives_the_same_for_a_short_and_a_long_history(app):
    client, log, _ = app
    scenario = builders.scenario().save()
    sent, received, answered = [], [], []
    for turns in (2, 600):
        session = long_session(scenario, turns)
        log.reply_bytes = []
        with log.recording() as commands:
            answer = client.patch(f"{API}/sessions/{session.session_id}",
                                  json={"turn": {"role": "user", "text": "Hi"}})
        sent.append([next(iter(c)) for c in commands])
        received.append(sum(log.reply_bytes))
        answered.append(len(answer.data))
    assert sent[0] == sent[1]
    # the ids and session_ids of the two differ by a few bytes; 598 turns are 30 KiB
    assert abs(received[1] - received[0]) < 64 and abs(answered[1] - answered[0]) < 64


def test_a_turn_answers_the_stored_entry_and_the_state_the_whole_session_shows(app):
    client, _, _ = app
    scenario = builders.scenario(title="Cold call").save()
    character = builders.character([scenario]).save()
    session = long_session(scenario, 3)
    session.character = character
    session.save()
    path = f"{API}/sessions/{session.session_id}"
    answer = client.patch(path, json={"turn": {"role": "user", "text": "Hello",
                                               "audio_duration": 1.5}, "turn_id": "t-9"}).json
    whole = client.get(path).json["session"]
    assert answer["turn"] == whole["conversation_history"][-1]
    assert answer["turn"]["text"] == "Hello" and answer["turn"]["audio_duration"] == 1.5
    state = answer["session"]
    # references are the ids the whole session populates; everything else is the same
    assert state["scenario_id"] == whole["scenario_id"]["id"] == str(scenario.pk)
    assert state["character_id"] == whole["character_id"]["id"] == str(character.pk)
    shown = {k: v for k, v in whole.items()
             if k not in ("conversation_history", "scenario_id", "character_id")}
    assert {k: v for k, v in state.items() if k not in ("scenario_id", "character_id")} == shown
    assert "metadata" not in state  # private, as in every listing
    paused = client.patch(path, json={"status": "paused"}).json["session"]
    assert paused["status"] == "paused" and paused["updated_at"] >= state["updated_at"]
    ended = client.post(f"{path}/end").json["session"]
    assert ended == {k: v for k, v in client.get(path).json["session"].items()
                     if k != "conversation_history"} | {"scenario_id": str(scenario.pk),
                                                         "character_id": str(character.pk)}


DJANGO_ROUTES = """
import json, sys
import settings
from roleplay_models.testing import CommandLog
log = CommandLog()
settings.MONGODB_SETTINGS = {**settings.MONGODB_SETTINGS, "event_listeners": [log]}
import django
django.setup()
from django.test import Client
import roleplay_models as rp
client, session_id, sent = Client(), sys.argv[1], {}
client.get("/api/roleplay/sessions/" + session_id)  # indexes: first request
rp.server_facts(rp.RoleplaySession._get_collection().database.client)
for name, method, suffix, payload, _ in json.loads(sys.argv[2]):
    log.commands = []
    answer = getattr(client, method)("/api/roleplay/sessions/" + session_id + suffix,
                                     json.dumps(payload), content_type="application/json")
    body = answer.json()
    assert answer.status_code == 200 and body["success"], body
    assert "conversation_history" not in body["session"], body
    sent[name] = log.names
print(json.dumps(sent))
"""


def test_the_django_site_sends_the_same_commands_as_the_flask_app(app, run_database_uri):
    client, log, most = app
    scenario = builders.scenario().save()
    flask_sent = {}
    session = long_session(scenario, 300)
    for name, method, suffix, payload, _ in ROUTES:
        with log.recording():
            getattr(client, method)(f"{API}/sessions/{session.session_id}{suffix}", json=payload)
        flask_sent[name] = log.names
    session = long_session(scenario, 300)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings", "MONGODB_URI": run_database_uri,
           "PYTHONPATH": os.pathsep.join([str(SITE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", DJANGO_ROUTES, session.session_id,
                           json.dumps(ROUTES)], env=env, capture_output=True, text=True,
                          timeout=120, cwd=SITE)
    assert done.returncode == 0, done.stderr
    django_sent = json.loads(done.stdout.strip().splitlines()[-1])
    assert django_sent == flask_sent
    assert within_budget(django_sent, most), django_sent
    print(f"\ncommands per route: {django_sent}")

