"""``roleplay-models audit`` and ``rp.audit()`` on a real server: planted faults of every kind
are reported exactly, a clean database passes, and nothing is ever written."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
import warnings

import pytest
from bson import ObjectId
from bson.datetime_ms import DatetimeMS

import roleplay_models as rp
from roleplay_models.cli.seed import seed_catalog, seed_sessions
from roleplay_models.testing import CommandLog

from conftest import TEST_DB_PREFIX, with_database

# What an audit may send: reads only (and the cursor and session bookkeeping of reads).
READ_COMMANDS = {"find", "getMore", "aggregate", "listIndexes", "listCollections", "count",
                 "buildInfo", "ping", "killCursors", "endSessions"}
NO_TEXT_SEARCH = ("this server has no text search; search() matches words with a "
                  "case-insensitive pattern instead")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "roleplay_models", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def audited_uri(server_uri):
    """A database of its own (indexes are dropped and added here), seeded, dropped afterwards."""
    name = f"{TEST_DB_PREFIX}audit_{uuid.uuid4().hex[:8]}"
    uri = with_database(server_uri, name)
    log = CommandLog()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rp.IndexRefusedWarning)
        client = rp.connect(uri, event_listeners=[log])
    seed_catalog()
    seed_sessions(3, out=io.StringIO())
    sent_by_this_process[:] = [log]
    yield uri
    client = rp.connect(uri, ensure_indexes=False)
    client.drop_database(name)
    rp.disconnect()


sent_by_this_process: list[CommandLog] = []  # the command log of the fixture's connection


def database():
    return rp.Scenario._get_db()


def drop_index(collection: str, keys: dict) -> None:
    # By key spec, on this collection only: mongo-java-server drops an index *name* from
    # every collection that has one (bwaldvogel/mongo-java-server#246), and these names
    # (session_id_1, role_1) are shared.
    database().command("dropIndexes", collection, index=keys)


def snapshot() -> dict:
    """Every collection's documents as stored bytes, in _id order, and its indexes."""
    db = database()
    return {name: ([bytes(batch) for batch in db[name].find_raw_batches(sort=[("_id", 1)])],
                   sorted(str(sorted(i.items())) for i in db[name].list_indexes()))
            for name in sorted(db.list_collection_names())}


def text_index_missing() -> bool:
    return not any("text" in dict(info["key"]).values() or "_fts" in info["key"]
                   for info in rp.Scenario._get_collection().list_indexes())


