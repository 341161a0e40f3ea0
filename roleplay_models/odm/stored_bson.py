"""Documents as a QuerySet reads them: BSON, decoded when first used.

pymongo hands on each document of a reply, and each embedded document of one it decodes, as a
:class:`ReadDocument` when asked to (``document_class``), without decoding its contents; a
session's turns are then each decoded when first used (see :mod:`.fast_paths`).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, Generic, TypeGuard, TypeVar, cast

import bson
from bson import SON, ObjectId
from bson.code import Code
from bson.codec_options import CodecOptions, TypeRegistry
from bson.raw_bson import RawBSONDocument
from bson.tz_util import utc as BSON_UTC

__all__ = ("AVAILABLE", "KeptForAFew", "ReadDocument", "decoded", "decoded_for_json", "is_bson",
           "plain", "reading_codec", "son_of")

K = TypeVar("K")
V = TypeVar("V")


class KeptForAFew(Generic[K, V]):
    """``make(key)`` for a few keys, each kept while it is the same object: a QuerySet asks
    again and again for the same few (a collection, codec options), and two models'
    QuerySets alternate."""

    FEW = 8

    def __init__(self, make: Callable[[K], V]) -> None:
        self._make = make
        self._kept: dict[int, tuple[K, V]] = {}

    def __call__(self, key: K) -> V:
        kept = self._kept.get(id(key))
        if kept is not None and kept[0] is key:
            return kept[1]
        made = self._make(key)
        if len(self._kept) >= self.FEW:
            self._kept.clear()
        self._kept[id(key)] = (key, made)
        return made

# the slots RawBSONDocument.__init__ fills (pymongo 4.3 to 4.20 name them alike); on a pymongo
# that names them otherwise, QuerySets read dicts (see RoleplayDocument.reads_stored_bson)
_SLOTS = ("_RawBSONDocument__raw", "_RawBSONDocument__inflated_doc",
          "_RawBSONDocument__codec_options")
AVAILABLE = all(name in RawBSONDocument.__dict__ for name in _SLOTS)
if AVAILABLE:
    _options_of = RawBSONDocument.__dict__["_RawBSONDocument__codec_options"].__get__


class ReadDocument(RawBSONDocument):
    """pymongo's RawBSONDocument, built for the BSON pymongo's own decoder has measured.

    RawBSONDocument's ``__init__`` checks the codec options and the size of the bytes it is
    given; a session's reply makes one for each turn, so those checks were a third of the
    cost of reading a session. Given the codec options pymongo decodes with (those of
    :func:`reading_codec`), this one fills the same slots without them (on a pymongo that
    names its slots otherwise, it is RawBSONDocument's own).
    """

    __slots__ = ()

    if AVAILABLE:
        def __init__(self, bson_bytes: bytes | memoryview,
                     codec_options: CodecOptions[Any] | None = None) -> None:
            if codec_options is None or codec_options.document_class is not ReadDocument:
                super().__init__(bson_bytes, codec_options)  # not pymongo's: its checks
                return
            # the slots stored by name (the names are checked above): half the time of
            # calling their descriptors, for each of a session's turns
            self._RawBSONDocument__raw = bson_bytes
            self._RawBSONDocument__inflated_doc = None
            self._RawBSONDocument__codec_options = codec_options


def reading_codec(codec_options: CodecOptions[Any]) -> CodecOptions[Any]:
    """``codec_options`` decoding each document as a :class:`ReadDocument`."""
    return codec_options.with_options(document_class=ReadDocument)


def decoded(document: RawBSONDocument) -> dict[str, Any]:
    """``document`` decoded as pymongo decodes a document it reads as a dict, with the codec
    options it was read with (an embedded document that is a DBRef is one)."""
    options = _as_dicts(_options_of(document, type(document)))
    found: dict[str, Any] = bson.decode(document.raw, options)
    return found


def decoded_for_json(documents: list[RawBSONDocument]) -> list[dict[str, Any]] | None:
    """``[decoded(d) for d in documents]`` in one call, for documents read with the same
    codec options (the turns of one reply; None where their options differ), except that
    each time is decoded without a zone (in UTC), which pymongo does in half the time: for
    values only written as JSON, where a time is written alike either way
    (``api.iso_utc``), and no time is shown as it is."""
    options = _options_of(documents[0], type(documents[0]))
    if any(_options_of(document, type(document)) is not options for document in documents):
        return None
    found: list[dict[str, Any]] = bson.decode_all(
        b"".join([document.raw for document in documents]), _as_naive_dicts(options))
    return found


# the codec options a document was read with -> the same decoding to dicts
_as_dicts: KeptForAFew[CodecOptions[Any], CodecOptions[Any]] = KeptForAFew(
    lambda options: options.with_options(document_class=dict))


NO_TYPE_CODECS = TypeRegistry()  # (pymongo's registries compare by what they hold)


def _without_zones(options: CodecOptions[Any]) -> CodecOptions[Any]:
    # a time read in UTC is the same instant without its zone; moving one to another zone
    # (tzinfo) can fail near the ends of the range, and a type codec may decode a time into
    # anything: those options are kept, to decode alike
    if (options.tzinfo in (None, BSON_UTC, datetime.timezone.utc)
            and options.type_registry == NO_TYPE_CODECS):
        return options.with_options(document_class=dict, tz_aware=False, tzinfo=None)
    return options.with_options(document_class=dict)


# ... with times without a zone, where that gives the same instants
_as_naive_dicts: KeptForAFew[CodecOptions[Any], CodecOptions[Any]] = KeptForAFew(_without_zones)


# types a value decoded from BSON may have that are not a RawBSONDocument
NEVER_BSON = frozenset({dict, list, str, int, float, bool, type(None), bytes, ObjectId,
                        datetime.datetime})


def is_bson(value: Any) -> TypeGuard[RawBSONDocument]:
    """``isinstance(value, RawBSONDocument)``, answered without asking the ABC machinery
    (RawBSONDocument is a Mapping) for the types values of stored documents have."""
    kind = type(value)
    return kind is ReadDocument or (kind not in NEVER_BSON
                                    and isinstance(value, RawBSONDocument))


def plain(value: Any) -> Any:
    """A value of a document read as a RawBSONDocument (or the document itself) with each
    RawBSONDocument in it decoded (:func:`decoded`); for a value of a document holding no
    DBRef (``$ref``), which pymongo decodes apart."""
    if is_bson(value):
        return decoded(value)
    if type(value) is list:
        return [plain(item) for item in value]
    if isinstance(value, Code) and isinstance(value.scope, RawBSONDocument):
        return Code(str(value), decoded(value.scope))
    return value


def _son_keys_list_is_kept_apart() -> bool:
    # pymongo's SON holds nothing but its keys, in order, in a list of its own (``__keys``,
    # set by its __new__)
    son: Any = SON.__new__(SON)
    return vars(son) == {"_SON__keys": []}


_SON_KEYS_APART = _son_keys_list_is_kept_apart()


def son_of(items: dict[str, Any]) -> SON[str, Any]:
    """``SON(items)``, built in C: SON's own ``__new__`` and ``__setitem__`` (Python) add
    each key to its list of keys; here that list is made whole and the dict filled by
    ``dict.update``, which leaves ``__setitem__`` out. A SON that holds anything else is
    built as ``SON(items)``."""
    if not _SON_KEYS_APART:
        return SON(items)
    son: Any = dict.__new__(SON)
    son._SON__keys = list(items)
    dict.update(son, items)
    return cast(SON[str, Any], son)
