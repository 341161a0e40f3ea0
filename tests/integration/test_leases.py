"""The lease that serializes session writes on servers without atomic updates, on the real server.

The lease is taken through its own functions here, whatever the server, since what it relies on
(a unique ``_id`` on insert) every server has.
"""

from __future__ import annotations

import datetime

import pytest

from roleplay_models import ConcurrentModification
from roleplay_models.db import locks

NAME = "roleplaysessions:lease-test"


@pytest.fixture
def leases(db):
    collection = db[locks.LEASE_COLLECTION]
    collection.delete_many({})
    return collection


def ago(seconds):
    return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds)


def test_a_lease_is_held_inside_and_given_back_after(leases):
    with locks._lease(leases, NAME):
        held = leases.find_one({"_id": NAME})
        assert held is not None and held["expires_at"] > ago(0)
    assert leases.find_one({"_id": NAME}) is None


def test_a_live_lease_makes_another_writer_wait_and_then_give_up(leases, monkeypatch):
    monkeypatch.setattr(locks, "WAIT_SECONDS", 0.3)
    leases.insert_one({"_id": NAME, "token": "alive", "expires_at": ago(-60)})
    with pytest.raises(ConcurrentModification, match="stayed locked"):
        with locks._lease(leases, NAME):
            pass
    assert leases.find_one({"_id": NAME})["token"] == "alive"


def test_a_lease_left_by_a_crashed_holder_is_taken_over_once_expired(leases):
    leases.insert_one({"_id": NAME, "token": "crashed", "expires_at": ago(1)})
    with locks._lease(leases, NAME):
        assert leases.find_one({"_id": NAME})["token"] != "crashed"
    assert leases.find_one({"_id": f"{NAME}!crashed"}) is not None  # the takeover's marker


def test_a_takeover_whose_winner_crashed_is_won_again_later(leases, monkeypatch):
    monkeypatch.setattr(locks, "WAIT_SECONDS", 5.0)
    leases.insert_one({"_id": NAME, "token": "crashed", "expires_at": ago(120)})
    # the winner of the first takeover died between its marker and deleting the lease
    leases.insert_one({"_id": f"{NAME}!crashed", "taken_at": ago(locks.LEASE_SECONDS + 1)})
    with locks._lease(leases, NAME):
        assert leases.find_one({"_id": NAME})["token"] != "crashed"


def test_a_fresh_takeover_marker_keeps_a_late_reader_from_deleting_the_new_lease(leases):
    leases.insert_one({"_id": f"{NAME}!old", "taken_at": ago(0)})
    leases.insert_one({"_id": NAME, "token": "new-holder", "expires_at": ago(-60)})
    locks._take_over(leases, NAME, "old")  # a process that read the old, expired lease late
    assert leases.find_one({"_id": NAME})["token"] == "new-holder"