def plant_faults() -> dict:
    """One fault of each kind, written with raw pymongo; returns the JSON the audit must give."""
    db = database()
    ids = {}

    def insert(collection, document):
        document.setdefault("_id", ObjectId())
        db[collection].insert_one(document)
        return str(document["_id"])

    scenario = db.scenarios.find_one({"scenario_id": "cold-call-cfo"})
    ids["required"] = insert("scenarios", {"scenario_id": "no-description", "title": "T",
                                           "llmPrompt": "p", "is_active": True})
    ids["far_date"] = insert("scenarios", {"scenario_id": "far-future", "title": "T",
                                           "description": "d", "llmPrompt": "p",
                                           "createdAt": DatetimeMS(2**62)})
    db.scenarios.update_one({"_id": scenario["_id"]}, {"$set": {"legacy_flag": True}})
    ids["unknown"] = str(scenario["_id"])

    character = db.characters.find_one({"name": "Dana Whitfield"})
    ids["boolean"] = insert("characters", {**character, "_id": ObjectId(), "name": "Copy",
                                           "is_active": "yes"})
    ids["dangling_list"] = insert("characters", {
        **character, "_id": ObjectId(), "name": "Lost",
        "scenario_ids": [scenario["_id"], ObjectId()]})
    ids["not_a_string"] = insert("characters", {**character, "_id": ObjectId(), "role": 5})
    drop_index("characters", {"role": 1})

    session = db.roleplaysessions.find_one()
    turns = session["conversation_history"]
    ids["turn_role"] = insert("roleplaysessions", {
        **session, "_id": ObjectId(), "session_id": "session_bad_turn",
        "conversation_history": [{**turns[0], "role": "bot"}, *turns[1:]]})
    ids["turn_key"] = insert("roleplaysessions", {
        **session, "_id": ObjectId(), "session_id": "session_turn_key",
        "conversation_history": [{**turns[0], "mood": "calm"}, *turns[1:]]})
    ids["long_turn"] = insert("roleplaysessions", {
        **session, "_id": ObjectId(), "session_id": "session_long_turn",
        "conversation_history": [{**turns[0], "text": "x" * 9000}, *turns[1:]]})
    ids["metadata"] = insert("roleplaysessions", {
        **session, "_id": ObjectId(), "session_id": "session_bad_metadata",
        "metadata": "web", "start_time": "yesterday"})
    ids["dangling"] = insert("roleplaysessions", {
        **session, "_id": ObjectId(), "session_id": "session_dangling",
        "scenario_id": ObjectId()})
    drop_index("roleplaysessions", {"session_id": 1})
    twins = [insert("roleplaysessions", {**session, "_id": ObjectId(), "session_id": "session_twin"})
             for _ in range(2)]

    analysis = db.sessionanalytics.find_one()
    ids["range"] = insert("sessionanalytics", {**analysis, "_id": ObjectId(),
                                               "session_id": "s-range", "overall_score": 11})

    tip = db.roleplaytips.find_one()
    ids["choice"] = insert("roleplaytips", {**tip, "_id": ObjectId(), "category": "gossip"})
    db.roleplaytips.create_index([("legacy_flag", 1)])

    def finding(field, rule, *keys):
        return {"field": field, "rule": rule, "count": len(keys),
                "first_ids": sorted(ids[k] for k in keys)}

    def model(collection, documents, invalid_documents=0, invalid=(), unknown_keys=(),
              missing_references=(), duplicates=(), missing_indexes=(), extra_indexes=()):
        problems = (len(invalid) + len(unknown_keys) + len(missing_references) + len(duplicates)
                    + sum(i["counted"] for i in missing_indexes) + len(extra_indexes))
        return {"collection": collection, "documents": documents,
                "invalid_documents": invalid_documents, "invalid": list(invalid),
                "unknown_keys": list(unknown_keys), "missing_references": list(missing_references),
                "duplicates": list(duplicates), "missing_indexes": list(missing_indexes),
                "extra_indexes": list(extra_indexes), "problems": problems}

    def index(keys, counted=True, note=""):
        return {"keys": [list(pair) for pair in keys], "counted": counted, "note": note}

    text = [index([["title", "text"], ["description", "text"]], False, NO_TEXT_SEARCH)]
    models = {
        "Scenario": model(
            "scenarios", 6, 2,
            invalid=[finding("createdAt", "Date field only accepts datetime values", "far_date"),
                     finding("description", "required", "required")],
            unknown_keys=[finding("legacy_flag", "unknown key", "unknown")],
            missing_indexes=text if text_index_missing() else []),
        "Character": model(
            "characters", 7, 2,
            invalid=[finding("is_active", "not true or false", "boolean"),
                     finding("role", "StringField only accepts string values", "not_a_string")],
            missing_references=[finding("scenario_ids", "refers to a missing Scenario",
                                        "dangling_list")],
            missing_indexes=[index([["role", 1]])]),
        "RoleplaySession": model(
            "roleplaysessions", 10, 3,
            invalid=[
                finding("conversation_history[].role", "not one of ('user', 'assistant')",
                        "turn_role"),
                finding("conversation_history[].text", "over 8192 bytes of UTF-8", "long_turn"),
                finding("metadata", "cannot be loaded: not an embedded document", "metadata"),
                finding("start_time", "Date field only accepts datetime values", "metadata")],
            unknown_keys=[finding("conversation_history[].mood", "unknown key", "turn_key")],
            missing_references=[finding("scenario_id", "refers to a missing Scenario",
                                        "dangling")],
            duplicates=[{"field": "session_id", "value": "session_twin", "count": 2,
                         "first_ids": sorted(twins)}],
            missing_indexes=[index([["session_id", 1]])]),
        "SessionAnalytics": model(
            "sessionanalytics", 4, 1,
            invalid=[finding("overall_score", "Number must be at most 10", "range")]),
        "RoleplayTip": model(
            "roleplaytips", 7, 1,
            invalid=[finding("category", "not one of ('objection_handling', 'rapport_building', "
                                         "'closing', 'discovery', 'presentation')", "choice")],
            extra_indexes=[index([["legacy_flag", 1]])]),
    }
    return {"version": 1, "clean": False, "problems": sum(m["problems"] for m in models.values()),
            "models": models}


def comparable(report: dict) -> dict:
    """The report without the server's name, ids sorted (they are listed in the order read)."""
    report = json.loads(json.dumps(report))
    report.pop("server")
    for found in report["models"].values():
        for kind in ("invalid", "unknown_keys", "missing_references", "duplicates"):
            for finding in found[kind]:
                finding["first_ids"].sort()
    return report


def test_every_planted_fault_is_reported_exactly_and_nothing_is_written(audited_uri):
    expected = plant_faults()
    log = sent_by_this_process[0]
    before = snapshot()
    with log.recording() as sent:
        report = rp.audit(batch_size=2)  # several batches per collection
    assert comparable(report.as_json()) == expected
    assert not report.clean and report.problems == expected["problems"]
    assert set(next(iter(command)) for command in sent) <= READ_COMMANDS
    assert snapshot() == before


