"""The ``roleplay-models`` command line (also ``python -m roleplay_models``)."""

from __future__ import annotations

import argparse
import code
import json
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from mongoengine import ValidationError
from mongoengine.errors import MongoEngineException
from pymongo.errors import PyMongoError

from ..audit import DEFAULT_BATCH_SIZE
from ..db.connection import connect, redact_uri
from ..db.indexes import ensure_indexes, format_keys
from ..db.server import server_facts
from ..errors import ConfigurationError, IndexRefusedWarning, ServerUnreachable
from ..models import MODELS

__all__ = ("main",)

EMBEDDED_DEMO_URI = "mongomock://localhost/roleplay_demo"
NO_SERVER_HINT = ("for a local one, run `roleplay-models server` and export the URI it "
                  "prints; else set MONGODB_URI or --uri")


def _demo(args: argparse.Namespace) -> int:
    from .demo import create_demo_data, print_demo

    uri = args.uri or EMBEDDED_DEMO_URI
    with warnings.catch_warnings():
        # The embedded backend has no text search; search() matches words there instead.
        warnings.simplefilter("ignore", IndexRefusedWarning)
        connect(uri)
    if any(model.objects.limit(1).count(with_limit_and_skip=True) for model in MODELS):
        raise ConfigurationError(f"the demo needs an empty database; {redact_uri(uri)} has data")
    print(f"Demo data in {redact_uri(uri)}\n")
    print_demo(create_demo_data(), sys.stdout)
    return 0


def _seed(args: argparse.Namespace) -> int:
    from .seed import seed_catalog, seed_sessions

    connect(args.uri)
    created = seed_catalog()
    print("catalog: created " + ", ".join(f"{n} {kind}" for kind, n in created.items()))
    if args.sessions:
        added = seed_sessions(args.sessions, out=sys.stderr)
        print(f"sessions: added {added} finished sessions with analyses")
    return 0


def _ensure_indexes(args: argparse.Namespace) -> int:
    connect(args.uri, ensure_indexes=False)
    report = ensure_indexes()
    for name in report.created:
        print(f"ok       {name}")
    for refused in report.refused:
        print(f"refused  {refused.collection} ({format_keys(refused.keys)}): {refused.reason}")
    return 0


def _declared_vs_existing(model: Any) -> tuple[list[str], list[str]]:
    """Missing and extra indexes as mongoengine's ``compare_indexes()`` finds them (it
    reads a text index stored as ``_fts``/``_ftsx`` as the fields it covers)."""
    found = model.compare_indexes()
    return ([format_keys(index) for index in found["missing"]],
            [format_keys(index) for index in found["extra"]])


def _invalid_documents(model: Any) -> int:
    invalid = 0
    for raw in model._get_collection().find():
        try:
            model._from_son(raw).validate()
        except (ValidationError, MongoEngineException, ValueError, TypeError):
            invalid += 1
    return invalid


def _check(args: argparse.Namespace) -> int:
    facts = server_facts(connect(args.uri, ensure_indexes=False))
    print(f"server: reachable ({facts.name})")
    problems = 0
    for model in MODELS:
        collection = model._get_collection_name()
        missing, extra = _declared_vs_existing(model)
        invalid = _invalid_documents(model)
        count = model.objects.count()
        print(f"{collection}: {count} documents, {invalid} failing validation")
        unsupported = [k for k in missing if ":text" in k and not facts.text_search]
        for keys in missing:
            note = " (this server has no text search)" if keys in unsupported else ""
            print(f"  missing index ({keys}){note}")
        if not facts.text_search:
            for index in model.list_indexes():
                if ":text" in format_keys(index) and format_keys(index) not in missing:
                    print(f"  text index ({format_keys(index)}) is not used: this server runs no "
                          "$text query, so search() matches words instead")
        for keys in extra:
            print(f"  extra index ({keys})")
        problems += invalid + len(missing) - len(unsupported)
    print("check: OK" if not problems else f"check: {problems} problem(s)")
    return 0 if not problems else 1


def _audit(args: argparse.Namespace) -> int:
    from .audit import run_audit

    return run_audit(args)


