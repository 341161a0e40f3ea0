"""Field types that make mongoengine validate the way the mongoose schema does."""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import math
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from bson import ObjectId
from bson.tz_util import utc as BSON_UTC
from mongoengine import DO_NOTHING
from mongoengine import fields as me_fields
from mongoengine.base import BaseField, BaseList
from mongoengine.fields import BooleanField, DateTimeField, StringField

from ._mongoengine import UPDATE_OPERATOR_NAMES, ChoicesCheckedByValidate

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = (
    "EmbeddedDocumentField",
    "JS_WHITESPACE",
    "ListField",
    "NumberField",
    "ObjectIdField",
    "ReferenceField",
    "StrictBooleanField",
    "TextField",
    "TrimmedTextListField",
    "TypedField",
    "UTCDateTimeField",
    "js_trim",
    "is_loading",
    "loading_from_database",
    "utc_now",
)

T = TypeVar("T")  # what reading the field on a document gives
D = TypeVar("D")  # a Document or EmbeddedDocument class a field holds

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


def is_loading() -> bool:
    """True inside :func:`loading_from_database`: values are being read, not set."""
    return _loading.get()


def js_trim(value: Any) -> Any:
    """``value.trim()`` as JavaScript computes it, for a string; anything else unchanged."""
    return value.strip(JS_WHITESPACE) if isinstance(value, str) else value


