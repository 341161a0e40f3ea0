"""The progress bar long commands (``seed --sessions``, ``audit``) draw on stderr."""

from __future__ import annotations

from typing import TextIO

__all__ = ("show_progress",)

WIDTH = 30


def show_progress(done: int, total: int, out: TextIO, unit: str) -> None:
    """Redraw ``[####....] done/total unit`` in place; the line ends once ``done`` reaches
    ``total``."""
    filled = WIDTH * done // total if total else WIDTH
    out.write(f"\r[{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{total} {unit}")
    if done >= total:
        out.write("\n")
    out.flush()
