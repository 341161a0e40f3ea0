"""The package's receivers are module-level functions connected to mongoengine's signals."""

from __future__ import annotations

from bson import ObjectId
from mongoengine import signals

import roleplay_models
from roleplay_models.odm import references, timestamps

import builders


def test_the_receivers_are_connected_for_every_sender():
    assert timestamps.stamp_on_save in signals.pre_save.receivers_for(object())
    assert timestamps.stamp_on_bulk_insert in signals.pre_bulk_insert.receivers_for(object())
    assert references.check_references_on_save in \
        signals.pre_save_post_validation.receivers_for(object())


def test_validate_sends_nothing_so_it_works_with_no_connection():
    roleplay_models.disconnect()
    scenario = builders.scenario(id=ObjectId())  # never saved: only a save would look it up
    session = builders.session(scenario)
    session.validate()
    builders.character([scenario]).validate()
    builders.analytics(scenario).validate()
