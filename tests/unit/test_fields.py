"""The field types in ``roleplay_models.odm.fields``."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from bson.tz_util import utc as BSON_UTC
from hypothesis import example, given
from hypothesis import strategies as st
from mongoengine import StringField, ValidationError

from roleplay_models.odm import api
from roleplay_models.odm.api import iso_utc
from roleplay_models.odm.fields import (
    JS_WHITESPACE,
    NumberField,
    TextField,
    UTCDateTimeField,
    js_trim,
    utc_now,
)


def test_text_field_refuses_text_that_is_not_utf8():
    with pytest.raises(ValidationError, match="UTF-8"):
        TextField().validate("lone surrogate \ud800")


def checked_plainly(field: TextField[Any], value: object) -> None:
    """TextField's checks as its docstring states them, each over the whole text."""
    StringField.validate(field, value)
    assert isinstance(value, str)
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        field.error("String value is not valid UTF-8 text")
    if field.max_bytes is not None and size > field.max_bytes():
        field.error(f"Text is {size} bytes of UTF-8; at most {field.max_bytes()} are allowed")
    if field.required and not js_trim(value):
        field.error("Field is required and cannot be blank")
    if field.choices and value not in field.choices:
        field.error("Value must be one of %s" % (tuple(field.choices),))


class Text(str):
    pass


spaces = st.sampled_from([*JS_WHITESPACE, "\x1c", "\x85", " "])
texts = st.one_of(
    st.text(st.one_of(spaces, st.characters(blacklist_categories=())), max_size=8),
    st.builds(lambda head, tail: head + tail, st.text(spaces, max_size=3), st.text(max_size=3)),
    st.text(max_size=3).map(Text), st.none(), st.integers(), st.binary(max_size=3))
text_fields = st.builds(
    TextField, required=st.booleans(), max_bytes=st.sampled_from([None, lambda: 4]),
    choices=st.sampled_from([None, ("a", " a", "é")]), max_length=st.sampled_from([None, 3]),
    min_length=st.sampled_from([None, 1]), regex=st.sampled_from([None, r"^\w"]))


def outcome(check: Callable[[TextField[Any], Any], None], field: TextField[Any], value: object
            ) -> tuple[str, str]:
    try:
        check(field, value)
    except (ValidationError, TypeError, AttributeError) as error:
        return type(error).__name__, str(error)
    return "ok", ""


@given(text_fields, texts)
@example(TextField(required=True), "\ufeff")  # JavaScript whitespace, not Python's
@example(TextField(required=True), "\x85 ")  # Python whitespace, not JavaScript's
@example(TextField(required=True), "")
@example(TextField(required=True), "\u3000a")
@example(TextField(max_bytes=lambda: 4), "\xe9\xe9\xe9")  # 3 characters, 6 bytes
@example(TextField(), "lone \ud800")
@example(TextField(max_length=2), "abc")
@example(TextField(min_length=1), "")
@example(TextField(regex=r"^\w"), " a")
@example(TextField(required=True, max_length=3), Text(" "))
def test_text_field_refuses_what_its_plainly_stated_checks_refuse_in_their_words(field, value):
    field.name = "text"
    assert outcome(TextField.validate, field, value) == outcome(checked_plainly, field, value)


def test_text_field_checks_choices_in_atomic_updates():
    field = TextField(choices=("a", "b"))
    field.name = "status"
    assert field.prepare_query_value("set", "a") == "a"
    with pytest.raises(ValidationError, match="one of"):
        field.prepare_query_value("set", "c")


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, True, "1", None, [1]])
def test_number_field_refuses_what_mongoose_cannot_store(value):
    with pytest.raises(ValidationError):
        NumberField().validate(value)


def test_number_field_keeps_ints_and_floats_as_they_are():
    field = NumberField()
    assert type(field.to_mongo(3)) is int and type(field.to_mongo(3.0)) is float


def test_datetime_field_makes_naive_values_utc_and_converts_aware_ones():
    field = UTCDateTimeField()
    naive = datetime.datetime(2024, 5, 1, 12, 0)
    assert field.to_python(naive) == naive.replace(tzinfo=datetime.timezone.utc)
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    converted = field.to_python(datetime.datetime(2024, 5, 1, 14, 0, tzinfo=plus_two))
    assert converted.tzinfo is datetime.timezone.utc and converted.hour == 12


def test_datetime_field_refuses_strings_and_unrepresentable_values():
    field = UTCDateTimeField()
    with pytest.raises(ValidationError):
        field.validate("2024-05-01")
    early = datetime.datetime(1, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=5)))
    with pytest.raises(ValidationError):
        field.validate(field.to_python(early))


def test_utc_now_is_aware_and_cut_to_milliseconds():
    now = utc_now()
    assert now.tzinfo is datetime.timezone.utc and now.microsecond % 1000 == 0


@given(st.datetimes(min_value=datetime.datetime(1, 1, 2), max_value=datetime.datetime(9999, 12, 30),
                    timezones=st.none() | st.just(datetime.timezone.utc) | st.just(BSON_UTC)
                    | st.timezones()))
def test_iso_utc_writes_what_javascripts_to_iso_string_writes(value):
    utc = value if value.tzinfo is None else value.astimezone(datetime.timezone.utc)
    # toISOString(): UTC, a four-digit year, milliseconds cut, a "Z"
    expected = (f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}"
                f":{utc.second:02d}.{utc.microsecond // 1000:03d}Z")
    assert iso_utc(value) == expected


def test_iso_utc_pads_a_year_before_1000_as_javascript_does():
    assert iso_utc(datetime.datetime(999, 3, 1, 9, 30, 0, 999999)) == "0999-03-01T09:30:00.999Z"


def test_iso_utc_keeps_at_most_days_kept_date_parts_and_writes_each_day_right():
    first = datetime.datetime(2020, 1, 1, 12, tzinfo=datetime.timezone.utc)
    days = [first + datetime.timedelta(days=n) for n in range(api.DAYS_KEPT + 10)]
    written = [iso_utc(day) for day in days] + [iso_utc(day) for day in days[:3]]
    assert len(api._day_parts) <= api.DAYS_KEPT
    assert written == [f"{day:%Y-%m-%d}T12:00:00.000Z" for day in days + days[:3]]
