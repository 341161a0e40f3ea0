"""Sphinx extension: the reference's field tables and member lists, read from the models themselves.

``.. model-fields:: roleplay_models.Scenario`` renders a table of the model's fields from
``Scenario._fields``: the Python type a program reads, the stored name where it differs, whether
it is required, the default, choices, limits and the field's ``help_text``. Each field becomes a
``py:attribute`` (``roleplay_models.Scenario.title``) that other pages can link to.

``.. reference-class:: roleplay_models.ScenarioQuerySet`` is ``autoclass`` with the public members
worked out from the class (undocumented ones included) and, for a Document, its field table.

When the environment is complete, every public name (each name in ``roleplay_models.__all__``,
each model's fields, each public method and property the package defines on those classes) must
be a documented object; one that is not is a warning, which ``sphinx-build -W`` turns into an
error. Public names without a docstring of their own are listed in the build output.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import types
from collections.abc import Iterator
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from mongoengine.base import BaseDocument, BaseField
from mongoengine.fields import (
    BooleanField,
    DateTimeField,
    DictField,
    EmbeddedDocumentField,
    FloatField,
    IntField,
    ListField,
    ObjectIdField,
    ReferenceField,
    StringField,
)
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

__all__ = (
    "FieldRow",
    "ModelFields",
    "ReferenceClass",
    "field_rows",
    "missing_docstrings",
    "public_members",
    "public_names",
    "setup",
)

logger = logging.getLogger(__name__)

PACKAGE = "roleplay_models"


def _resolve(path: str) -> Any:
    """The object a dotted path names (``roleplay_models.Scenario``)."""
    module_name, _, attribute = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"{path!r} names nothing importable: {error}") from error


def _package_defined(klass: type) -> bool:
    return klass.__module__ == PACKAGE or klass.__module__.startswith(PACKAGE + ".")


def _link(cls: type) -> str:
    return f":class:`~{PACKAGE}.{cls.__name__}`"


def python_type(field: BaseField) -> str:
    """The type a program reads from ``field``, in words and rST (``str``, ``list of str``,
    ``reference to Scenario``); a field class with no rule here is refused, so that a new kind
    of field cannot reach the reference unexplained."""
    if isinstance(field, ReferenceField):
        return f"reference to {_link(field.document_type)}"
    if isinstance(field, EmbeddedDocumentField):
        return _link(field.document_type)
    if isinstance(field, ListField):
        inner = python_type(field.field) if field.field is not None else "any value"
        if isinstance(field.field, ReferenceField):
            inner = inner.replace("reference to", "references to", 1)
        return f"list of {inner}"
    if isinstance(field, DictField):
        return "dict"
    for kind, name in ((StringField, "str"), (BooleanField, "bool"), (DateTimeField, "datetime"),
                       (ObjectIdField, "ObjectId"), (IntField, "int"), (FloatField, "float")):
        if isinstance(field, kind):
            return f"``{name}``"
    if type(field).__name__ == "NumberField":  # mongoose's Number: an int or a float
        return "``float``"
    raise ValueError(f"no Python type is known for {type(field).__name__} "
                     f"(field {field.name!r}); teach docs/_ext/model_fields.py its type")


def _stamped_by_mixin(model: type, name: str) -> str | None:
    from roleplay_models.odm.timestamps import TimestampedMixin

    if issubclass(model, TimestampedMixin) and name in vars(TimestampedMixin):
        return "stamped on first save" if name == "created_at" else "stamped on every change"
    return None


def default_text(model: type, name: str, field: BaseField) -> str:
    """What a new document holds in ``field`` when the program sets nothing."""
    stamped = _stamped_by_mixin(model, name)
    if stamped is not None:
        return stamped
    default = field.default
    if name == "id" and default is None:
        return "assigned on first save"
    if default is None:
        if field.required:
            return ""
        return "None, stored as null" if field.null else "None, not stored"
    if default in (list, dict):
        return "empty"
    if isinstance(default, type):
        article = "an empty" if issubclass(default, BaseDocument) else "a new"
        return f"{article} {_link(default) if _package_defined(default) else default.__name__}"
    if callable(default):
        summary = (inspect.getdoc(default) or "").split(",")[0].split(".")[0].strip()
        return summary[:1].lower() + summary[1:] if summary else "computed when created"
    return f"``{default!r}``"


def _limit_name(function: Any, names: set[str]) -> str | None:
    """The :class:`Limits` attribute a function reads, if it reads one."""
    code = getattr(function, "__code__", None)
    found = sorted(names & set(code.co_names)) if code is not None else []
    return found[0] if found else None


def _clean_limits(model: Any) -> dict[str, str]:
    """Limits the model's own ``clean()`` applies to a field: a ``Limits`` attribute read
    there, for the field its error names."""
    from roleplay_models.odm.limits import Limits, current_limits

    clean = vars(model).get("clean")
    code = getattr(clean, "__code__", None)
    if code is None:
        return {}
    limits = {f.name for f in dataclasses.fields(Limits)} & set(code.co_names)
    named = {c for c in code.co_consts if isinstance(c, str) and c in model._fields}
    return {field: f"at most {getattr(current_limits(), limit):,} items "
                   f"(:attr:`Limits.{limit} <{PACKAGE}.Limits.{limit}>`)"
            for limit in sorted(limits) for field in sorted(named)}


def rules_text(model: type, name: str, field: BaseField) -> list[str]:
    """The field's constraints: unique, trimmed, choices, bounds and size limits."""
    from roleplay_models.odm.limits import Limits

    limit_names = {f.name for f in dataclasses.fields(Limits)}
    rules = []
    if field.unique:
        rules.append("unique")
    if getattr(field, "trim", False) or type(field).__name__ == "TrimmedTextListField":
        rules.append("trimmed as JavaScript's ``trim()``")
    if field.required and isinstance(field, StringField):
        rules.append("not blank")
    if field.choices:
        rules.append("one of " + ", ".join(f"``{choice!r}``" for choice in field.choices))
    low, high = getattr(field, "min_value", None), getattr(field, "max_value", None)
    if low is not None and high is not None:
        rules.append(f"{low} to {high}")
    elif low is not None:
        rules.append(f"at least {low}")
    elif high is not None:
        rules.append(f"at most {high}")
    max_bytes = getattr(field, "max_bytes", None)
    if max_bytes is not None:
        limit = _limit_name(max_bytes, limit_names)
        where = f" (:attr:`Limits.{limit} <{PACKAGE}.Limits.{limit}>`)" if limit else ""
        rules.append(f"at most {max_bytes():,} bytes of UTF-8{where}")
    if getattr(field, "max_length", None) is not None:
        rules.append(f"at most {field.max_length:,} "
                     f"{'items' if isinstance(field, ListField) else 'characters'}")
    if getattr(field, "min_length", None) is not None:
        rules.append(f"at least {field.min_length:,} characters")
    if getattr(field, "regex", None) is not None:
        rules.append(f"matches ``{field.regex.pattern}``")
    if isinstance(field, ReferenceField) or (
            isinstance(field, ListField) and isinstance(field.field, ReferenceField)):
        rules.append("must exist when saved")
    extra = _clean_limits(model).get(name)
    if extra:
        rules.append(extra)
    return rules


