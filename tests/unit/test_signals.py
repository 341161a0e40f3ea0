"""The timestamp receivers are module-level functions connected to mongoengine's signals."""

from __future__ import annotations

from mongoengine import signals

from roleplay_models import timestamps

import builders


def test_the_receivers_are_connected_for_every_sender():
    assert timestamps.stamp_on_save in signals.pre_save.receivers_for(object())
    assert timestamps.stamp_on_bulk_insert in signals.pre_bulk_insert.receivers_for(object())


def test_a_receiver_connected_by_a_test_is_gone_afterwards():
    seen = []

    def receiver(sender, document, **kwargs):
        seen.append(document)

    with signals.pre_save.connected_to(receiver):
        scenario = builders.scenario()
        signals.pre_save.send(type(scenario), document=scenario)
    signals.pre_save.send(type(scenario), document=scenario)
    assert seen == [scenario]
    assert receiver not in signals.pre_save.receivers_for(object())
    assert scenario.created_at is not None and scenario.created_at == scenario.updated_at
