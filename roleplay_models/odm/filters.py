"""Checking the arguments of query helpers, so a user's value never becomes an operator."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from ..errors import InvalidFilter
from .fields import js_trim

__all__ = (
    "as_bool",
    "as_choice",
    "as_object_id",
    "as_positive_int",
    "as_text",
    "contains_regex",
    "preview",
)

PREVIEW_CHARS = 40
ASCII_DIGITS = re.compile(r"[0-9]+")
# More digits than this cannot be a page or a limit; refused before int() reads them.
MAX_DIGITS = 18


def preview(value: Any) -> str:
    """``repr(value)``, cut to a short prefix: an error never echoes a huge value."""
    text = repr(value)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "..."


def as_text(name: str, value: Any) -> str:
    """A string that is not blank, as given: it matches exactly what was stored. Anything
    else (a dict, a list, None) is refused."""
    if not isinstance(value, str):
        raise InvalidFilter(f"{name} must be a string, not {type(value).__name__}")
    if not js_trim(value):
        raise InvalidFilter(f"{name} must not be blank")
    return value


def as_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """One of ``choices``."""
    text = as_text(name, value)
    if text not in choices:
        raise InvalidFilter(f"{name} must be one of {', '.join(choices)}; got {preview(text)}")
    return text


def as_bool(name: str, value: Any) -> bool:
    """A bool, or the query-string spellings ``true``/``false``/``1``/``0``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0"):
        return value.strip().lower() in ("true", "1")
    raise InvalidFilter(f"{name} must be true or false; got {preview(value)}")


def as_positive_int(name: str, value: Any, maximum: int) -> int:
    """A whole number from 1 to ``maximum``, given as an int or a string of ASCII digits
    (``"²"`` and other Unicode digits are refused, not converted)."""
    if isinstance(value, str):
        text = value.strip()
        if not ASCII_DIGITS.fullmatch(text):
            raise InvalidFilter(f"{name} must be a whole number; got {preview(value)}")
        if len(text) > MAX_DIGITS:
            raise InvalidFilter(f"{name} must be at least 1 and at most {maximum}")
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidFilter(f"{name} must be a whole number; got {preview(value)}")
    if not 1 <= value <= maximum:
        raise InvalidFilter(f"{name} must be at least 1 and at most {maximum}; got {preview(value)}")
    return value


def as_object_id(name: str, value: Any) -> ObjectId:
    """An ObjectId, or its 24-hex-digit string."""
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str):
        try:
            return ObjectId(value.strip())
        except InvalidId:
            pass
    raise InvalidFilter(f"{name} must be an id of 24 hex digits; got {preview(value)}")


def contains_regex(text: str) -> dict[str, str]:
    """A case-insensitive ``$regex`` matching ``text`` literally, metacharacters escaped."""
    return {"$regex": re.escape(text), "$options": "i"}