def utc_now() -> datetime.datetime:
    """The current time, timezone-aware UTC, cut to the millisecond MongoDB stores."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


if TYPE_CHECKING:
    from typing_extensions import TypedDict, Unpack

    class FieldOptions(TypedDict, total=False):
        """The keywords every field takes besides ``required``, ``default`` and ``null``."""

        db_field: str
        unique: bool
        unique_with: str | Sequence[str]
        primary_key: bool
        validation: Callable[[Any], None]
        sparse: bool
        help_text: str  # what the value means, and its unit: kept as an attribute of the field
        verbose_name: str

    class ListOptions(FieldOptions, total=False):
        """The keywords of a list field: ``required`` means not empty."""

        required: bool
        max_length: int


class TypedField(Generic[T]):
    """What a field reads as, for type checkers: ``Model.field`` is the field itself,
    ``document.field`` a ``T``, and only a ``T`` may be assigned to it.

    A field declared ``required=True`` or with a default reads as ``T``; one without is
    ``T | None``. This class adds nothing at run time (mongoengine's descriptors do the
    work); it comes first among a field's bases, where type checkers look before
    mongoengine's untyped ones.
    """

    if TYPE_CHECKING:
        @overload
        def __get__(self, instance: None, owner: Any) -> Self: ...
        @overload
        def __get__(self, instance: object, owner: Any) -> T: ...
        def __get__(self, instance: object | None, owner: Any) -> Self | T: ...
        def __set__(self, instance: object, value: T) -> None: ...


class TextField(TypedField[T], ChoicesCheckedByValidate, StringField):
    """A string field with mongoose's ``trim`` and a stricter ``required``.

    ``trim=True`` applies JavaScript's ``trim()`` to what the program sets (in
    the constructor, by assignment, in ``set__`` updates), never to what is
    read from the database. ``required=True`` refuses None, ``""`` and
    strings that JavaScript's ``trim()`` empties. ``max_bytes``, a function
    read at validation, bounds the UTF-8 size. Choices are checked after
    the type, so an unhashable value is a ValidationError, and also in
    atomic updates (``set__status=...``).
    """

    @overload
    def __init__(
        self: TextField[str], *, required: Literal[True],
        default: str | Callable[[], str] | None = None, null: bool = False,
        trim: bool = False, max_bytes: Callable[[], int] | None = None,
        choices: Sequence[str] | None = None, max_length: int | None = None,
        min_length: int | None = None, regex: str | None = None, **options: Unpack[FieldOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: TextField[str], *, required: bool = False,
        default: str | Callable[[], str], null: Literal[False] = False,
        trim: bool = False, max_bytes: Callable[[], int] | None = None,
        choices: Sequence[str] | None = None, max_length: int | None = None,
        min_length: int | None = None, regex: str | None = None, **options: Unpack[FieldOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: TextField[str | None], *, required: bool = False,
        default: str | Callable[[], str] | None = None, null: bool = False,
        trim: bool = False, max_bytes: Callable[[], int] | None = None,
        choices: Sequence[str] | None = None, max_length: int | None = None,
        min_length: int | None = None, regex: str | None = None, **options: Unpack[FieldOptions],
    ) -> None: ...
    def __init__(
        self, trim: bool = False, max_bytes: Callable[[], int] | None = None, **kwargs: Any
    ) -> None:
        self.trim = trim
        self.max_bytes = max_bytes  # read when validating, so that it can be configured
        super().__init__(**kwargs)

    def __set__(self, instance: object, value: T) -> None:
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
        if (type(value) is not str or self.max_length is not None
                or self.min_length is not None or self.regex is not None):
            super().validate(value)  # StringField's checks, which a str passes without these
        if value.isascii():  # its own UTF-8, answered without reading the text
            size = len(value)
        else:
            try:
                size = len(value.encode("utf-8"))
            except UnicodeEncodeError:
                self.error("String value is not valid UTF-8 text")
        if self.max_bytes is not None and size > self.max_bytes():
            self.error(f"Text is {size} bytes of UTF-8; at most {self.max_bytes()} are allowed")
        # blank: empty, or JavaScript whitespace from the first character to the last
        if self.required and (not value or value[0] in JS_WHITESPACE) and not js_trim(value):
            self.error("Field is required and cannot be blank")
        # choices are checked here, after the type, so that a dict or a list never reaches
        # mongoengine's set() of the choices
        if self.choices and value not in self.choices:
            self.error("Value must be one of %s" % (tuple(self.choices),))


class NumberField(TypedField[T], BaseField):
    """A mongoose ``Number``: an int or a float, finite, optionally bounded.

    Integers stay integers in storage and floats stay floats, as mongoose
    writes them; booleans, NaN, infinities and integers beyond 64 bits are
    refused. It reads as ``float``, which admits the ints it keeps.
    """

    @overload
    def __init__(
        self: NumberField[float], *, required: Literal[True],
        default: float | Callable[[], float] | None = None, null: bool = False,
        min_value: float | None = None, max_value: float | None = None,
        choices: Sequence[float] | None = None, **options: Unpack[FieldOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: NumberField[float], *, required: bool = False,
        default: float | Callable[[], float], null: Literal[False] = False,
        min_value: float | None = None, max_value: float | None = None,
        choices: Sequence[float] | None = None, **options: Unpack[FieldOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: NumberField[float | None], *, required: bool = False,
        default: float | Callable[[], float] | None = None, null: bool = False,
        min_value: float | None = None, max_value: float | None = None,
        choices: Sequence[float] | None = None, **options: Unpack[FieldOptions],
    ) -> None: ...
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


class UTCDateTimeField(TypedField[T], DateTimeField):
    """A datetime that is always timezone-aware UTC in Python.

    A naive value is taken to be UTC (as pymongo stores it); an aware one
    is converted. Strings and other types are refused rather than parsed.
    """

    if TYPE_CHECKING:
        @overload
        def __init__(
            self: UTCDateTimeField[datetime.datetime], *, required: Literal[True],
            default: datetime.datetime | Callable[[], datetime.datetime] | None = None,
            null: bool = False, **options: Unpack[FieldOptions],
        ) -> None: ...
        @overload
        def __init__(
            self: UTCDateTimeField[datetime.datetime], *, required: bool = False,
            default: datetime.datetime | Callable[[], datetime.datetime],
            null: Literal[False] = False, **options: Unpack[FieldOptions],
        ) -> None: ...
        @overload
        def __init__(
            self: UTCDateTimeField[datetime.datetime | None], *, required: bool = False,
            default: datetime.datetime | Callable[[], datetime.datetime] | None = None,
            null: bool = False, **options: Unpack[FieldOptions],
        ) -> None: ...
        def __init__(self, **kwargs: Any) -> None: ...

    def __set__(self, instance: object, value: T) -> None:
        super().__set__(instance, self.assigned(value))

    def assigned(self, value: Any) -> Any:
        """What an assignment of ``value`` hands on to mongoengine's ``__set__``."""
        return self._as_utc(value)

    @staticmethod
    def _as_utc(value: Any) -> Any:
        if not isinstance(value, datetime.datetime) or value.tzinfo is datetime.timezone.utc:
            return value
        if value.tzinfo is None or value.tzinfo is BSON_UTC:  # pymongo decodes to its own UTC
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


