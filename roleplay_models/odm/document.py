"""The base classes every model and embedded document of this package stands on."""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from bson import SON, ObjectId
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from mongoengine import Document, EmbeddedDocument, ValidationError
from mongoengine.errors import InvalidDocumentError
from mongoengine.fields import EmbeddedDocumentField

from . import _mongoengine as me
from . import fast_paths, stored_bson
from .api import api_shape, shown_from_fields
from .fast_paths import (
    HOLDS_NO_DOCUMENT,
    add_unknown_keys,
    hands_on_encoding,
    layout_of,
    takes_fast_paths,
)
from .fields import loading_from_database
from .limits import check_document_size, encoded_within_limits
from .queryset import RoleplayQuerySet
from .references import ChecksReferences, malformed_references
from .stored_bson import is_bson, plain
from .timestamps import TimestampedMixin, is_new
from .uniqueness import duplicate_error
from .writes import none_stored_as_null

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ("RoleplayDocument", "RoleplayEmbeddedDocument")

if TYPE_CHECKING:
    # mongoengine has no types, and a class derived from an untyped one would be compatible
    # with every type (mypy takes a Scenario for a Character); type checkers see instead only
    # what is declared here of mongoengine's documents.
    class _UntypedBaseDocument:
        _fields: ClassVar[dict[str, Any]]
        _meta: ClassVar[dict[str, Any]]
        _class_name: ClassVar[str]
        _fields_ordered: ClassVar[tuple[str, ...]]
        _db_field_map: ClassVar[dict[str, str]]
        _reverse_db_field_map: ClassVar[dict[str, str]]
        _data: dict[str, Any]
        _changed_fields: list[str]
        _created: bool
        _initialised: bool

        def __init__(self, *args: Any, **values: Any) -> None: ...
        @classmethod
        def _from_son(cls, son: Any, _auto_dereference: bool = True, created: bool = False
                      ) -> Self: ...
        def _get_changed_fields(self) -> list[str]: ...
        def validate(self, clean: bool = True) -> None: ...
        def clean(self) -> None: ...
        def to_mongo(self, use_db_field: bool = True, fields: Any = None) -> SON[str, Any]: ...
        def to_json(self, *args: Any, **kwargs: Any) -> str: ...

    class UntypedEmbeddedDocument(_UntypedBaseDocument):
        """mongoengine's EmbeddedDocument, as type checkers see it."""

    class UntypedDocument(_UntypedBaseDocument):
        """mongoengine's Document, as type checkers see it."""

        id: ObjectId | None

        @property
        def pk(self) -> ObjectId | None: ...
        @pk.setter
        def pk(self, value: ObjectId | None) -> None: ...
        @classmethod
        def _get_collection(cls) -> Any: ...
        @classmethod
        def _get_collection_name(cls) -> str: ...
        @classmethod
        def _get_db(cls) -> Any: ...
        @classmethod
        def list_indexes(cls) -> list[Any]: ...
        @classmethod
        def compare_indexes(cls) -> dict[str, list[Any]]: ...
        @classmethod
        def ensure_indexes(cls) -> None: ...
        @classmethod
        def drop_collection(cls) -> None: ...
        def save(self, *args: Any, **kwargs: Any) -> Self: ...
        def reload(self, *fields: str, **kwargs: Any) -> Self: ...
        def modify(self, query: dict[str, Any] | None = None, **update: Any) -> bool: ...
        def delete(self, signal_kwargs: dict[str, Any] | None = None, **write_concern: Any
                   ) -> None: ...
        def update(self, **kwargs: Any) -> Any: ...
else:
    UntypedDocument = Document
    UntypedEmbeddedDocument = EmbeddedDocument

MAY_HOLD_EMBEDDED = (EmbeddedDocument, list, tuple, dict)

# the document whose save() is running in this context: its validate() checks what changed
_saving: contextvars.ContextVar[Any] = contextvars.ContextVar("roleplay_models_saving",
                                                              default=None)
# the embedded document fields to_mongo() leaves out where empty, by class (worked out once)
_minimized_by_class: dict[type, tuple[str, ...]] = {}


