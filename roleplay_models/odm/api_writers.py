"""The functions that write one class's API dicts, each generated once from its shape's steps.

A session's JSON writes a dict for every turn, and a generic loop over a class's steps asks
at every step of every document what is known once per class (is there a conversion, a
default, a reference?). So, as ``dataclasses`` writes each class's ``__init__`` and cattrs
each class's unstructuring function, the steps worked out by :class:`.api.ApiShape` are
written here as the source of one function, compiled once per class, which writes the dict
as one display; each does what the loop it replaces did, step for step. The objects a step
uses (a conversion, a field, a default) are handed to the function by name, never written
into its source; only the keys and names are, as the literals ``str.__repr__`` writes (a
key that is not a string is refused when its class's shape is worked out). Each function's
source is kept in ``linecache``, for tracebacks.
"""

from __future__ import annotations

import itertools
import keyword
import linecache
from collections.abc import Callable, Collection, Mapping, Sequence, Set
from typing import Any, NamedTuple

from bson import ObjectId

__all__ = ("DictWriter", "DocumentsWriter", "FieldsWriter", "StoredStep", "StoredWriter",
           "WrittenField", "dict_writer", "documents_writer", "fields_writer", "stored_writer")

# writes the API dict of a stored document, from (its shape, the document, the populated
# references' small dicts by attribute and id)
DictWriter = Callable[[Any, Mapping[str, Any], Mapping[str, Any]], "dict[str, Any]"]
# writes a stored document's API dict, or None where it cannot (see ApiShape.dump_stored)
StoredWriter = Callable[[Mapping[str, Any]], "dict[str, Any] | None"]
# writes the stored documents of a list of loaded documents (see documents_writer)
DocumentsWriter = Callable[[list[Any]], "list[dict[str, Any]] | None"]
# writes a Document's API dict from (its shape, its _data, its _minimized_fields(), the
# references to populate)
FieldsWriter = Callable[[Any, Mapping[str, Any], Collection[str], Collection[str]],
                        "dict[str, Any]"]


class StoredStep(NamedTuple):
    """How one field of a document written as stored is shown (ApiShape.from_stored)."""

    stored: str
    key: str
    convert: Callable[[Any], Any] | None
    field: Any
    kind: type  # the type its value must have (object: a str, int, float or bool)


class WrittenField(NamedTuple):
    """How one field of a Document is written from its value (ApiShape.dump_fields)."""

    name: str  # the attribute
    stored: str
    key: str
    convert: Callable[[Any], Any] | None  # of a value that is not None (None: as it is)
    missing: Any  # written where the encoding leaves the key out
    encode: Callable[[Any], Any] | None  # as the encoding for the API does (None: as it is)
    field: Any
    unmodelled_fallback: bool  # a missing value is looked up under the stored name
    reference: str | None  # the reference attribute it shows, if it is one
    # of a reference: the class of the documents whose small dict it shows without encoding
    # its value first, and their id's attribute (where its encoding is their id, or a DBRef
    # of it)
    shown_directly: tuple[type, str] | None = None
    # of a list of embedded documents: writes it in one pass where it can, as its encoding
    # and conversion would (ApiShape.stored_rows), else gives None
    rows: DocumentsWriter | None = None
    # a type, and the function that converts a value of exactly that type as convert does
    converted_as: tuple[type, Callable[[Any], Any]] | None = None


_numbers = itertools.count(1)  # of the generated functions, for their file names


def _compiled(name: str, arguments: str, body: list[str], names: dict[str, Any]) -> Any:
    source = f"def {name}({arguments}):\n" + "".join(f"    {line}\n" for line in body)
    filename = f"<roleplay_models.api_writers {name} {next(_numbers)}>"
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), names, namespace)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return namespace[name]


def _literal(text: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"an API JSON key or field name must be a str, not {text!r}")
    return str.__repr__(text)


def _dict_display(keys: Sequence[str], values: Sequence[str]) -> str:
    return "{" + ", ".join(f"{_literal(key)}: {value}"
                           for key, value in zip(keys, values, strict=True)) + "}"