class StrictBooleanField(TypedField[T], BooleanField):
    """A mongoose ``Boolean`` that holds only ``True`` or ``False``.

    mongoengine's BooleanField calls ``bool()`` on what it is given, so
    ``"false"`` becomes True; here any value that is not a bool is refused
    by ``validate()`` (and so by save) and in atomic updates and filters.
    """

    if TYPE_CHECKING:
        @overload
        def __init__(
            self: StrictBooleanField[bool], *, required: Literal[True],
            default: bool | Callable[[], bool] | None = None, null: bool = False,
            **options: Unpack[FieldOptions],
        ) -> None: ...
        @overload
        def __init__(
            self: StrictBooleanField[bool], *, required: bool = False,
            default: bool | Callable[[], bool], null: Literal[False] = False,
            **options: Unpack[FieldOptions],
        ) -> None: ...
        @overload
        def __init__(
            self: StrictBooleanField[bool | None], *, required: bool = False,
            default: bool | Callable[[], bool] | None = None, null: bool = False,
            **options: Unpack[FieldOptions],
        ) -> None: ...
        def __init__(self, **kwargs: Any) -> None: ...

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


class TrimmedTextListField(TypedField[list[str]], me_fields.ListField):
    """A list of strings, each trimmed like ``TextField(trim=True)`` when the program adds it
    (assignment, constructor, append, extend, insert, item assignment); stored strings are
    left as they are."""

    def __init__(self, **options: Unpack[ListOptions]) -> None:
        super().__init__(TextField(trim=True), **options)

    def __set__(self, instance: object, value: list[str]) -> None:
        if isinstance(value, (list, tuple)) and not _loading.get():
            value = [js_trim(v) for v in value]
        super().__set__(instance, value)

    @overload
    def __get__(self, instance: None, owner: Any) -> Self: ...
    @overload
    def __get__(self, instance: object, owner: Any) -> list[str]: ...
    def __get__(self, instance: Any, owner: Any) -> Any:
        value = super().__get__(instance, owner)
        if isinstance(value, BaseList) and not isinstance(value, TrimmedList):
            value = instance._data[self.name] = TrimmedList(list(value), instance, self.name)
        return value


class ObjectIdField(TypedField[T], me_fields.ObjectIdField):
    """mongoengine's ObjectIdField, typed: it reads as ``ObjectId`` (``| None`` unless it is
    required or has a default)."""

    if TYPE_CHECKING:
        @overload
        def __init__(
            self: ObjectIdField[ObjectId], *, required: Literal[True],
            default: ObjectId | Callable[[], ObjectId] | None = None, null: bool = False,
            **options: Unpack[FieldOptions],
        ) -> None: ...
        @overload
        def __init__(
            self: ObjectIdField[ObjectId], *, required: bool = False,
            default: ObjectId | Callable[[], ObjectId], null: Literal[False] = False,
            **options: Unpack[FieldOptions],
        ) -> None: ...
        @overload
        def __init__(
            self: ObjectIdField[ObjectId | None], *, required: bool = False,
            default: ObjectId | Callable[[], ObjectId] | None = None, null: bool = False,
            **options: Unpack[FieldOptions],
        ) -> None: ...
        def __init__(self, **kwargs: Any) -> None: ...


