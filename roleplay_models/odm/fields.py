"""Field types that make mongoengine validate the way the mongoose schema does."""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import math
from collections.abc import Callable, Iterator
from typing import Any

from mongoengine.base import BaseField, BaseList
from mongoengine.fields import BooleanField, DateTimeField, ListField, StringField

from ._mongoengine import UPDATE_OPERATOR_NAMES, ChoicesCheckedByValidate

__all__ = (
    "JS_WHITESPACE",
    "NumberField",
    "StrictBooleanField",
    "TextField",
    "TrimmedTextListField",
    "UTCDateTimeField",
    "js_trim",
    "loading_from_database",
    "utc_now",
)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


# ECMAScript's WhiteSpace and LineTerminator code points: what String.prototype.trim removes.
# Python's str.strip() differs: it also strips U+001C-U+001F and U+0085, and keeps U+FEFF.
JS_WHITESPACE = (
    "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)

# The operator names mongoengine passes to prepare_query_value for an update's values.
TRIMMED_UPDATES = frozenset(UPDATE_OPERATOR_NAMES) | {"addToSet", "pushAll", "pullAll", "setOnInsert"}

_loading = contextvars.ContextVar("roleplay_models_loading", default=False)


@contextlib.contextmanager
def loading_from_database() -> Iterator[None]:
    """Mark values set inside as read from the database: they are kept exactly as stored."""
    token = _loading.set(True)
    try:
        yield
    finally:
        _loading.reset(token)


def js_trim(value: Any) -> Any:
    """``value.trim()`` as JavaScript computes it, for a string; anything else unchanged."""
    return value.strip(JS_WHITESPACE) if isinstance(value, str) else value


def utc_now() -> datetime.datetime:
    """The current time, timezone-aware UTC, cut to the millisecond MongoDB stores."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class TextField(ChoicesCheckedByValidate, StringField):
    """A string field with mongoose's ``trim`` and a stricter ``required``.

    ``trim=True`` applies JavaScript's ``trim()`` to what the program sets (in
    the constructor, by assignment, in ``set__`` updates), never to what is
    read from the database. ``required=True`` refuses None, ``""`` and
    strings that JavaScript's ``trim()`` empties. ``max_bytes``, a function
    read at validation, bounds the UTF-8 size. Choices are checked after
    the type, so an unhashable value is a ValidationError, and also in
    atomic updates (``set__status=...``).
    """

    def __init__(
        self, trim: bool = False, max_bytes: Callable[[], int] | None = None, **kwargs: Any
    ) -> None:
        self.trim = trim
        self.max_bytes = max_bytes  # read when validating, so that it can be configured
        super().__init__(**kwargs)

    def __set__(self, instance: Any, value: Any) -> None:
        super().__set__(instance, self.assigned(value))

    def assigned(self, value: Any) -> Any:
        """What an assignment of ``value`` hands on to mongoengine's ``__set__``."""
        return self._trimmed(value)

    def _trimmed(self, value: Any) -> Any:
        if self.trim and not _loading.get():
            return js_trim(value)
        return value

    def to_python(self, value: Any) -> Any:
        return self._trimmed(value)

    def to_mongo(self, value: Any) -> Any:
        return value

    def prepare_query_value(self, op: str, value: Any) -> Any:
        if self.trim and op in TRIMMED_UPDATES:  # an update's value always comes from the program
            value = [js_trim(v) for v in value] if isinstance(value, (list, tuple)) else js_trim(value)
        return super().prepare_query_value(op, value)

    def validate(self, value: Any) -> None:
        super().validate(value)
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            self.error("String value is not valid UTF-8 text")
        if self.max_bytes is not None and size > self.max_bytes():
            self.error(f"Text is {size} bytes of UTF-8; at most {self.max_bytes()} are allowed")
        if self.required and not js_trim(value):
            self.error("Field is required and cannot be blank")
        # choices are checked here, after the type, so that a dict or a list never reaches
        # mongoengine's set() of the choices
        if self.choices and value not in self.choices:
            self.error("Value must be one of %s" % (tuple(self.choices),))


