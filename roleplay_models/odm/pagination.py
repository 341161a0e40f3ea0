"""One page of a query: its items, the total, and where it sits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .filters import as_positive_int

__all__ = ("MAX_LIMIT", "MAX_PAGE", "Page", "page_bounds")

#: The most rows a page may hold (``limit``).
MAX_LIMIT = 100
#: The highest page number a request may ask for.
MAX_PAGE = 10_000
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """``items`` of page ``page`` (from 1) of ``limit`` each, out of ``total`` in ``pages`` pages."""

    items: list[T]
    total: int
    page: int
    limit: int

    @property
    def pages(self) -> int:
        """How many pages of ``limit`` rows the ``total`` makes (0 when nothing matched)."""
        return math.ceil(self.total / self.limit) if self.total else 0

    def as_dict(self) -> dict[str, Any]:
        """The page as the API returns it: items, total, page, limit, pages."""
        return {"items": self.items, "total": self.total, "page": self.page,
                "limit": self.limit, "pages": self.pages}


def page_bounds(page: Any, limit: Any) -> tuple[int, int]:
    """Checked page (1 to MAX_PAGE) and limit (1 to MAX_LIMIT); strings of digits are accepted."""
    return as_positive_int("page", page, MAX_PAGE), as_positive_int("limit", limit, MAX_LIMIT)
