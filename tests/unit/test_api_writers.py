"""The generated API writers: their source takes keys only as string literals, and shows in
tracebacks (the writing itself is compared with mongoengine's encoding in test_fast_paths)."""

from __future__ import annotations

import traceback

import pytest

from roleplay_models.odm.api_writers import dict_writer, documents_writer


@pytest.mark.parametrize("key", ['a "quoted" key', "it's", "two\nlines", "back\\slash", "{}"])
def test_a_key_is_written_back_as_it_is(key):
    write = dict_writer([(key, key, None, None)], [])
    assert write(None, {key: 1}, {}) == {key: 1}


class Shown(str):
    def __repr__(self) -> str:  # not a literal: a str subclass cannot change the source
        return "__import__('os')"


def test_a_key_is_written_as_its_string_not_its_repr():
    write = dict_writer([(Shown("k"), "k", None, None)], [])
    assert write(None, {"k": 1}, {}) == {"k": 1}


def test_a_key_that_is_not_a_string_is_refused():
    with pytest.raises(TypeError, match="must be a str, not 1"):
        dict_writer([(1, "k", None, None)], [])


def test_a_generated_writer_shows_its_source_in_a_traceback():
    def fail(value: object) -> object:
        raise ValueError(value)

    write = dict_writer([("n", "n", fail, None)], [])
    with pytest.raises(ValueError) as raised:
        write(None, {"n": 3}, {})
    shown = "".join(traceback.format_exception(raised.value))
    assert "o0 = value if value is None else convert0(value)" in shown


def test_a_documents_writer_refuses_an_attribute_that_is_not_a_name():
    with pytest.raises(ValueError, match="not an attribute name"):
        documents_writer([], frozenset(), frozenset(), object, "a.b")


def test_a_documents_writer_refuses_a_keyword_as_the_attribute():
    with pytest.raises(ValueError, match="not an attribute name"):
        documents_writer([], frozenset(), frozenset(), object, "class")
