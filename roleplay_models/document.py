"""The base classes every model and embedded document of this package stands on."""

from __future__ import annotations

from typing import Any, ClassVar

from bson import ObjectId
from mongoengine import Document, EmbeddedDocument

from .api import api_shape, reference_dict
from .queryset import RoleplayQuerySet
from .references import check_references_exist
from .timestamps import TimestampedMixin

__all__ = ("RoleplayDocument", "RoleplayEmbeddedDocument")


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


class RoleplayEmbeddedDocument(KeepsUnknownFields, EmbeddedDocument):
    """An embedded document that keeps unmodelled keys."""

    meta = {"abstract": True, "strict": False}


class RoleplayDocument(KeepsUnknownFields, TimestampedMixin, Document):
    """Base of the five models: timestamps, unknown keys kept, references checked.

    Indexes are not created behind the user's back (``auto_create_index``
    is off): call :func:`roleplay_models.ensure_indexes` once after
    connecting. A save that points a reference at a document that does not
    exist is refused with a ValidationError naming the field.
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

    objects: ClassVar[RoleplayQuerySet]
    DoesNotExist: ClassVar[type[Exception]]
    MultipleObjectsReturned: ClassVar[type[Exception]]

    def to_api_dict(self) -> dict[str, Any]:
        """This document as the frontend's JSON; populated references become small dicts."""
        populated: dict[str, dict[ObjectId, dict[str, Any]]] = {}
        for name in self.api_references:
            value = self._data.get(name)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, Document):
                    populated.setdefault(name, {})[item.pk] = reference_dict(
                        type(self), name, item.to_mongo())
        return api_shape(type(self)).dump(self.to_mongo(), populated)

    def __repr__(self) -> str:
        labels = [self._data.get(name) for name in ("session_id", "scenario_id", "title", "name")]
        label = next((value for value in labels if value), None)
        return f"<{type(self).__name__} {self.pk} {label!r}>"

    def validate(self, clean: bool = True, check_references: bool = True) -> None:
        """Validate every field; with ``check_references``, also that references exist."""
        super().validate(clean=clean)
        if check_references:
            check_references_exist([self])
