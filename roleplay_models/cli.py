"""The ``roleplay-models`` command line (also ``python -m roleplay_models``)."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from pymongo.errors import PyMongoError

from .connection import connect, redact_uri
from .errors import ConfigurationError, ServerUnreachable

__all__ = ("main",)

EMBEDDED_DEMO_URI = "mongomock://localhost/roleplay_demo"


def _demo(args: argparse.Namespace) -> int:
    from .demo import create_demo_data, print_demo
    from .indexes import ensure_indexes
    from .models import MODELS

    uri = args.uri or EMBEDDED_DEMO_URI
    connect(uri)
    if any(model.objects.limit(1).count(with_limit_and_skip=True) for model in MODELS):
        raise ConfigurationError(f"the demo needs an empty database; {redact_uri(uri)} has data")
    ensure_indexes()
    print(f"Demo data in {redact_uri(uri)}\n")
    print_demo(create_demo_data(), sys.stdout)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roleplay-models", description="Manage the sales-roleplay MongoDB data."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="create a small catalog and one finished session, and print them"
    )
    demo.add_argument(
        "--uri",
        help=f"a MongoDB URI naming an empty database (default: the embedded {EMBEDDED_DEMO_URI})",
    )
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors are one line on stderr and a non-zero exit."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ConfigurationError, ServerUnreachable, PyMongoError) as err:
        print(f"roleplay-models: error: {redact_uri(str(err))}", file=sys.stderr)
        return 1
