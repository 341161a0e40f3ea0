"""The types ``usage_ok.py`` states are what the package returns: its checks run against the
real server with an ``assert_type`` that looks at each value."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import pytest
import typing_extensions
import usage_mistakes
import usage_ok
from bson import SON

import roleplay_models as rp
from roleplay_models.odm.fields import TextField

from builders import character, scenario, tip


def conforms(value: Any, expected: Any) -> bool:
    """Whether ``value`` is of the type ``expected`` spells, as far as a value can show it:
    unions, ``None``, ``Any``, lists and dicts item by item, ``float`` taking an int (as the
    checkers do), a ``Page`` by its items, ``type[X]`` by subclass, and any other generic by
    its class."""
    if expected is Any:
        return True
    if expected is None or expected is type(None):
        return value is None
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, arg) for arg in args)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is list:
        return isinstance(value, list) and all(conforms(item, args[0]) for item in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            conforms(k, args[0]) and conforms(v, args[1]) for k, v in value.items())
    if origin is rp.Page:
        return isinstance(value, rp.Page) and conforms(value.items, list[args[0]])
    if origin is type:
        return isinstance(value, type) and issubclass(value, args[0])
    if origin is not None:
        return isinstance(value, origin)
    return isinstance(value, expected)


class CheckingAssertType:
    """An ``assert_type`` that refuses a value not of the stated type, and counts the checks."""

    def __init__(self) -> None:
        self.checked = 0

    def __call__(self, value: Any, expected: Any) -> Any:
        assert conforms(value, expected), f"{value!r} is not {expected}"
        self.checked += 1
        return value


@pytest.mark.parametrize(("value", "expected", "holds"), [
    (None, str | None, True),
    ("x", str | None, True),
    (1, str | None, False),
    (2, float, True),
    (True, float, False),
    ([1, "a"], list[int], False),
    ({"a": 1}, dict[str, Any], True),
    (rp.Page([1], 1, 1, 1), rp.Page[str], False),
    (SON(), SON[str, Any], True),
    (rp.RoleplaySession, type[rp.RoleplaySession], True),
    (rp.Scenario, type[rp.RoleplaySession], False),
    (TextField(), TextField[str], True),
])
def test_the_checker_tells_types_apart(value: Any, expected: Any, holds: bool) -> None:
    assert conforms(value, expected) is holds


def test_every_stated_type_is_the_type_returned(db: object, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    check = CheckingAssertType()
    monkeypatch.setattr(typing_extensions, "assert_type", check)
    saved_scenario = scenario().save()
    usage_ok.exercise(saved_scenario, character(scenarios=[saved_scenario]).save(),
                      tip(related_scenarios=[saved_scenario]).save())
    assert check.checked >= Path(usage_ok.__file__).read_text().count("te.assert_type(")


def test_each_mistake_is_marked_for_both_checkers() -> None:
    source = Path(usage_mistakes.__file__).read_text().splitlines()
    marked = [line for line in source if "# type: ignore[" in line]
    assert len(marked) == usage_mistakes.MISTAKES
    assert all("# pyright: ignore[" in line for line in marked)


def test_help_text_is_kept_on_the_field() -> None:
    assert "whole seconds" in rp.RoleplaySession.total_duration.help_text
    assert "UTC" in rp.RoleplaySession.end_time.help_text
    assert not hasattr(rp.Scenario.title, "help_text")
