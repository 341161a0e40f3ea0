"""What the benchmark scripts share: a real server to run on (``--uri`` or ``--server``) and a
command counter."""

from __future__ import annotations

import argparse
import contextlib
import os
import uuid
import warnings
from collections.abc import Iterator

import roleplay_models
from roleplay_models.db.connection import with_database
from roleplay_models.testing import CommandLog, FerretDB, MongoJavaServer

__all__ = ("CommandLog", "real_server", "server_choice")


SERVERS = {"ferretdb": FerretDB, "mongo-java-server": MongoJavaServer}


def server_choice(
    description: str, parser: argparse.ArgumentParser | None = None
) -> argparse.Namespace:
    """The command line every benchmark takes: ``--uri`` or ``--server``, added to ``parser``
    when a benchmark has flags of its own."""
    parser = parser or argparse.ArgumentParser(description=description)
    parser.add_argument("--uri", default=os.environ.get("MONGODB_URI"),
                        help="a running server to use (default: $MONGODB_URI)")
    parser.add_argument("--server", choices=sorted(SERVERS),
                        default=os.environ.get("ROLEPLAY_TEST_SERVER") or "ferretdb",
                        help="else start this one (default: $ROLEPLAY_TEST_SERVER or ferretdb)")
    return parser.parse_args()


@contextlib.contextmanager
def real_server(log: CommandLog | None, choice: argparse.Namespace | None = None
                ) -> Iterator[str]:
    """Connect to ``--uri`` (or ``$MONGODB_URI``), else to a fresh server of the ``--server``
    kind, in a throwaway database, with ``log`` recording every command (None: no listener,
    for a benchmark that times: a log keeps every command's documents alive, and a listener
    costs each command). Yields a label naming the server and what was detected."""
    choice = choice or server_choice("")
    name = f"roleplay_bench_{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as stack:
        if choice.uri:
            base, label = choice.uri, "the server at --uri"
        else:
            started = stack.enter_context(SERVERS[choice.server]())
            base, label = started.uri, started.name
        with warnings.catch_warnings():  # a refused text index is no news for a benchmark
            warnings.simplefilter("ignore", roleplay_models.IndexRefusedWarning)
            client = roleplay_models.connect(with_database(base, name),
                                             event_listeners=[] if log is None else [log])
        try:
            yield f"{label} ({roleplay_models.server_facts(client).describe()})"
        finally:
            client.drop_database(name)
            roleplay_models.disconnect()


def ratio_text(ratio: float, most: float | None) -> str:
    """``ratio`` with two decimals, or as many more as it takes to print a ratio over its
    target ``most`` as more than the target (1.004 as 1.004, not 1.00 beside a miss's mark)."""
    decimals = 2
    while most is not None and ratio > most and round(ratio, decimals) <= most and decimals < 9:
        decimals += 1
    return f"{ratio:.{decimals}f}"
