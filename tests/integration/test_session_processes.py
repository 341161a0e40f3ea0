"""Several OS processes writing one session: no acknowledged turn lost, one winner, none after the end."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from roleplay_models import RoleplaySession

import builders

WRITERS, TURNS_EACH, ENDERS = 4, 40, 2
END_AFTER_TURNS = WRITERS * TURNS_EACH // 2

WORKER = textwrap.dedent("""
    import json, sys, time
    import roleplay_models as rp
    uri, pk, role, name, count, end_after = sys.argv[1:]
    rp.connect(uri, ensure_indexes=False)
    session = rp.RoleplaySession.objects.get(pk=pk)
    print("ready", flush=True)
    sys.stdin.readline()  # every process starts when the test says go
    result = {"acknowledged": [], "ended": None}
    if role == "writer":
        for n in range(int(count)):
            try:
                result["acknowledged"].append(session.add_turn("user", f"{name}-{n}").text)
            except rp.SessionNotActive:
                break
    else:
        collection = rp.RoleplaySession._get_collection()
        give_up = time.monotonic() + 120  # lost turns must fail the test, not hang it
        while time.monotonic() < give_up:  # wait until the writers are half way, then race
            stored = collection.find_one({"_id": session.pk}, {"conversation_history._id": 1})
            if len(stored["conversation_history"]) >= int(end_after):
                break
            time.sleep(0.01)  # polls gently, so that the writers keep the server
        result["ended"] = session.end().value
    print(json.dumps(result), flush=True)
""")


def start(uri, pk, role, name):
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER, uri, str(pk), role, name, str(TURNS_EACH),
         str(END_AFTER_TURNS)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready", process.stderr.read()
    return process


def test_processes_appending_turns_and_racing_the_end_lose_nothing(db, run_database_uri):
    session = RoleplaySession.start(builders.scenario().save(), "rep")
    processes = [start(run_database_uri, session.pk, "writer", f"w{i}") for i in range(WRITERS)]
    processes += [start(run_database_uri, session.pk, "ender", f"e{i}") for i in range(ENDERS)]
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    results = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    acknowledged = [text for result in results for text in result["acknowledged"]]
    enders = [result["ended"] for result in results if result["ended"] is not None]

    stored = RoleplaySession._get_collection().find_one({"_id": session.pk})
    texts = [turn["text"] for turn in stored["conversation_history"]]
    assert sorted(texts) == sorted(acknowledged)  # every acknowledged turn, and no other
    assert len(texts) >= END_AFTER_TURNS
    # one ender ended it; the others found it ended, with no conflict
    assert sorted(enders) == ["already stored"] * (ENDERS - 1) + ["stored"]
    assert stored["status"] == "ended"
    assert all(turn["timestamp"] <= stored["end_time"] for turn in stored["conversation_history"])