class BuiltThroughFastPaths:
    """Built through :mod:`.fast_paths`, as mongoengine would build it."""

    def __init__(self, *args: Any, **values: Any) -> None:
        layout = layout_of(type(self))
        if args or layout is None or not fast_paths.build(self, layout, values):
            super().__init__(*args, **values)


class CheckedAndEncodedThroughFastPaths:
    """mongoengine's ``validate()`` and ``to_mongo()``, with their results, through
    :mod:`.fast_paths`: for a session, one call per field rather than mongoengine's
    generic chain (and its look at each encoder's parameters on every call). It stands
    right above mongoengine's classes, so the steps of the mixins above it still apply."""

    def validate(self, clean: bool = True) -> None:
        layout = layout_of(type(self))
        if layout is None or not fast_paths.validate(self, layout, clean):
            super().validate(clean=clean)  # type: ignore[misc]

    @hands_on_encoding
    def to_mongo(self, use_db_field: bool = True, fields: Any = None) -> dict[str, Any]:
        layout = layout_of(type(self))
        if (layout is None or not layout.encodes or not use_db_field
                or (fields and any("." in name for name in fields))):  # parts of fields
            son: SON[str, Any] = super().to_mongo(  # type: ignore[misc]
                use_db_field=use_db_field, fields=fields)
            return son
        return fast_paths.encode_fields(self, layout, set(fields) if fields else None)


class KeepsUnknownFields:
    """Writes back the keys this package does not model (mongoose's ``__v``, say).

    mongoengine loads such keys into ``_data`` when ``strict`` is off but
    leaves them out of ``to_mongo``; a list of subdocuments rewritten on
    save would then lose them.
    """

    @hands_on_encoding
    def to_mongo(self, *args: Any, **kwargs: Any) -> Any:
        """mongoengine's SON, with the keys this package does not model written back."""
        son = super().to_mongo(*args, **kwargs)  # type: ignore[misc]
        if not kwargs.get("fields"):
            add_unknown_keys(son, self._data, self._fields)  # type: ignore[attr-defined]
        return son


class StoresLikeMongoose:
    """Writes what mongoose writes: ``null`` for a field declared ``null=True`` (the schema's
    ``default: null``), also when a save sets it back to None, and no key for an embedded
    document with nothing in it (mongoose's ``minimize``)."""

    @shown_from_fields
    @hands_on_encoding
    def to_mongo(self, *args: Any, **kwargs: Any) -> Any:
        """mongoengine's SON, with empty embedded documents left out as mongoose does."""
        son = super().to_mongo(*args, **kwargs)  # type: ignore[misc]
        for name in self._minimized_fields():
            stored = self._fields[name].db_field  # type: ignore[attr-defined]
            if stored in son and not son[stored]:
                del son[stored]
        return son

    @classmethod
    def _minimized_fields(cls) -> tuple[str, ...]:
        # asked on every to_mongo(): worked out once per class
        found = _minimized_by_class.get(cls)
        if found is None:
            found = _minimized_by_class[cls] = tuple(
                name for name, field in cls._fields.items()  # type: ignore[attr-defined]
                if isinstance(field, EmbeddedDocumentField))
        return found

    def adjust_delta(self, set_data: dict[str, Any], unset_data: dict[str, Any]
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
        """What an update sends: ``null`` rather than no key for a nullable field, and no
        key rather than an empty object for an embedded document."""
        minimized = {self._fields[name].db_field  # type: ignore[attr-defined]
                     for name in self._minimized_fields()}
        for path in list(unset_data):
            name = me.field_name_of(type(self), path)
            if name is not None and none_stored_as_null(self._fields[name]):  # type: ignore[attr-defined]
                del unset_data[path]
                set_data[path] = None
        for path in list(set_data):
            if path in minimized and not set_data[path]:  # emptied: no key, not null
                del set_data[path]
                unset_data[path] = 1
        return set_data, unset_data


def _forget_embedded_changes(value: Any) -> None:
    if isinstance(value, EmbeddedDocument):
        if not fast_paths.is_built(value):  # loaded and never used: holds no change
            return
        if value._changed_fields:  # mostly empty: mongoengine's __setattr__ is not cheap
            value._changed_fields = []
        layout = layout_of(type(value))
        if layout is not None and layout.plain:  # holds no embedded documents
            return
        value = value._data.values()
    elif isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, (list, tuple)):
        return
    for item in value:
        if type(item) not in HOLDS_NO_DOCUMENT and isinstance(item, MAY_HOLD_EMBEDDED):
            _forget_embedded_changes(item)


