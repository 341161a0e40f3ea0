"""``roleplay-models audit``: what the audit found, as text or as JSON."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from typing import Any, TextIO

from ..audit import AuditFinding, AuditReport, DuplicateValue, ModelAudit, audit
from ..db.connection import connect
from ..db.indexes import format_keys
from ..odm.filters import preview
from .progress import show_progress

__all__ = ("print_report", "run_audit")


def run_audit(args: argparse.Namespace) -> int:
    """Audit the database ``--uri`` names (creating no index: it writes nothing); exit 1 when
    anything is found, 0 on a clean database."""
    connect(args.uri, ensure_indexes=False)
    progress = functools.partial(_progress, out=sys.stderr)
    report = audit(batch_size=args.batch_size, progress=progress)
    if args.json:
        json.dump(report.as_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_report(report, sys.stdout)
    return 0 if report.clean else 1


def _progress(done: int, total: int, out: TextIO) -> None:
    show_progress(done, total, out, "documents")


def _ids(found: AuditFinding | DuplicateValue) -> str:
    shown = ", ".join(str(i) for i in found.first_ids)
    return shown + (", ..." if found.count > len(found.first_ids) else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _model_lines(found: ModelAudit) -> list[str]:
    lines = [f"{found.collection} ({found.model}): {_plural(found.documents, 'document')} read"]
    if found.invalid:
        lines.append(f"  refused by the models: {_plural(found.invalid_documents, 'document')}")
        lines += [f"    {f.field}: {f.rule}: {f.count} ({_ids(f)})" for f in found.invalid]
    if found.unknown_keys:
        lines.append("  keys the models do not know (kept):")
        lines += [f"    {f.field}: {f.count} ({_ids(f)})" for f in found.unknown_keys]
    if found.missing_references:
        lines.append("  references to documents that do not exist:")
        lines += [f"    {f.field}: {f.rule}: {f.count} ({_ids(f)})"
                  for f in found.missing_references]
    if found.duplicates:
        lines.append("  duplicate values of a unique field whose unique index is missing:")
        lines += [f"    {d.field} = {preview(d.value)}: {d.count} ({_ids(d)})"
                  for d in found.duplicates]
    for index in found.missing_indexes:
        note = f": {index.note}" if index.note else ""
        counted = "" if index.counted else " (not counted)"
        lines.append(f"  missing index ({format_keys(index.keys)}){counted}{note}")
    lines += [f"  extra index ({format_keys(index.keys)})" for index in found.extra_indexes]
    return lines


def print_report(report: AuditReport, out: TextIO) -> None:
    """The report as the command prints it: per collection, each finding with its count and
    the first few ids, then one closing line."""
    lines: list[Any] = [f"server: {report.server}"]
    for found in report.models:
        lines += _model_lines(found)
    lines.append("audit: clean" if report.clean
                 else f"audit: {_plural(report.problems, 'problem')} found")
    out.write("\n".join(lines) + "\n")