def _stats(args: argparse.Namespace) -> int:
    from ..models.analytics import SessionAnalytics

    connect(args.uri)
    for model in MODELS:
        print(f"{model._get_collection_name()}: {model.objects.count()}")
    summary = SessionAnalytics.objects.summary()
    print("analytics summary:")
    print(json.dumps(summary, indent=2))
    return 0


def _shell(args: argparse.Namespace) -> int:
    import roleplay_models

    client = connect(args.uri)
    namespace = {name: getattr(roleplay_models, name) for name in roleplay_models.__all__}
    namespace.update(rp=roleplay_models, client=client, db=client.get_default_database())
    banner = (f"roleplay_models shell, connected to {redact_uri(args.uri or '$MONGODB_URI')}\n"
              "Models: " + ", ".join(m.__name__ for m in MODELS) + "; also rp, client, db")
    try:
        from IPython import start_ipython
    except ImportError:
        start_ipython = None
    # Outside the except block: else every error typed in the shell is shown chained to
    # the missing IPython.
    if start_ipython is None:
        code.interact(banner=banner, local=namespace)
        return 0
    print(banner)
    start_ipython(argv=[], user_ns=namespace)
    return 0


def _server(args: argparse.Namespace) -> int:
    from .server import run_server

    return run_server(args)


URI_HELP = "MongoDB URI naming a database (default: $MONGODB_URI, else " \
           "mongodb://localhost:27017/roleplay)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roleplay-models", description="Manage the sales-roleplay MongoDB data.")
    parser.add_argument("--uri", help=URI_HELP)
    # A subcommand's --uri has no default of its own, so that one given before the
    # subcommand is not overwritten by it: --uri means the same before or after.
    after_command = argparse.ArgumentParser(add_help=False)
    after_command.add_argument("--uri", default=argparse.SUPPRESS, help=URI_HELP)
    # Not required here: main() names an unknown option before a missing command.
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, run: Any, help_text: str, uri: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text,
                                  parents=[after_command] if uri else [])
        sub.set_defaults(run=run)
        return sub

    from .server import add_arguments as server_arguments

    server_arguments(command(
        "server", _server, "run a local MongoDB-wire server to develop against (FerretDB or "
                           "mongo-java-server) until Ctrl-C, printing the URI to export",
        uri=False))

    command("demo", _demo, "fill an empty database (the embedded one unless --uri) with a "
                           "small catalog and one finished session, and print them")
    seed = command("seed", _seed, "add the demo catalog where missing (safe to repeat)")
    seed.add_argument("--sessions", type=int, default=0, metavar="N",
                      help="also add N synthetic finished sessions with analyses")
    command("ensure-indexes", _ensure_indexes, "create every declared index")
    command("check", _check, "check the server, the indexes and that documents validate")
    audit = command("audit", _audit, "check every document, reference, unique value and index "
                                      "against the models; writes nothing, exits 1 on a finding")
    audit.add_argument("--json", action="store_true",
                       help="print the report as JSON (its shape is in the guide)")
    audit.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N",
                       help=f"documents read per round trip (default {DEFAULT_BATCH_SIZE})")
    command("stats", _stats, "print document counts and the analytics summary")
    command("shell", _shell, "open Python (IPython if installed) with the models, connected")
    return parser


def _one_line_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> str:
    return f"roleplay-models: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors are one line on stderr and a non-zero exit, warnings (an index
    the server refused) one line each."""
    warnings.formatwarning = _one_line_warning
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.error("the following arguments are required: COMMAND")
    if getattr(args, "sessions", 0) < 0:
        print("roleplay-models: error: --sessions must be 0 or more", file=sys.stderr)
        return 2
    if getattr(args, "batch_size", 1) < 1:
        print("roleplay-models: error: --batch-size must be 1 or more", file=sys.stderr)
        return 2
    try:
        return args.run(args)
    except ServerUnreachable as err:
        print(f"roleplay-models: error: {redact_uri(str(err)).splitlines()[0]} ({NO_SERVER_HINT})",
              file=sys.stderr)
        return 1
    except (ConfigurationError, PyMongoError, MongoEngineException, ValueError) as err:
        print(f"roleplay-models: error: {redact_uri(str(err)).splitlines()[0]}", file=sys.stderr)
        return 1