def counted(commands: list[dict]) -> list[str]:
    """The collections whose documents ``commands`` count, each as the server answers sooner:
    the count command (estimated_document_count) or count_documents' aggregate."""
    every = [{"$match": {}}, {"$group": {"_id": 1, "n": {"$sum": 1}}}]
    return sorted(c["count"] if "count" in c else c["aggregate"] for c in commands
                  if "count" in c or c.get("pipeline") == every)


def test_the_collections_are_counted_only_for_a_progress_report(audited_uri):
    # a count reads every document on FerretDB v1: an audit that reports no progress
    # does not ask for one
    log = sent_by_this_process[0]
    with log.recording() as quiet:
        rp.audit()
    shown: list[tuple[int, int]] = []
    with log.recording() as reported:
        report = rp.audit(progress=lambda done, total: shown.append((done, total)))
    assert counted(quiet) == []
    assert counted(reported) == sorted(model._get_collection_name() for model in rp.MODELS)
    documents = sum(model.documents for model in report.models)
    assert documents > 0 and shown[-1] == (documents, documents)


def test_the_command_prints_the_same_findings_as_text_and_json_and_exits_1(audited_uri):
    expected = plant_faults()
    before = snapshot()
    as_json = run("audit", "--uri", audited_uri, "--json")
    as_text = run("audit", "--uri", audited_uri, "--batch-size", "3")
    assert as_json.returncode == 1 and as_text.returncode == 1, as_json.stderr + as_text.stderr
    assert comparable(json.loads(as_json.stdout)) == expected
    assert snapshot() == before
    total = sum(m["documents"] for m in expected["models"].values())
    assert f"{total}/{total} documents" in as_text.stderr and "Traceback" not in as_text.stderr
    lines = as_text.stdout.splitlines()
    assert lines[0].startswith("server: ") and lines[-1] == f"audit: {expected['problems']} problems found"
    assert "  refused by the models: 3 documents" in lines
    assert "    conversation_history[].text: over 8192 bytes of UTF-8: 1 (%s)" % (
        expected["models"]["RoleplaySession"]["invalid"][1]["first_ids"][0]) in lines
    twins = expected["models"]["RoleplaySession"]["duplicates"][0]["first_ids"]
    assert [line for line in lines if "session_twin" in line] in (
        [f"    session_id = 'session_twin': 2 ({twins[0]}, {twins[1]})"],
        [f"    session_id = 'session_twin': 2 ({twins[1]}, {twins[0]})"])
    assert "  missing index (role:1)" in lines and "  extra index (legacy_flag:1)" in lines
    finding_lines = [line for line in lines if line.startswith("    ")]
    findings = sum(len(m[kind]) for m in expected["models"].values()
                   for kind in ("invalid", "unknown_keys", "missing_references", "duplicates"))
    assert len(finding_lines) == findings  # not one more


def test_a_clean_seeded_database_passes_with_exit_0(audited_uri):
    before = snapshot()
    done = run("audit", "--uri", audited_uri)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "audit: clean"
    assert "roleplaysessions (RoleplaySession): 3 documents read" in done.stdout
    as_json = json.loads(run("audit", "--uri", audited_uri, "--json").stdout)
    assert as_json["clean"] is True and as_json["problems"] == 0
    assert snapshot() == before


def test_mongoose_documents_and_padded_strings_are_not_findings(audited_uri):
    """``__v`` is mongoose's own key; stored strings are validated as stored, not trimmed."""
    database().scenarios.insert_one({"scenario_id": "  padded  ", "title": "  Padded  ",
                                     "description": "d", "llmPrompt": "p", "__v": 0})
    assert rp.audit().clean


def test_duplicates_are_found_by_the_sorted_scan_where_the_server_cannot_group(audited_uri):
    """Whatever the server can group, the scan finds the same values (the path FerretDB takes)."""
    from roleplay_models.audit import _duplicates

    drop_index("scenarios", {"scenario_id": 1})
    db = database()
    for value in ("twice", "twice", "thrice", "thrice", "thrice", "once"):
        db.scenarios.insert_one({"scenario_id": value, "title": "t", "description": "d",
                                 "llmPrompt": "p"})
    scanned = _duplicates(rp.Scenario, "scenario_id", group_accumulators=False)
    assert [(d.value, d.count, len(d.first_ids)) for d in scanned] == [
        ("thrice", 3, 3), ("twice", 2, 2)]
    if rp.server_facts(db.client).group_accumulators:
        grouped = _duplicates(rp.Scenario, "scenario_id", group_accumulators=True)
        assert [(d.value, d.count, sorted(d.first_ids)) for d in grouped] == [
            (d.value, d.count, sorted(d.first_ids)) for d in scanned]


@pytest.mark.parametrize("batch_size", [0, -1, "10", True])
def test_a_bad_batch_size_is_refused_before_anything_is_read(audited_uri, batch_size):
    log = sent_by_this_process[0]
    with log.recording() as sent, pytest.raises(ValueError, match="batch_size"):
        rp.audit(batch_size=batch_size)
    assert sent == []