def _stored_body(steps: Sequence[StoredStep], scalars: Collection[type], names: dict[str, Any]
                 ) -> list[str]:
    # the lines that check and convert each value of son, in the names of stored_writer,
    # returning None where the document's value would be shown otherwise
    body = ["if not son.keys() <= stored_keys:", "    return None"]
    for i, step in enumerate(steps):
        names[f"field{i}"] = step.field
        body += [f"v{i} = son.get({_literal(step.stored)})",
                 f"if v{i} is None:",
                 f"    if field{i}.default is not None:",
                 "        return None"]
        if step.kind is object and str in scalars:  # (most are strings: asked first)
            body += [f"elif (kind := type(v{i})) is not str and kind not in scalars:",
                     "    return None"]
        elif step.kind is object:
            body += [f"elif type(v{i}) not in scalars:", "    return None"]
        else:
            names[f"kind{i}"] = step.kind
            body += [f"elif type(v{i}) is not kind{i}:", "    return None"]
        if step.convert is not None:
            names[f"convert{i}"] = step.convert
            body += ["else:", f"    v{i} = convert{i}(v{i})"]
    return body


def _stored_display(steps: Sequence[StoredStep]) -> str:
    return _dict_display([step.key for step in steps], [f"v{i}" for i in range(len(steps))])


def stored_writer(steps: Sequence[StoredStep], stored_keys: Set[str],
                  scalars: Collection[type]) -> StoredWriter:
    """A function of a stored document (a dict, not BSON) that writes what ApiShape.dump_stored
    writes of it: None where a key is not among ``stored_keys``, a value's type is not its
    step's kind (``object``: one of ``scalars``), or a value is None (or missing) where its
    field has a default; else the dict of each step's key and its value, converted."""
    names: dict[str, Any] = {"stored_keys": stored_keys, "scalars": scalars}
    body = _stored_body(steps, scalars, names) + ["return " + _stored_display(steps)]
    writer: StoredWriter = _compiled("write_stored", "son", body, names)
    return writer


def documents_writer(steps: Sequence[StoredStep], stored_keys: Set[str],
                     scalars: Collection[type], cls: type, attribute: str) -> DocumentsWriter:
    """A function of a list that writes, in one pass, what the writer of :func:`stored_writer`
    writes of the stored document each of its items holds as ``attribute`` (a document of
    ``cls`` loaded and not built yet); None where an item is of another class, does not hold
    a dict there, or is not written that way."""
    if not attribute.isidentifier() or keyword.iskeyword(attribute):
        raise ValueError(f"not an attribute name: {attribute!r}")
    names: dict[str, Any] = {"stored_keys": stored_keys, "scalars": scalars, "cls": cls}
    names["items"] = list.__iter__  # a list's items (a BaseList's own __iter__ is Python's)
    body = ["rows = []", "append = rows.append", "for document in items(documents):",
            "    if type(document) is not cls:", "        return None",
            f"    son = document.{attribute}",
            "    if type(son) is not dict:", "        return None"]
    body += [f"    {line}" for line in _stored_body(steps, scalars, names)]
    body += [f"    append({_stored_display(steps)})", "return rows"]
    writer: DocumentsWriter = _compiled("write_documents", "documents", body, names)
    return writer