@dataclasses.dataclass(frozen=True)
class FieldRow:
    """One row of a model's field table, as rST fragments."""

    name: str
    type: str
    stored_as: str
    required: bool
    default: str
    rules: tuple[str, ...]
    help_text: str


def _ordered_fields(model: Any) -> list[str]:
    """``id`` first, then the fields in declaration order, the mixin's stamps last."""
    names = list(model._fields_ordered)
    stamps = [name for name in names if _stamped_by_mixin(model, name)]
    rest = [name for name in names if name != "id" and name not in stamps]
    return (["id"] if "id" in names else []) + rest + stamps


def field_rows(model: Any) -> list[FieldRow]:
    """The field table of ``model``, one row per field of ``model._fields``."""
    rows = []
    for name in _ordered_fields(model):
        field = model._fields[name]
        kind = python_type(field)
        nullable = not field.required and (field.default is None or field.null)
        if nullable and _stamped_by_mixin(model, name) is None and name != "id":
            kind += " | ``None``"
        rows.append(FieldRow(
            name=name,
            type=kind,
            stored_as=field.db_field if field.db_field != name else "",
            required=bool(field.required),
            default=default_text(model, name, field),
            rules=tuple(rules_text(model, name, field)),
            help_text=" ".join(str(getattr(field, "help_text", "") or "").split()),
        ))
    return rows


def public_members(cls: type, inherited: bool = False) -> list[str]:
    """The public methods and properties of ``cls`` that this package defines, in the order
    they are defined: the class's own, and with ``inherited`` those of its package bases
    too. Fields, exceptions and mongoengine's own members are not among them."""
    names: list[str] = []
    for klass in cls.__mro__ if inherited else (cls,):
        if not _package_defined(klass):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in names:
                continue
            if isinstance(value, (types.FunctionType, classmethod, staticmethod, property)):
                names.append(name)
    return names