class ReferenceField(TypedField[T], me_fields.ReferenceField):
    """mongoengine's ReferenceField, typed: it reads as the referenced model (``| None``
    unless it is required or has a default), loaded when first read.

    Assign a saved or loaded Document. An id given instead (allowed in the constructor, and
    looked up when saving) is read back as that id until the document is loaded again.
    """

    if TYPE_CHECKING:
        @overload
        def __init__(
            self: ReferenceField[D], document_type: type[D], *, required: Literal[True],
            default: D | Callable[[], D] | None = None, null: bool = False,
            dbref: bool = False, reverse_delete_rule: int = DO_NOTHING,
            **options: Unpack[FieldOptions],
        ) -> None: ...
        @overload
        def __init__(
            self: ReferenceField[D], document_type: type[D], *, required: bool = False,
            default: D | Callable[[], D], null: Literal[False] = False,
            dbref: bool = False, reverse_delete_rule: int = DO_NOTHING,
            **options: Unpack[FieldOptions],
        ) -> None: ...
        @overload
        def __init__(
            self: ReferenceField[D | None], document_type: type[D], *, required: bool = False,
            default: D | Callable[[], D] | None = None, null: bool = False,
            dbref: bool = False, reverse_delete_rule: int = DO_NOTHING,
            **options: Unpack[FieldOptions],
        ) -> None: ...
        def __init__(self, document_type: Any, **kwargs: Any) -> None: ...

    def to_python(self, value: Any) -> Any:
        # mongoengine makes a DBRef of ObjectId(None), a fresh id, of a null it is given (a
        # null item of a list of references, which another program may store): every read
        # would show another made-up id
        if value is None:
            return None
        return super().to_python(value)

    def to_mongo(self, document: Any) -> Any:
        if document is None:  # such a null, loaded as it is (see to_python), is stored as null
            return None
        return super().to_mongo(document)


class EmbeddedDocumentField(TypedField[T], me_fields.EmbeddedDocumentField):
    """mongoengine's EmbeddedDocumentField, typed: it reads as the embedded document's class
    (``| None`` unless it is required or has a default)."""

    if TYPE_CHECKING:
        @overload
        def __init__(
            self: EmbeddedDocumentField[D], document_type: type[D], *, required: Literal[True],
            default: D | Callable[[], D] | None = None, null: bool = False,
            **options: Unpack[FieldOptions],
        ) -> None: ...
        @overload
        def __init__(
            self: EmbeddedDocumentField[D], document_type: type[D], *, required: bool = False,
            default: D | Callable[[], D], null: Literal[False] = False,
            **options: Unpack[FieldOptions],
        ) -> None: ...
        @overload
        def __init__(
            self: EmbeddedDocumentField[D | None], document_type: type[D], *,
            required: bool = False, default: D | Callable[[], D] | None = None,
            null: bool = False, **options: Unpack[FieldOptions],
        ) -> None: ...
        def __init__(self, document_type: Any, **kwargs: Any) -> None: ...


class ListField(TypedField[T], me_fields.ListField):
    """mongoengine's ListField, typed: a list of what its item field reads as (an item field
    that may read as None gives a list of the values without None)."""

    if TYPE_CHECKING:
        @overload
        def __init__(
            self: ListField[list[D]], field: TypedField[D | None], **options: Unpack[ListOptions]
        ) -> None: ...
        @overload
        def __init__(
            self: ListField[list[D]], field: TypedField[D], **options: Unpack[ListOptions]
        ) -> None: ...
        def __init__(self, field: Any, **kwargs: Any) -> None: ...
