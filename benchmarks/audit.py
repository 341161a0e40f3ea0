"""The audit's cost as a ratio to raw pymongo reading the same sessions in the same batches.

Run: python benchmarks/audit.py [--sessions N] [--uri URI | --server ferretdb|mongo-java-server]
Seeds N sessions of 20 turns (100,000 by default), then times ``rp.audit()`` of the sessions,
given a progress callback as the ``audit`` command gives one, and a raw pymongo read of them
in batches of the same size, taking turns with garbage collected between runs, and prints
the ratio of their medians (target: at most 3).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from datetime import timedelta

from bson import ObjectId

import roleplay_models as rp
from roleplay_models.audit import DEFAULT_BATCH_SIZE
from roleplay_models.odm.fields import utc_now

from common import real_server, server_choice

TURNS = 20
TARGET = 3.0
INSERT_BATCH = 1000


def as_the_command_reports(done: int, total: int) -> None:
    """The progress the ``audit`` command draws, less the drawing: asked for, it has the
    audit count the collection first (on FerretDB v1, one more read of every document)."""


def timed(action: Callable[[], object]) -> float:
    gc.collect()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def seed(count: int) -> None:
    """``count`` valid sessions of TURNS turns, in a scenario of their own."""
    seed_sessions(count, rp.Scenario(scenario_id="bench", title="Bench", description="d",
                                     llm_prompt="p").save())


def seed_sessions(count: int, scenario: rp.Scenario) -> None:
    """``count`` valid sessions of TURNS turns in ``scenario``: one built by the model,
    stored copies of it."""
    started = utc_now() - timedelta(hours=1)
    model = rp.RoleplaySession(
        session_id="session_model", scenario=scenario, user_id="rep-bench",
        status="completed", start_time=started, end_time=started + timedelta(minutes=10),
        total_duration=600,
        conversation_history=[
            rp.ConversationEntry(role="user" if i % 2 == 0 else "assistant",
                                 text=f"Turn {i} of the practice call, with a few words.",
                                 timestamp=started + timedelta(seconds=20 * i))
            for i in range(TURNS)]).to_mongo().to_dict()
    collection = rp.RoleplaySession._get_collection()
    for start in range(0, count, INSERT_BATCH):
        batch = []
        for _ in range(min(INSERT_BATCH, count - start)):
            session = dict(model, _id=ObjectId(), session_id=f"session_{ObjectId()}")
            session["conversation_history"] = [dict(turn, _id=ObjectId())
                                               for turn in model["conversation_history"]]
            batch.append(session)
        collection.insert_many(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000, metavar="N")
    parser.add_argument("--repeats", type=int, default=5, metavar="R")
    own = server_choice(__doc__.splitlines()[0], parser)
    if own.sessions < 1 or own.repeats < 1:
        parser.error("--sessions and --repeats must be 1 or more")
    with real_server(None, own) as label:
        print(f"server: {label}")
        started = time.perf_counter()
        seed(own.sessions)
        print(f"seeded {own.sessions} sessions of {TURNS} turns in "
              f"{time.perf_counter() - started:.0f} s")
        collection = rp.RoleplaySession._get_collection()

        def raw() -> None:
            for _ in collection.find({}, batch_size=DEFAULT_BATCH_SIZE):
                pass

        def audit() -> None:
            report = rp.audit(models=[rp.RoleplaySession], batch_size=DEFAULT_BATCH_SIZE,
                              progress=as_the_command_reports)
            assert report.clean and report.models[0].documents == own.sessions, report

        audit_times, raw_times = [], []
        for repeat in range(own.repeats):
            pair = [(raw_times, raw), (audit_times, audit)]
            for times, action in pair if repeat % 2 else reversed(pair):
                times.append(timed(action))
        ratio = statistics.median(audit_times) / statistics.median(raw_times)
        print(f"raw read: {statistics.median(raw_times):.2f} s, audit: "
              f"{statistics.median(audit_times):.2f} s (medians of {own.repeats})")
        print(f"audit / raw read: {ratio:.2f} (target <= {TARGET}: "
              f"{'met' if ratio <= TARGET else 'NOT met'})")


if __name__ == "__main__":
    main()