def public_attributes(cls: type) -> list[str]:
    """The public data a class declares: an enum's members, a dataclass's fields."""
    if issubclass(cls, enum.Enum):
        return list(cls.__members__)
    if dataclasses.is_dataclass(cls):
        return [field.name for field in dataclasses.fields(cls) if not field.name.startswith("_")]
    # an attribute a class declares for its instances, such as a session's last_outcome
    fields = getattr(cls, "_fields", {})
    return [name for name, hint in vars(cls).get("__annotations__", {}).items()
            if not name.startswith("_") and name not in fields and name in vars(cls)
            and not str(hint).startswith(("ClassVar", "typing.ClassVar"))]


def _definer(cls: type, name: str) -> type:
    return next(klass for klass in cls.__mro__ if name in vars(klass))


def _public_objects() -> Iterator[tuple[str, Any]]:
    package = importlib.import_module(PACKAGE)
    for name in package.__all__:
        yield name, getattr(package, name)


def _documented_models() -> list[Any]:
    """Every Document class reachable from ``__all__`` that has fields to show."""
    return [value for _, value in _public_objects()
            if isinstance(value, type) and issubclass(value, BaseDocument)
            and not getattr(value, "_meta", {}).get("abstract")]


def public_names() -> dict[str, tuple[str, ...]]:
    """Each public name, with the documented object names any one of which documents it:
    ``roleplay_models.X`` for each name in ``__all__``, ``roleplay_models.Model.field`` for
    each field, and for each public method the class it was reached from or a package base
    that has it."""
    wanted: dict[str, tuple[str, ...]] = {}
    for name, value in _public_objects():
        wanted[f"{PACKAGE}.{name}"] = (f"{PACKAGE}.{name}",)
        if not isinstance(value, type) or issubclass(value, BaseException):
            continue
        for member in public_members(value, inherited=True):
            definer = _definer(value, member)
            # documented on the class itself, or on any package class between it and the
            # class that defines the member (RoleplayDocument for what its mixins define)
            holders = [klass for klass in value.__mro__
                       if _package_defined(klass) and issubclass(klass, definer)]
            wanted[f"{PACKAGE}.{name}.{member}"] = tuple(
                spelling for klass in holders
                for spelling in (f"{PACKAGE}.{klass.__name__}.{member}",
                                 f"{klass.__module__}.{klass.__qualname__}.{member}"))
        for member in public_attributes(value):
            full = f"{PACKAGE}.{name}.{member}"
            wanted[full] = (full,)
    for model in _documented_models():
        for field in model._fields:
            full = f"{PACKAGE}.{model.__name__}.{field}"
            wanted[full] = (full,)
    return wanted


def missing_docstrings() -> list[str]:
    """Public names whose object has no docstring of its own (one inherited from mongoengine
    or a base class does not count); constants, which cannot carry one, are left out."""
    missing: set[str] = set()
    for name, value in _public_objects():
        if isinstance(value, type) or isinstance(value, types.FunctionType):
            if not (value.__doc__ or "").strip():
                missing.add(f"{PACKAGE}.{name}")
        if not isinstance(value, type) or issubclass(value, BaseException):
            continue
        for member in public_members(value, inherited=True):
            definer = _definer(value, member)
            raw = vars(definer)[member]
            function: Any = raw.fget if isinstance(raw, property) else getattr(raw, "__func__", raw)
            if not (getattr(function, "__doc__", None) or "").strip():
                owner = definer if _package_defined(definer) else value
                where = (f"{PACKAGE}.{owner.__name__}" if hasattr(importlib.import_module(
                    PACKAGE), owner.__name__) else f"{owner.__module__}.{owner.__qualname__}")
                alias = "" if function.__name__ == member else f" (alias of {function.__name__})"
                missing.add(f"{where}.{member}{alias}")
    return sorted(missing)


def _row_lines(model_path: str, row: FieldRow) -> list[str]:
    description = "; ".join(row.rules)
    if row.help_text and description:
        sentence = row.help_text if row.help_text.endswith(".") else row.help_text + "."
        description = f"{sentence} {description[:1].upper()}{description[1:]}"
    elif row.help_text:
        description = row.help_text
    return [
        f"   * - :py:attr:`{row.name} <{model_path}.{row.name}>`",
        f"     - {row.type}",
        f"     - {'``' + row.stored_as + '``' if row.stored_as else ''}",
        f"     - {'yes' if row.required else ''}",
        f"     - {row.default}",
        f"     - {description}",
    ]