class NumberField(BaseField):
    """A mongoose ``Number``: an int or a float, finite, optionally bounded.

    Integers stay integers in storage and floats stay floats, as mongoose
    writes them; booleans, NaN, infinities and integers beyond 64 bits are
    refused.
    """

    def __init__(
        self,
        min_value: float | None = None,
        max_value: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.min_value = min_value
        self.max_value = max_value
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        return value

    def to_mongo(self, value: Any) -> Any:
        return value

    def validate(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error("Number field only accepts int or float values")
        if isinstance(value, float) and not math.isfinite(value):
            self.error("Number must be finite")
        if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            self.error("Number does not fit in 64 bits")
        if self.min_value is not None and value < self.min_value:
            self.error("Number must be at least %s" % self.min_value)
        if self.max_value is not None and value > self.max_value:
            self.error("Number must be at most %s" % self.max_value)


class UTCDateTimeField(DateTimeField):
    """A datetime that is always timezone-aware UTC in Python.

    A naive value is taken to be UTC (as pymongo stores it); an aware one
    is converted. Strings and other types are refused rather than parsed.
    """

    def __set__(self, instance: Any, value: Any) -> None:
        super().__set__(instance, self.assigned(value))

    def assigned(self, value: Any) -> Any:
        """What an assignment of ``value`` hands on to mongoengine's ``__set__``."""
        return self._as_utc(value)

    @staticmethod
    def _as_utc(value: Any) -> Any:
        if not isinstance(value, datetime.datetime) or value.tzinfo is datetime.timezone.utc:
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.timezone.utc)
        try:
            return value.astimezone(datetime.timezone.utc)
        except OverflowError:  # left as it is, for validate() to refuse
            return value

    def to_python(self, value: Any) -> Any:
        return self._as_utc(value)

    def to_mongo(self, value: Any) -> Any:
        return self._as_utc(value)

    def validate(self, value: Any) -> None:
        if not isinstance(value, datetime.datetime):
            self.error("Date field only accepts datetime values")
        if self._as_utc(value).utcoffset():
            self.error("Date is outside the range a UTC datetime can hold")


class StrictBooleanField(BooleanField):
    """A mongoose ``Boolean`` that holds only ``True`` or ``False``.

    mongoengine's BooleanField calls ``bool()`` on what it is given, so
    ``"false"`` becomes True; here any value that is not a bool is refused
    by ``validate()`` (and so by save) and in atomic updates and filters.
    """

    def to_python(self, value: Any) -> Any:
        return value

    def validate(self, value: Any) -> None:
        if not isinstance(value, bool):
            self.error(f"{self.name} only accepts True or False, not {type(value).__name__}")

    def prepare_query_value(self, op: str, value: Any) -> Any:
        if value is not None:
            self.validate(value)
        return value


class TrimmedList(BaseList):
    """The list of a :class:`TrimmedTextListField`: strings added to it are trimmed."""

    def append(self, value: Any) -> None:
        super().append(js_trim(value))

    def extend(self, values: Any) -> None:
        super().extend([js_trim(v) for v in values])

    def insert(self, index: Any, value: Any) -> None:
        super().insert(index, js_trim(value))

    def __setitem__(self, key: Any, value: Any) -> None:
        trimmed = [js_trim(v) for v in value] if isinstance(key, slice) else js_trim(value)
        super().__setitem__(key, trimmed)

    def __iadd__(self, other: Any) -> Any:
        return super().__iadd__([js_trim(v) for v in other])


class TrimmedTextListField(ListField):
    """A list of strings, each trimmed like ``TextField(trim=True)`` when the program adds it
    (assignment, constructor, append, extend, insert, item assignment); stored strings are
    left as they are."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(TextField(trim=True), **kwargs)

    def __set__(self, instance: Any, value: Any) -> None:
        if isinstance(value, (list, tuple)) and not _loading.get():
            value = [js_trim(v) for v in value]
        super().__set__(instance, value)

    def __get__(self, instance: Any, owner: Any) -> Any:
        value = super().__get__(instance, owner)
        if isinstance(value, BaseList) and not isinstance(value, TrimmedList):
            value = instance._data[self.name] = TrimmedList(list(value), instance, self.name)
        return value
