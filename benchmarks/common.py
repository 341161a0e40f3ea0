"""What the benchmark scripts share: a real server to run on and a command counter."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import bson
from pymongo import monitoring

import roleplay_models
from roleplay_models.testing import FerretDB

__all__ = ("CommandLog", "real_server")


class CommandLog(monitoring.CommandListener):
    """Every command sent, with its encoded size in bytes."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, int]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands.append((event.command_name, len(bson.encode(event.command))))

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[tuple[str, int]]]:
        """Collect the commands sent inside the block."""
        self.commands = []
        yield self.commands


@contextlib.contextmanager
def real_server(log: CommandLog) -> Iterator[str]:
    """Connect to ``$MONGODB_URI`` or a fresh FerretDB, in a throwaway database."""
    name = f"roleplay_bench_{uuid.uuid4().hex[:8]}"
    external = os.environ.get("MONGODB_URI")
    with contextlib.ExitStack() as stack:
        if external:
            base = external.split("?")[0].rsplit("/", 1)[0] + "/"
            label = "MONGODB_URI"
        else:
            base = stack.enter_context(FerretDB()).uri
            label = "FerretDB"
        client = roleplay_models.connect(base + name, event_listeners=[log])
        roleplay_models.ensure_indexes()
        try:
            yield label
        finally:
            client.drop_database(name)
            roleplay_models.disconnect()