def fields_writer(steps: Sequence[WrittenField]) -> FieldsWriter:
    """A function of (shape, data, left out when empty, populate) that writes a Document's API
    dict from its ``_data`` (ApiShape.dump_fields), field by field: each value encoded
    as the encoding for the API encodes it, a missing one as the encoding leaves it (an id, or
    a field that is not ``null``, then shows ``missing``, or an unmodelled key of its stored
    name), one of ``left out`` shown as missing where empty, and a reference written by
    ``shape._reference`` (its documents as small dicts where its name is in ``populate``):
    one holding a document its ``shown_directly`` names, straight as that document's small
    dict (``shape.shown_reference``); a list its ``rows`` writes, as they write it."""
    names: dict[str, Any] = {"ObjectId": ObjectId}
    body: list[str] = []
    for i, step in enumerate(steps):
        names[f"field{i}"] = step.field
        names[f"missing{i}"] = step.missing
        lines = [f"given = value = data.get({_literal(step.name)})"]
        if step.encode is not None:
            names[f"encode{i}"] = step.encode
            lines += ["if value is not None:", f"    value = encode{i}(value)"]
        absent = "True" if step.stored == "_id" else f"not field{i}.null"
        instead = (f"data.get({_literal(step.stored)}, missing{i})" if step.unmodelled_fallback
                   else f"missing{i}")
        lines += [f"if value is None and {absent}:", f"    value = {instead}",
                  f"if {_literal(step.name)} in left_out and not value:",
                  f"    value = missing{i}"]
        if step.reference is not None:
            reference = _literal(step.reference)
            lines += ["if value is not None:",
                      f"    o{i} = shape._reference(value, shape.shown_references("
                      f"given, {reference}) if {reference} in populate else {{}})",
                      "else:", f"    o{i} = None"]
        elif step.converted_as is not None:
            names[f"convert{i}"] = step.convert
            names[f"kind{i}"], names[f"converts_kind{i}"] = step.converted_as
            lines.append(f"o{i} = converts_kind{i}(value) if type(value) is kind{i} "
                         f"else value if value is None else convert{i}(value)")
        elif step.convert is not None:
            names[f"convert{i}"] = step.convert
            lines.append(f"o{i} = value if value is None else convert{i}(value)")
        else:
            lines.append(f"o{i} = value")
        if step.rows is not None:
            names[f"rows{i}"] = step.rows
            lines = [f"given = value = data.get({_literal(step.name)})",
                     f"o{i} = rows{i}(value) if isinstance(value, list) else None",
                     f"if o{i} is None:", *(f"    {line}" for line in lines[1:])]
        if step.reference is not None and step.shown_directly is not None:
            # a document of its class with an ObjectId: the encoding is that id, so the
            # value shown is its small dict (where empty, the id's string)
            target, id_name = step.shown_directly
            names[f"target{i}"] = target
            reference = _literal(step.reference)
            lines = [f"given = data.get({_literal(step.name)})",
                     f"if (type(given) is target{i} and {reference} in populate",
                     f"        and type(pk := given._data.get({_literal(id_name)})) is ObjectId):",
                     f"    o{i} = shape.shown_reference(given, {reference}) or str(pk)",
                     "else:", *(f"    {line}" for line in lines)]
        body += lines
    body.append("return " + _dict_display([step.key for step in steps],
                                          [f"o{i}" for i in range(len(steps))]))
    writer: FieldsWriter = _compiled("write_fields", "shape, data, left_out, populate", body,
                                     names)
    return writer


def dict_writer(steps: Sequence[tuple[str, str, Callable[[Any], Any] | None, Any]],
                references: Sequence[tuple[str, str]]) -> DictWriter:
    """A function of (shape, stored document, populated) that writes what ApiShape.dump wrote
    step by step: each step's (stored name, key, conversion, missing) value, converted where
    it is not None; then each reference's (key, attribute) value that is not None written
    again by ``shape._reference`` from its populated dicts."""
    names: dict[str, Any] = {}
    body: list[str] = []
    for i, (stored, _, convert, missing) in enumerate(steps):
        names[f"missing{i}"] = missing
        body.append(f"value = raw.get({_literal(stored)}, missing{i})")
        if convert is not None:
            names[f"convert{i}"] = convert
            body.append(f"o{i} = value if value is None else convert{i}(value)")
        else:
            body.append(f"o{i} = value")
    body.append("out = " + _dict_display([key for _, key, _, _ in steps],
                                         [f"o{i}" for i in range(len(steps))]))
    for key, name in references:
        body += [f"value = out.get({_literal(key)})",
                 "if value is not None:",
                 f"    out[{_literal(key)}] = shape._reference("
                 f"value, populated.get({_literal(name)}, {{}}))"]
    body.append("return out")
    writer: DictWriter = _compiled("write_dict", "shape, raw, populated", body, names)
    return writer
