"""Checking the arguments of query helpers, so a user's value never becomes an operator."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from .errors import InvalidFilter

__all__ = ("as_bool", "as_choice", "as_object_id", "as_positive_int", "as_text", "contains_regex")


def as_text(name: str, value: Any) -> str:
    """A non-blank string, stripped; anything else (a dict, a list, None) is refused."""
    if not isinstance(value, str):
        raise InvalidFilter(f"{name} must be a string, not {type(value).__name__}")
    value = value.strip()
    if not value:
        raise InvalidFilter(f"{name} must not be blank")
    return value


def as_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """One of ``choices``."""
    text = as_text(name, value)
    if text not in choices:
        raise InvalidFilter(f"{name} must be one of {', '.join(choices)}; got {text!r}")
    return text


def as_bool(name: str, value: Any) -> bool:
    """A bool, or the query-string spellings ``true``/``false``/``1``/``0``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0"):
        return value.strip().lower() in ("true", "1")
    raise InvalidFilter(f"{name} must be true or false; got {value!r}")


def as_positive_int(name: str, value: Any, maximum: int | None = None) -> int:
    """A whole number >= 1 (and <= ``maximum``), given as an int or a string of digits."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidFilter(f"{name} must be a whole number; got {value!r}")
    if value < 1 or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise InvalidFilter(f"{name} must be at least 1{upper}; got {value}")
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
    raise InvalidFilter(f"{name} must be an id of 24 hex digits; got {value!r}")


def contains_regex(text: str) -> dict[str, str]:
    """A case-insensitive ``$regex`` matching ``text`` literally, metacharacters escaped."""
    return {"$regex": re.escape(text), "$options": "i"}
