"""The base classes every model and embedded document of this package stands on."""

from __future__ import annotations

from typing import Any, ClassVar

from bson import ObjectId
from mongoengine import Document, EmbeddedDocument
from mongoengine.fields import EmbeddedDocumentField

from . import fast_paths
from .api import api_shape, reference_dict
from .fast_paths import layout_of, takes_fast_paths
from .fields import loading_from_database
from .limits import check_document_size
from .queryset import RoleplayQuerySet
from .references import ChecksReferences
from .timestamps import TimestampedMixin

__all__ = ("RoleplayDocument", "RoleplayEmbeddedDocument")

MAY_HOLD_EMBEDDED = (EmbeddedDocument, list, tuple, dict)


class KeepsUnknownFields:
    """Writes back the keys this package does not model (mongoose's ``__v``, say).

    mongoengine loads such keys into ``_data`` when ``strict`` is off but
    leaves them out of ``to_mongo``; a list of subdocuments rewritten on
    save would then lose them.
    """

    def to_mongo(self, *args: Any, **kwargs: Any) -> Any:
        son = super().to_mongo(*args, **kwargs)  # type: ignore[misc]
        if kwargs.get("fields"):
            return son
        for key, value in self._data.items():  # type: ignore[attr-defined]
            if key not in self._fields and key not in son:  # type: ignore[attr-defined]
                son[key] = value
        return son


class StoresLikeMongoose:
    """Writes what mongoose writes: ``null`` for a field declared ``null=True`` (the schema's
    ``default: null``), also when a save sets it back to None, and no key for an embedded
    document with nothing in it (mongoose's ``minimize``)."""

    def to_mongo(self, *args: Any, **kwargs: Any) -> Any:
        son = super().to_mongo(*args, **kwargs)  # type: ignore[misc]
        for name in self._minimized_fields():
            stored = self._fields[name].db_field  # type: ignore[attr-defined]
            if stored in son and not son[stored]:
                del son[stored]
        return son

    @classmethod
    def _minimized_fields(cls) -> tuple[str, ...]:
        # asked on every to_mongo(): worked out once per class
        found: tuple[str, ...] | None = cls.__dict__.get("_minimized")
        if found is None:
            found = tuple(name for name, field in cls._fields.items()  # type: ignore[attr-defined]
                          if isinstance(field, EmbeddedDocumentField))
            cls._minimized = found  # type: ignore[attr-defined]
        return found

    def _delta(self) -> tuple[dict[str, Any], dict[str, Any]]:
        set_data, unset_data = super()._delta()  # type: ignore[misc]
        minimized = {self._fields[name].db_field  # type: ignore[attr-defined]
                     for name in self._minimized_fields()}
        for path in list(unset_data):
            name = self._reverse_db_field_map.get(path)  # type: ignore[attr-defined]
            if name is not None and self._fields[name].null:  # type: ignore[attr-defined]
                del unset_data[path]
                set_data[path] = None
        for path in list(set_data):
            if path in minimized and not set_data[path]:  # emptied: no key, not null
                del set_data[path]
                unset_data[path] = 1
        return set_data, unset_data


def _forget_embedded_changes(value: Any) -> None:
    if isinstance(value, EmbeddedDocument):
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
        if isinstance(item, MAY_HOLD_EMBEDDED):
            _forget_embedded_changes(item)