class ModelFields(SphinxDirective):
    """``.. model-fields:: dotted.path.Model``: the model's field table, each field a
    ``py:attribute`` of the model; refuses a path that is not a Document class."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        path = self.arguments[0]
        model = _resolve(path)
        if not (isinstance(model, type) and issubclass(model, BaseDocument)):
            raise self.error(f"model-fields: {path} is not a mongoengine Document class")
        try:
            rows = field_rows(model)
        except ValueError as error:
            raise self.error(f"model-fields {path}: {error}") from error
        domain = self.env.domains.python_domain
        targets: list[nodes.Node] = []
        for row in rows:
            full = f"{path}.{row.name}"
            node_id = full
            targets.append(nodes.target("", "", ids=[node_id]))
            domain.note_object(full, "attribute", node_id, location=self.get_location())
        lines = [
            f".. list-table:: Fields of {model.__name__}",
            "   :header-rows: 1",
            "   :widths: 16 18 12 7 15 32",
            "   :class: model-fields",
            "",
            "   * - Field",
            "     - Type",
            "     - Stored as",
            "     - Required",
            "     - Default",
            "     - Description and rules",
        ]
        for row in rows:
            lines.extend(_row_lines(path, row))
        container = nodes.container(classes=["model-fields"])
        container.extend(targets)
        self.state.nested_parse(StringList(lines, source=f"<model-fields {path}>"),
                                self.content_offset, container)
        return [container]


class ReferenceClass(SphinxDirective):
    """``.. reference-class:: dotted.path.Class``: ``autoclass`` of the class with its public
    members (undocumented ones too), and the field table of a Document. ``:inherited:`` adds
    the members it inherits from this package's classes (a QuerySet's helpers)."""

    required_arguments = 1
    has_content = True
    option_spec = {"inherited": lambda argument: True}

    def run(self) -> list[nodes.Node]:
        path = self.arguments[0]
        cls = _resolve(path)
        if not isinstance(cls, type):
            raise self.error(f"reference-class: {path} is not a class")
        members = public_attributes(cls) + public_members(cls, inherited="inherited" in self.options)
        lines = [f".. autoclass:: {path}"]
        if members:
            lines += [f"   :members: {', '.join(members)}", "   :undoc-members:"]
        lines.append("")
        lines += [f"   {line}" for line in self.content]
        if issubclass(cls, BaseDocument) and not getattr(cls, "_meta", {}).get("abstract"):
            lines += ["", f"   .. model-fields:: {path}"]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=f"<reference-class {path}>"),
                                self.content_offset, container)
        return container.children


def skip_constructors(app: Sphinx, what: str, name: str, obj: Any, skip: bool,
                      options: Any) -> bool | None:
    """Leave out ``__new__``, and ``__init__`` of Documents and QuerySets: a Document takes its
    fields as keywords (the table lists them) and a QuerySet is made by ``Model.objects``."""
    if name == "__new__":
        return True
    if name == "__init__":
        owner = getattr(obj, "__qualname__", "").rpartition(".")[0]
        if owner in ("BuiltThroughFastPaths", "BaseDocument", "Document", "EmbeddedDocument",
                     "BaseQuerySet", "QuerySet"):
            return True
    return None


def own_constructor_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any,
                              lines: list[str]) -> None:
    """A constructor or a constant shows only a docstring of its own: one inherited from
    mongoengine's ``BaseField.__init__`` describes arguments these classes do not take, and a
    tuple's describes tuples."""
    if name.endswith(".__init__") and not (getattr(obj, "__doc__", None) or "").strip():
        lines[:] = []
    elif what == "data" and getattr(obj, "__doc__", None) == getattr(type(obj), "__doc__", None):
        lines[:] = []  # a constant's type's docstring (int's, tuple's) says nothing of it


def check_public_names(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn for each public name that no page documents; list those without a docstring."""
    documented = set(env.domains.python_domain.objects)
    for name, accepted in public_names().items():
        if not documented.intersection(accepted):
            logger.warning("public name %s is not documented in the reference (add it to "
                           "docs/api.rst)", name, type="reference", subtype="missing")
    lacking = missing_docstrings()
    if lacking:
        report = "public names without a docstring of their own: " + ", ".join(lacking)
        if app.config.reference_require_docstrings:
            logger.warning(report, type="reference", subtype="docstring")
        else:
            logger.info(report)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directives, the constructor filter and the check of public names."""
    app.add_config_value("reference_require_docstrings", False, "env", bool)
    app.add_directive("model-fields", ModelFields)
    app.add_directive("reference-class", ReferenceClass)
    app.connect("autodoc-skip-member", skip_constructors)
    app.connect("autodoc-process-docstring", own_constructor_docstring)
    app.connect("env-check-consistency", check_public_names)
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True}