class RoleplayEmbeddedDocument(BuiltThroughFastPaths, KeepsUnknownFields,
                               CheckedAndEncodedThroughFastPaths, UntypedEmbeddedDocument):
    """An embedded document that keeps unmodelled keys.

    It is built through :mod:`.fast_paths`, and so is it loaded,
    validated and encoded when its fields are all plain (a session's turns
    are such documents): mongoengine's result at a fraction of its cost.
    Loaded in a list, it is built when first used (see :mod:`.fast_paths`).
    """

    meta = {"abstract": True, "strict": False}
    # fast_paths.STORED: a document loaded in a list holds its stored document here (a dict,
    # or the RawBSONDocument a QuerySet read) until built
    _fast_stored_son: ClassVar[Mapping[str, Any] | None] = None

    if not TYPE_CHECKING:  # type checkers would take every misspelt attribute for a value
        def __getattr__(self, name: str) -> Any:
            # a document a list was loaded with is built when first used: reading anything
            # building sets (its _data, first of all) comes here until then
            if not fast_paths.is_built(self):
                if name in fast_paths.LOADED_STATE:  # asked by the list pointing it at its document
                    return fast_paths.LOADED_STATE[name]
                fast_paths.build_loaded(self)
            # looked up again also when built already: another thread may have built it
            # between the failed lookup that called this and the check above
            return object.__getattribute__(self, name)

    def _get_changed_fields(self) -> list[str]:
        if not fast_paths.is_built(self):  # nothing has used it since it was loaded
            return []
        changed: list[str] = super()._get_changed_fields()
        return changed

    @classmethod
    @takes_fast_paths
    def _from_son(cls, son: Any, _auto_dereference: bool = True, created: bool = False) -> Any:
        layout = layout_of(cls)
        if layout is not None and layout.plain and _auto_dereference:
            document = fast_paths.decode(cls, layout, son, created)
            if document is not None:
                return document
        if isinstance(son, Mapping):
            son = fast_paths.without_shadowing_names(me.db_field_map(cls), son)
        return super()._from_son(son, _auto_dereference=_auto_dereference, created=created)

    # validate() and to_mongo() are CheckedAndEncodedThroughFastPaths', marked here as this
    # class's own: a list of documents of a plain class then takes the fast paths itself

    @takes_fast_paths
    def validate(self, clean: bool = True) -> None:
        """mongoengine's validation, with its result and its words (through the fast paths);
        ValidationError names each field refused."""
        super().validate(clean=clean)

    @takes_fast_paths
    @hands_on_encoding
    def to_mongo(self, use_db_field: bool = True, fields: Any = None) -> SON[str, Any]:
        """The SON that is stored, as mongoengine encodes it (through the fast paths); a dict
        with the same items only inside the package's own ``fast_paths.encoding_as_dicts``."""
        son: SON[str, Any] = super().to_mongo(use_db_field=use_db_field, fields=fields)
        return son


