"""Field types that make mongoengine validate the way the mongoose schema does."""

from __future__ import annotations

import datetime
import math
from typing import Any

from mongoengine.base import BaseField
from mongoengine.fields import DateTimeField, StringField

__all__ = ("TextField", "NumberField", "UTCDateTimeField", "utc_now")

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def utc_now() -> datetime.datetime:
    """The current time, timezone-aware UTC, cut to the millisecond MongoDB stores."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class TextField(StringField):
    """A string field with mongoose's ``trim`` and a stricter ``required``.

    ``trim=True`` strips surrounding whitespace on assignment and on storage.
    ``required=True`` refuses None, ``""`` and whitespace-only strings.
    Choices are checked after the type, so an unhashable value is a
    ValidationError, and also in atomic updates (``set__status=...``).
    """

    def __init__(self, trim: bool = False, **kwargs: Any) -> None:
        self.trim = trim
        super().__init__(**kwargs)

    def __set__(self, instance: Any, value: Any) -> None:
        super().__set__(instance, self._trimmed(value))

    def _trimmed(self, value: Any) -> Any:
        if self.trim and isinstance(value, str):
            return value.strip()
        return value

    def to_python(self, value: Any) -> Any:
        return self._trimmed(super().to_python(value))

    def to_mongo(self, value: Any) -> Any:
        return self._trimmed(value)

    def _validate_choices(self, value: Any) -> None:
        # Checked in validate(), after the type, so that a dict or a list
        # never reaches mongoengine's set() of the choices.
        pass

    def validate(self, value: Any) -> None:
        super().validate(value)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            self.error("String value is not valid UTF-8 text")
        if self.required and not value.strip():
            self.error("Field is required and cannot be blank")
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
        super().__set__(instance, self._as_utc(value))

    @staticmethod
    def _as_utc(value: Any) -> Any:
        if not isinstance(value, datetime.datetime):
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
