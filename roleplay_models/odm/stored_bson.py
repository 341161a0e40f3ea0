"""Documents as a QuerySet reads them: BSON, decoded when first used.

pymongo hands on each document of a reply, and each embedded document of one it decodes, as a
:class:`ReadDocument` when asked to (``document_class``), without decoding its contents; a
session's turns are then each decoded when first used (see :mod:`.fast_paths`).
"""

from __future__ import annotations

from typing import Any

from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

__all__ = ("ReadDocument", "plain", "reading_codec")

# the slots RawBSONDocument.__init__ fills (pymongo 4.3 to 4.20 name them alike)
_SLOTS = ("_RawBSONDocument__raw", "_RawBSONDocument__inflated_doc",
          "_RawBSONDocument__codec_options")
_FILLS_ITS_SLOTS = all(name in RawBSONDocument.__dict__ for name in _SLOTS)
if _FILLS_ITS_SLOTS:
    _set_raw, _set_inflated, _set_options = (RawBSONDocument.__dict__[name].__set__
                                             for name in _SLOTS)


class ReadDocument(RawBSONDocument):
    """pymongo's RawBSONDocument, built for the BSON pymongo's own decoder has measured.

    RawBSONDocument's ``__init__`` checks the codec options and the size of the bytes it is
    given; a session's reply makes one for each turn, so those checks were a third of the
    cost of reading a session. Given the codec options pymongo decodes with (those of
    :func:`reading_codec`), this one fills the same slots without them (on a pymongo that
    names its slots otherwise, it is RawBSONDocument's own).
    """

    __slots__ = ()

    if _FILLS_ITS_SLOTS:
        def __init__(self, bson_bytes: bytes | memoryview,
                     codec_options: CodecOptions[Any] | None = None) -> None:
            if codec_options is None or codec_options.document_class is not ReadDocument:
                super().__init__(bson_bytes, codec_options)  # not pymongo's: its checks
                return
            _set_raw(self, bson_bytes)
            _set_inflated(self, None)
            _set_options(self, codec_options)


def reading_codec(codec_options: CodecOptions[Any]) -> CodecOptions[Any]:
    """``codec_options`` decoding each document as a :class:`ReadDocument`."""
    return codec_options.with_options(document_class=ReadDocument)


def plain(value: Any) -> Any:
    """``value`` with each RawBSONDocument in it decoded to a dict, as pymongo reads it."""
    if isinstance(value, RawBSONDocument):
        return {key: plain(item) for key, item in value.items()}
    if type(value) is list:
        return [plain(item) for item in value]
    return value
