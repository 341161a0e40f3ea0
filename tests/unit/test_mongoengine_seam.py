"""The seam to mongoengine's internals: one module uses them, and it refuses to load on a
mongoengine it was not made for."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import roleplay_models
from roleplay_models.odm import _mongoengine

PACKAGE = Path(roleplay_models.__file__).parent
SEAM = "odm/_mongoengine.py"
# submodules of these packages are mongoengine's machinery, not its public API
INTERNAL_PACKAGES = ("mongoengine.base", "mongoengine.queryset")


def private_uses(tree: ast.AST) -> list[str]:
    """What in ``tree`` reaches a private mongoengine name: an attribute listed in the seam's
    INTERNALS, an import of one, or an import from a submodule of mongoengine's machinery.
    (A parameter such as ``_from_son``'s ``_auto_dereference`` is a local name, not a use.)"""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _mongoengine.INTERNALS:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith(tuple(f"{p}." for p in INTERNAL_PACKAGES)):
                found.append(f"line {node.lineno}: from {node.module}")
            elif node.module in INTERNAL_PACKAGES:
                found += [f"line {node.lineno}: from {node.module} import {alias.name}"
                          for alias in node.names if alias.name in _mongoengine.INTERNALS]
        elif isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {alias.name}" for alias in node.names
                      if alias.name.startswith(tuple(f"{p}." for p in INTERNAL_PACKAGES))]
    return found


def modules_using_internals() -> dict[str, list[str]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        uses = private_uses(ast.parse(path.read_text(), filename=str(path)))
        if uses:
            found[path.relative_to(PACKAGE).as_posix()] = uses
    return found


def test_only_the_seam_reaches_mongoengine_internals():
    assert list(modules_using_internals()) == [SEAM], modules_using_internals()


def test_the_scan_finds_each_kind_of_private_use():
    source = textwrap.dedent("""
        from mongoengine.queryset import transform
        from mongoengine.base.common import UPDATE_OPERATORS
        import mongoengine.queryset.transform
        query = queryset._query
        limit = queryset._limit
    """)
    assert len(private_uses(ast.parse(source))) == 5
    assert private_uses(ast.parse("from mongoengine.queryset import QuerySet\nx = doc._data")) == []


def import_with(tmp_path: Path, patch: str) -> subprocess.CompletedProcess[str]:
    """``import roleplay_models`` in a fresh interpreter where ``patch`` has changed the real
    mongoengine first (a sitecustomize on PYTHONPATH)."""
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(patch))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(tmp_path), str(PACKAGE.parent), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", "import roleplay_models"], env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_package_imports_on_the_installed_mongoengine(tmp_path):
    result = import_with(tmp_path, "")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("version", ["0.30.0", "0.26.1", "1.0"])
def test_a_mongoengine_outside_the_tested_range_is_refused_at_import(tmp_path, version):
    result = import_with(tmp_path, f"""
        import mongoengine
        mongoengine.__version__ = {version!r}
        mongoengine.VERSION = tuple(int(part) for part in {version!r}.split("."))
    """)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("roleplay_models.odm._mongoengine.UnsupportedMongoengine:")
    assert f"mongoengine {version} is installed" in last and ">=0.27,<0.30" in last


@pytest.mark.parametrize(("patch", "piece"), [
    ("from mongoengine.queryset.base import BaseQuerySet\ndel BaseQuerySet._query",
     "QuerySet._query (a property)"),
    ("from mongoengine.base import BaseField\ndel BaseField._auto_gen", "BaseField._auto_gen"),
    ("from mongoengine.base import BaseDocument\n"
     "BaseDocument._from_son = classmethod(lambda cls, son: None)",
     "BaseDocument._from_son(son, _auto_dereference, created)"),
    ("from mongoengine.queryset import transform\ndel transform.update",
     "mongoengine.queryset.transform.update(_doc_cls, **update)"),
    ("from mongoengine.base import BaseDocument\n"
     "BaseDocument._created = property(lambda self: True)",
     "BaseDocument's slots _initialised, _created, _data, _dynamic_fields and _changed_fields"),
    ("from mongoengine.base import BaseList\n"
     "def watched(self):\n"
     "    self._mark_as_changed()\n"
     "    yield from list.__iter__(self)\n"
     "BaseList.__iter__ = watched",
     "BaseList.__iter__ only yielding the list's items again"),
])
def test_a_changed_internal_is_refused_at_import_naming_it(tmp_path, patch, piece):
    result = import_with(tmp_path, patch)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("roleplay_models.odm._mongoengine.UnsupportedMongoengine:")
    assert piece in last and ">=0.27,<0.30" in last


def test_the_refusal_is_an_import_error():
    assert issubclass(_mongoengine.UnsupportedMongoengine, ImportError)