class RoleplayEmbeddedDocument(KeepsUnknownFields, EmbeddedDocument):
    """An embedded document that keeps unmodelled keys.

    It is built through :mod:`.fast_paths`, and so is it loaded,
    validated and encoded when its fields are all plain (a session's turns
    are such documents): mongoengine's result at a fraction of its cost.
    """

    meta = {"abstract": True, "strict": False}

    def __init__(self, *args: Any, **values: Any) -> None:
        layout = layout_of(type(self))
        if args or layout is None or not fast_paths.build(self, layout, values):
            super().__init__(*args, **values)

    @classmethod
    @takes_fast_paths
    def _from_son(cls, son: Any, _auto_dereference: bool = True, created: bool = False) -> Any:
        layout = layout_of(cls)
        if layout is not None and layout.plain and _auto_dereference:
            document = fast_paths.decode(cls, layout, son, created)
            if document is not None:
                return document
        return super()._from_son(son, _auto_dereference=_auto_dereference, created=created)

    @takes_fast_paths
    def validate(self, clean: bool = True) -> None:
        layout = layout_of(type(self))
        if layout is None or not layout.plain or not fast_paths.validate(self, layout, clean):
            super().validate(clean=clean)

    @takes_fast_paths
    def to_mongo(self, use_db_field: bool = True, fields: Any = None) -> Any:
        layout = layout_of(type(self))
        if layout is None or not layout.plain or not use_db_field or fields:
            return super().to_mongo(use_db_field=use_db_field, fields=fields)
        return fast_paths.encode(self, layout)


class RoleplayDocument(
    StoresLikeMongoose, KeepsUnknownFields, ChecksReferences, TimestampedMixin, Document
):
    """Base of the five models: timestamps, unknown keys kept, references checked.

    mongoengine's own index creation (``auto_create_index``) is off:
    :func:`roleplay_models.connect` creates the declared indexes once per
    database and process. ``validate()`` sends nothing to the server; a save
    that points a reference at a document that does not exist is refused
    with a ValidationError naming the field (see :mod:`.references`).
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

    objects: ClassVar[RoleplayQuerySet]
    DoesNotExist: ClassVar[type[Exception]]
    MultipleObjectsReturned: ClassVar[type[Exception]]

    def __init__(self, *args: Any, **values: Any) -> None:
        layout = layout_of(type(self))  # built through .fast_paths, as mongoengine would
        if args or layout is None or not fast_paths.build(self, layout, values):
            super().__init__(*args, **values)

    @classmethod
    def _from_son(cls, *args: Any, **kwargs: Any) -> Any:
        with loading_from_database():  # stored values are kept as they are, untrimmed
            return super()._from_son(*args, **kwargs)

    def reload(self, *fields: Any, **kwargs: Any) -> Any:
        with loading_from_database():
            return super().reload(*fields, **kwargs)

    def modify(self, query: Any = None, **update: Any) -> Any:
        with loading_from_database():
            return super().modify(query, **update)

    def _forget_changes(self) -> None:
        """Mark this document and the embedded documents in it as holding what is stored,
        as mongoengine's ``_clear_changed_fields`` does after a save, without walking it
        field path by field path."""
        self._changed_fields: list[str] = []
        _forget_embedded_changes(list(self._data.values()))

    def _save_create(self, doc: Any, *args: Any, **kwargs: Any) -> Any:
        check_document_size(type(self), doc)
        return super()._save_create(doc, *args, **kwargs)

    def _save_update(self, doc: Any, *args: Any, **kwargs: Any) -> Any:
        check_document_size(type(self), doc)
        return super()._save_update(doc, *args, **kwargs)

    def to_api_dict(self, private: bool = False) -> dict[str, Any]:
        """This document as the frontend's JSON; populated references become small dicts.
        ``private`` adds the fields kept out unless asked (a session's ``metadata``)."""
        populated: dict[str, dict[ObjectId, dict[str, Any]]] = {}
        for name in self.api_references:
            value = self._data.get(name)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, Document):
                    populated.setdefault(name, {})[item.pk] = reference_dict(
                        type(self), name, item.to_mongo())
        return api_shape(type(self)).dump(self.to_mongo(), populated, private=private)

    def __repr__(self) -> str:
        labels = [self._data.get(name) for name in ("session_id", "scenario_id", "title", "name")]
        label = next((value for value in labels if value), None)
        return f"<{type(self).__name__} {self.pk} {label!r}>"

