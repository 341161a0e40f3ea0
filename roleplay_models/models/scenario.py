"""Scenario: a training situation the sales rep practises (collection ``scenarios``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ..db.server import server_facts
from ..odm.document import RoleplayDocument
from ..odm.fields import StrictBooleanField, TextField
from ..odm.filters import as_text, contains_regex
from ..odm.queryset import ActiveQuerySet

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ("Scenario", "ScenarioQuerySet")


class ScenarioQuerySet(ActiveQuerySet["Scenario"]):
    """Queries the scenario routes make."""

    def search(self, text: str) -> Self:
        """Scenarios matching ``text`` in title or description; refuses a non-string or a
        blank one (InvalidFilter).

        Where the server runs ``$text`` (found by :func:`server_facts`), its
        text search, best match first, asking for every field the model
        stores plus the score: MongoDB reads a projection of the score alone
        as "every field and the score", FerretDB 2 as "only the score". Keys
        the model does not declare (mongoose's ``__v``, say) are therefore not
        read by a text search (a save of such a result leaves them stored).
        Elsewhere (FerretDB v1, mongo-java-server, mongomock) a
        case-insensitive literal match of any of the words, in the QuerySet's order.
        """
        text = as_text("search", text)
        if server_facts(self._document._get_db().client).text_search:
            stored = self.only(*self._document._fields)
            return stored.search_text(text).order_by("$text_score")
        words = text.split()
        return self.filter(__raw__={"$or": [
            {field: contains_regex(word)} for word in words for field in ("title", "description")
        ]})


class Scenario(RoleplayDocument):
    """A practice scenario with the prompt that drives the AI prospect."""

    scenario_id = TextField(required=True, unique=True,
                            help_text="the id the frontend uses (a slug such as "
                                      "cold-call-cfo)")
    title = TextField(required=True, trim=True)
    description = TextField(required=True)
    llm_prompt = TextField(required=True, db_field="llmPrompt",
                           help_text="the prompt that drives the AI prospect")
    is_active = StrictBooleanField(default=True,
                                   help_text="whether it is offered; active() keeps these")
    created_by = TextField(default="system",
                           help_text="who wrote it: the id of a user, or system for the seeded ones")

    meta = {
        "collection": "scenarios",
        "indexes": [
            {"fields": ["scenario_id"], "unique": True},
            "is_active",
            {"fields": ["$title", "$description"]},
        ],
        "queryset_class": ScenarioQuerySet,
    }

    objects: ClassVar[ScenarioQuerySet]