class RoleplayDocument(
    BuiltThroughFastPaths, StoresLikeMongoose, KeepsUnknownFields, ChecksReferences,
    TimestampedMixin, me.SaveSteps, CheckedAndEncodedThroughFastPaths, UntypedDocument
):
    """Base of the five models: timestamps, unknown keys kept, references checked.

    mongoengine's own index creation (``auto_create_index``) is off:
    :func:`roleplay_models.connect` creates the declared indexes once per
    database and process. ``validate()`` sends nothing to the server; a save
    that points a reference at a document that does not exist is refused
    with a ValidationError naming the field (see :mod:`.references`).
    ``save()`` of a document loaded from the database validates only the
    fields the program changed (see :meth:`validate`); a duplicate unique
    value is a NotUniqueError naming the field and the value.
    """

    meta = {
        "abstract": True,
        "strict": False,
        "auto_create_index": False,
        "queryset_class": RoleplayQuerySet,
    }

    # reference attribute -> the fields of the referenced model its routes show
    api_references: ClassVar[dict[str, tuple[str, ...]]] = {}
    # fields kept for this package's bookkeeping, left out of the API JSON
    api_hidden: ClassVar[tuple[str, ...]] = ()
    # fields left out of the API JSON unless asked for with private=True
    api_private: ClassVar[tuple[str, ...]] = ()

    # True once this object holds what the database holds (read from it, or written there)
    _stored = False
    objects: ClassVar[RoleplayQuerySet[Any]]  # each model declares its own QuerySet class
    DoesNotExist: ClassVar[type[Exception]]
    MultipleObjectsReturned: ClassVar[type[Exception]]

    if TYPE_CHECKING:
        def to_mongo(self, use_db_field: bool = True, fields: Any = None) -> SON[str, Any]: ...

    def save(self, *args: Any, **kwargs: Any) -> Self:
        """mongoengine's ``save()``; a document loaded from the database is validated only
        in the fields the program changed (see :meth:`validate`). A document never stored
        is inserted whole, also when its id was assigned after it was built (mongoengine
        would send only the fields marked changed, as an upsert)."""
        if not self._stored:
            self._created = True
        token = _saving.set(self)
        try:
            saved = super().save(*args, **kwargs)
        finally:
            _saving.reset(token)
        self._stored = True
        return saved

    def validate(self, clean: bool = True) -> None:
        """Refuse, with a ValidationError naming each field, values the model does not
        accept, and references given as ids that are not ObjectIds.

        Called by hand, or by ``save()`` of a new document, it checks every field. Called
        by ``save()`` of a document loaded from the database, it checks only the fields
        whose values the program changed (a change anywhere inside a field, such as one
        turn of a session's history, checks the whole field), as mongoose's
        ``validateModifiedOnly``: a document another program stored with values this
        package refuses still takes unrelated changes, and only those are written.
        ``clean()``'s checks of the whole document always apply.
        """
        raised: ValidationError | None = None
        errors: dict[str, Any] = {}
        try:
            super().validate(clean=clean)
        except ValidationError as error:
            raised, errors = error, dict(error.errors or {})
        errors.update(malformed_references(self))
        if _saving.get() is self and not is_new(self):
            changed = self._changed_field_names()
            errors = {name: error for name, error in errors.items()
                      if name in changed or name == me.WHOLE_DOCUMENT_ERRORS}
            id_field = self._meta["id_field"]
            if id_field in changed:  # as MongoDB (and mongoose) keep _id immutable
                errors[id_field] = ValidationError(
                    "a stored document's id cannot change; save a new document instead",
                    field_name=id_field)
        if raised is not None and errors == raised.errors:
            raise raised
        if errors:
            raise me.document_validation_error(self, errors)

    def _changed_field_names(self) -> set[str]:
        """The fields holding a change: the first step of each changed path."""
        cls = type(self)
        names = (me.field_name_of(cls, path.split(".", 1)[0])
                 for path in self._get_changed_fields())
        return {name for name in names if name is not None}

    @classmethod
    def _from_son(cls, son: Any, _auto_dereference: bool = True, created: bool = False
                  ) -> Any:
        with loading_from_database():  # stored values are kept as they are, untrimmed
            try:
                document = cls._decoded(son, created) if _auto_dereference else None
                if document is None:
                    document = super()._from_son(
                        fast_paths.without_shadowing_names(me.db_field_map(cls), plain(son)),
                        _auto_dereference=_auto_dereference, created=created)
            except TypeError as error:
                # raised for one: mongoengine hands a stored key that is one of __init__'s
                # options (``_created``, ``__auto_convert``) on as that option a second time.
                # A TypeError is lost inside ``list(queryset)``, which takes one from len() for
                # "no length": the document would be left out of the list without a word. The
                # first line is the same for every such document (the audit groups by it)
                stored_id = son.get("_id") if isinstance(son, Mapping) else None
                raise InvalidDocumentError(
                    f"a stored {cls.__name__} could not be loaded: {error}\n(its _id: {stored_id})"
                ) from error
        document._stored = True
        return document

    @classmethod
    def reads_stored_bson(cls) -> bool:
        """Whether a QuerySet reads documents of this class as RawBSONDocument: those with a
        list whose documents are each built when first used, which are then each decoded
        when first used too (a session's turns)."""
        layout = layout_of(cls)
        return stored_bson.AVAILABLE and layout is not None and bool(layout.lazy_lists)

    @classmethod
    def _decoded(cls, son: Any, created: bool) -> Any | None:
        """mongoengine's ``_from_son(son)`` through :mod:`.fast_paths`, or None where they do
        not cover it. Read as a RawBSONDocument, ``son`` is decoded but for its lists of
        documents built when first used."""
        layout = layout_of(cls)
        if layout is None:
            return None
        me.dereference_when_loaded(cls._fields.values())
        document = None
        if is_bson(son):
            document = fast_paths.decode_read(cls, layout, son, created)
        if document is None:
            document = fast_paths.decode(cls, layout, plain(son), created)
        if document is not None:
            me.finish_loading(document)
        return document

    def reload(self, *fields: str, **kwargs: Any) -> Self:
        """mongoengine's ``reload()``: this document (or only ``fields`` of it) read again, as
        stored; DoesNotExist when it is gone."""
        with loading_from_database():
            reloaded: Self = super().reload(*fields, **kwargs)
            return reloaded

    def modify(self, query: dict[str, Any] | None = None, **update: Any) -> bool:
        """mongoengine's ``modify()``: one atomic update of this document, only if it also
        matches ``query``; True when it did, and then the object holds what is stored."""
        with loading_from_database():
            modified: bool = super().modify(query, **update)
            return modified

    def forget_saved_changes(self) -> None:
        """Called last by ``save()``: :meth:`_forget_changes`, at once (mongoengine's own
        walks each changed path again)."""
        self._forget_changes()

    def _forget_changes(self) -> None:
        """Mark this document and the embedded documents in it as holding what is stored,
        as mongoengine's ``_clear_changed_fields`` does after a save, without walking it
        field path by field path."""
        self._changed_fields: list[str] = []
        self._stored = True
        _forget_embedded_changes(list(self._data.values()))

    def before_write(self, doc: Any) -> None:
        """Refuse a document too big to store, before it is sent."""
        check_document_size(type(self), doc)

    def as_inserted(self, doc: Any, codec_options: Any) -> Any:
        """``doc`` encoded once, for :meth:`before_write`'s size check and the insert alike."""
        if not isinstance(codec_options, CodecOptions):  # mongomock's: it takes mappings
            return super().as_inserted(doc, codec_options)
        return RawBSONDocument(encoded_within_limits(type(self), doc, codec_options))

    def duplicate_key_error(self, error: Exception, doc: Any) -> Exception | None:
        """A NotUniqueError naming the unique field and the value ``doc`` repeated, if
        ``error`` is a duplicate key (on FerretDB v1, also when an update repeats one)."""
        return duplicate_error(type(self), error, [doc])

    def to_api_dict(self, private: bool = False) -> dict[str, Any]:
        """This document as the frontend's JSON; populated references become small dicts.
        ``private`` adds the fields kept out unless asked (a session's ``metadata``)."""
        shape = api_shape(type(self))
        shown = shape.dump_fields(self, self.api_references, private=private)
        if shown is not None:
            return shown
        with fast_paths.encoding_for_api():  # read only by the API shapes
            populated = {name: shape.shown_references(self._data.get(name), name)
                         for name in self.api_references}
            encoded = self.to_mongo()
        return shape.dump(encoded, populated, private=private)

    def __repr__(self) -> str:
        labels = [self._data.get(name) for name in ("session_id", "scenario_id", "title", "name")]
        label = next((value for value in labels if value), None)
        return f"<{type(self).__name__} {self.pk} {label!r}>"

