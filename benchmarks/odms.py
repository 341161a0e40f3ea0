"""This package beside the ODMs a user would pick instead, as ratios to raw pymongo, in one run.

Run: python benchmarks/odms.py [--quick] [--uri URI | --server ferretdb|mongo-java-server]
Needs ``pip install bunnet`` for the bunnet column (without it the column says so). Every
column does the same logical work on its own collections holding the same stored documents:
raw pymongo; this package; stock mongoengine (plain Documents mirroring RoleplaySession,
defined here, with the validation and stamps a user would add); bunnet 1.3 (pydantic 2
Documents mirroring it). Each cell is the median time over raw pymongo's median, the columns
taking turns with garbage collected between runs: 11 runs a row, 33 for the summary and
the page and 99 for the turn and the start (milliseconds each, with a tail of the server's
pauses), 9 for bulk, 3 for audit;
each row but bulk and audit first runs its columns as many times untimed (the server compiles
each code path as it is first used: a column's first uses are not its cost).
The rows:

turn      validate one turn and store it with a ``$push`` conditional on the session being
          active (raw: the same update of a dict built in place). Under it, raw pymongo
          sending the package's own update: its filter also says the turn is not stored yet
          and the session holds fewer than the most turns allowed, and it stamps
          ``updatedAt`` and ``last_turn_at``: what the server's part of those checks costs.
summary   the analytics summary of 10,000 analyses: each library's aggregation of the plain
          ``$group`` (rows as its objects: pydantic models for bunnet), this package's
          ``summary()``; raw: the plain ``$group``. Left out where ``$group`` computes only
          its first accumulator (FerretDB v1).
page      a page of 20 of 10,000 sessions, newest first, with the total count, scenarios and
          characters populated (one ``$in`` query each), as the JSON text a route sends.
start     create and insert one session with validation and timestamps.
load      a find by ``session_id`` of a 200-turn session returning the model, whose last
          turn's text is read.
bulk      build, validate, stamp and insert 10,000 sessions of 10 turns, 500 at a time.
decode    CPU: from the BSON of a stored 50-turn session to an object whose last turn's text
          is read, as each library reads it (raw: ``bson.decode``; the others decode it and
          load the dict; this package's QuerySets read a RawBSONDocument, which it decodes).
build     CPU: build a 50-turn session, validate it and encode it to BSON (raw: a dict).
api json  CPU: from 20 fetched sessions (of 10 turns) and their scenarios, already the
          library's objects, to the route's JSON text (raw: from the dicts).
api first CPU: the same page from the BSON of the 20 sessions, as a route makes it once: each
          library reads the sessions into its objects (this package as its QuerySets read
          them) and writes the JSON text (raw: ``bson.decode`` and the dicts' JSON).
audit     this package only: ``rp.audit()`` of sessions of 20 turns, with a progress callback as
          the ``audit`` command runs it, over a raw read of them in batches of the same size
          (``benchmarks/audit.py`` measures it at 100,000).

``--quick`` runs every row on a tenth of the sizes, with fewer repeats; ``--only ROW ...``
runs only those rows.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Literal

import bson
import mongoengine as me
from bson import ObjectId

import roleplay_models as rp
from roleplay_models.audit import DEFAULT_BATCH_SIZE
from roleplay_models.odm.fields import utc_now
from roleplay_models.odm.stored_bson import ReadDocument, reading_codec

from common import ratio_text, real_server, server_choice

try:
    import bunnet
    import pydantic
    from bunnet.odm.operators.find.comparison import In
    from bunnet.odm.operators.update.array import Push
    from bunnet.odm.utils.dump import get_dict
    from bunnet.odm.utils.parsing import parse_obj
except ImportError:  # the column says so
    bunnet = None

COLUMNS = ("this package", "stock mongoengine", "bunnet")
# the turn row's fifth column, printed under it: raw pymongo sending the package's update
RAW_CHECKED = "raw, the package's update"
TARGETS = {"turn": 1.25, "summary": 1.1, "page": 1.0, "start": 1.5, "load": 1.6, "bulk": 2.5,
           "decode": 1.6, "build": 5.0, "api json": None, "api first": None, "audit": 3.0}
LABELS = {
    "turn": "append a turn",
    "summary": "analytics summary over {large:,}",
    "page": "page of 20 populated sessions as API JSON",
    "start": "create a session (start)",
    "load": "load one 200-turn session by session_id",
    "bulk": "bulk insert {bulk:,} sessions of 10 turns",
    "decode": "CPU: decode one 50-turn session",
    "build": "CPU: build + validate + encode a 50-turn session",
    "api json": "CPU: API JSON of a fetched page",
    "api first": "CPU: API JSON of a page as read (first use)",
    "audit": "audit of {audited:,} sessions of 20 turns",
}
BATCH = 500
TEXT = "Turn {} of the practice call, with a few words."




# --- stock mongoengine: plain Documents mirroring the package's, on their own collections ---

def _me_now() -> datetime.datetime:
    return utc_now()


class MEScenario(me.Document):
    scenario_id = me.StringField(required=True, unique=True)
    title = me.StringField(required=True)
    description = me.StringField(required=True)
    llm_prompt = me.StringField(required=True, db_field="llmPrompt")
    is_active = me.BooleanField(default=True)
    created_at = me.DateTimeField(default=_me_now, db_field="createdAt")
    updated_at = me.DateTimeField(default=_me_now, db_field="updatedAt")
    meta = {"collection": "me_scenarios", "strict": False}


class MECharacter(me.Document):
    name = me.StringField(required=True)
    role = me.StringField(required=True)
    voice_id = me.StringField(null=True)
    meta = {"collection": "me_characters", "strict": False}


class MEEntry(me.EmbeddedDocument):
    id = me.ObjectIdField(db_field="_id", default=ObjectId)
    role = me.StringField(required=True, choices=("user", "assistant"))
    text = me.StringField(required=True, max_length=8192)
    timestamp = me.DateTimeField(default=_me_now)
    audio_duration = me.FloatField(min_value=0)
    meta = {"strict": False}


class MEMetadata(me.EmbeddedDocument):
    ip_address = me.StringField()
    user_agent = me.StringField()
    session_quality = me.StringField()


class MESession(me.Document):
    session_id = me.StringField(required=True, unique=True)
    scenario = me.ReferenceField(MEScenario, required=True, db_field="scenario_id")
    character = me.ReferenceField(MECharacter, null=True, db_field="character_id")
    user_id = me.StringField(required=True)
    status = me.StringField(choices=("active", "completed", "paused", "ended"), default="active")
    start_time = me.DateTimeField(default=_me_now)
    end_time = me.DateTimeField(null=True)
    total_duration = me.FloatField(min_value=0, default=0)
    conversation_history = me.EmbeddedDocumentListField(MEEntry)
    voice_enabled = me.BooleanField(default=False)
    metadata = me.EmbeddedDocumentField(MEMetadata)
    created_at = me.DateTimeField(db_field="createdAt")
    updated_at = me.DateTimeField(db_field="updatedAt")
    meta = {"collection": "me_roleplaysessions", "strict": False,
            "indexes": [("user_id", "-created_at"), "status", "scenario"]}

    def save(self, *args: Any, **kwargs: Any) -> Any:  # the stamps a user adds by hand
        now = utc_now()
        if self.created_at is None:
            self.created_at = now
        self.updated_at = now
        return super().save(*args, **kwargs)


class MEAnalytics(me.Document):
    meta = {"collection": "me_sessionanalytics", "strict": False}


# --- bunnet: pydantic 2 Documents mirroring them -------------------------------------------

if bunnet is not None:
    class BnEntry(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(populate_by_name=True, extra="allow")
        id: bunnet.PydanticObjectId = pydantic.Field(default_factory=bunnet.PydanticObjectId,
                                                     alias="_id")
        role: Literal["user", "assistant"]
        text: str = pydantic.Field(min_length=1, max_length=8192)
        timestamp: datetime.datetime = pydantic.Field(default_factory=utc_now)
        audio_duration: float | None = pydantic.Field(default=None, ge=0)

    class BnMetadata(pydantic.BaseModel):
        ip_address: str | None = None
        user_agent: str | None = None
        session_quality: str | None = None

    class BnScenario(bunnet.Document):
        scenario_id: bunnet.Indexed(str, unique=True)  # type: ignore[valid-type]
        title: str
        description: str
        llmPrompt: str
        is_active: bool = True

        class Settings:
            name = "bn_scenarios"

    class BnCharacter(bunnet.Document):
        name: str
        role: str
        voice_id: str | None = None

        class Settings:
            name = "bn_characters"

    class BnSession(bunnet.Document):
        model_config = pydantic.ConfigDict(extra="allow")
        session_id: bunnet.Indexed(str, unique=True)  # type: ignore[valid-type]
        scenario_id: bunnet.PydanticObjectId
        character_id: bunnet.PydanticObjectId | None = None
        user_id: str = pydantic.Field(min_length=1)
        status: Literal["active", "completed", "paused", "ended"] = "active"
        start_time: datetime.datetime = pydantic.Field(default_factory=utc_now)
        end_time: datetime.datetime | None = None
        total_duration: float = pydantic.Field(default=0, ge=0)
        conversation_history: list[BnEntry] = []
        voice_enabled: bool = False
        metadata: BnMetadata | None = None
        createdAt: datetime.datetime = pydantic.Field(default_factory=utc_now)
        updatedAt: datetime.datetime = pydantic.Field(default_factory=utc_now)

        class Settings:
            name = "bn_roleplaysessions"

    class BnAnalytics(bunnet.Document):
        class Settings:
            name = "bn_sessionanalytics"

    class BnSummaryRow(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="allow")
        id: Any = pydantic.Field(alias="_id")
        n: int
        best: float


# --- what every column shares --------------------------------------------------------------

def timed(action: Callable[[], object]) -> float:
    gc.collect()  # the garbage of the run before is not this run's cost
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def ratios(actions: dict[str, Callable[[], object]], repeats: int, warmups: int = 0
           ) -> dict[str, float]:
    """Each column's median time over raw pymongo's, the columns taking turns in a rotating
    order so that a slow spell of a noisy machine falls on all of them; after ``warmups``
    untimed rounds of the same order (a server compiles each of its code paths as it is
    first used, and one column's first uses must not be measured against another's)."""
    times: dict[str, list[float]] = {name: [] for name in actions}
    names = list(actions)
    for repeat in range(warmups + repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            if repeat < warmups:
                actions[name]()
            else:
                times[name].append(timed(actions[name]))
    raw = statistics.median(times["raw"])
    return {name: statistics.median(found) / raw for name, found in times.items() if name != "raw"}


def stored_session(scenario_id: ObjectId, turns: int, user_id: str = "rep-bench",
                   character_id: ObjectId | None = None) -> dict[str, Any]:
    """A session as stored (by raw code, and so by every library here)."""
    now = utc_now()
    started = now - datetime.timedelta(hours=1)
    return {"session_id": f"session_{uuid.uuid4().hex}", "scenario_id": scenario_id,
            "character_id": character_id, "user_id": user_id, "status": "active",
            "start_time": started, "end_time": None, "total_duration": 0,
            "voice_enabled": False,
            "conversation_history": [
                {"_id": ObjectId(), "role": "user" if i % 2 == 0 else "assistant",
                 "text": TEXT.format(i), "timestamp": started + datetime.timedelta(seconds=i)}
                for i in range(turns)],
            "createdAt": now, "updatedAt": now}


def turn_values(turns: int) -> list[dict[str, Any]]:
    started = utc_now() - datetime.timedelta(hours=1)
    return [{"role": "user" if i % 2 == 0 else "assistant", "text": TEXT.format(i),
             "timestamp": started + datetime.timedelta(seconds=i)} for i in range(turns)]


def jsonable(value: Any) -> Any:
    """``value`` as the routes' JSON holds it: ids as hex, datetimes in ISO 8601."""
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


def populated_json(session: dict[str, Any], scenarios: dict[Any, dict[str, Any]],
                   characters: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    """A session's JSON with its scenario and character as small dicts (raw, mongoengine)."""
    shown = jsonable(session)
    shown["scenario_id"] = scenarios.get(session.get("scenario_id"))
    shown["character_id"] = characters.get(session.get("character_id"))
    return shown


def me_api_item(document: Any, scenario: Any) -> dict[str, Any]:
    """A stock mongoengine session's JSON with its scenario as a small dict."""
    item = jsonable(document.to_mongo().to_dict())
    item["scenario_id"] = jsonable({"_id": scenario.pk, "title": scenario.title,
                                    "description": scenario.description})
    return item


def bn_api_item(document: Any, scenario: Any) -> dict[str, Any]:
    """A bunnet session's JSON with its scenario as a small dict."""
    item: dict[str, Any] = document.model_dump(mode="json")
    item["scenario_id"] = scenario.model_dump(mode="json", include={"id", "title", "description"})
    return item


class Bench:
    """The data of one run, on the three libraries' collections, and the rows' actions."""

    def __init__(self, large: int, bulk: int, audited: int, repeats: int) -> None:
        self.large, self.bulk, self.audited, self.repeats = large, bulk, audited, repeats
        self.db = rp.Scenario._get_db()
        self.codec = rp.RoleplaySession._get_collection().codec_options
        self.scenario = rp.Scenario(scenario_id="bench", title="Bench", description="d",
                                    llm_prompt="p").save()
        self.character = rp.Character(name="Dana", role="CFO", personality="p",
                                      background="b", scenarios=[self.scenario]).save()
        stored = self.db.scenarios.find_one({"_id": self.scenario.pk})
        self.db.me_scenarios.insert_one(stored)
        self.me_scenario = MEScenario.objects.get(pk=self.scenario.pk)
        self.db.me_characters.insert_one(self.db.characters.find_one())
        if bunnet is not None:
            bunnet.init_bunnet(database=self.db, document_models=[
                BnScenario, BnCharacter, BnSession, BnAnalytics])
            self.db.bn_scenarios.insert_one(stored)
            self.db.bn_characters.insert_one(self.db.characters.find_one())
        MESession.ensure_indexes()
        # the same indexes on every library's sessions: each one costs every insert
        for collection in ("me_roleplaysessions", "bn_roleplaysessions"):
            present = [dict(info["key"]) for info in self.db[collection].list_indexes()]
            for info in self.db.roleplaysessions.list_indexes():
                if dict(info["key"]) not in present:
                    # a name of its own: mongo-java-server drops an index by name from
                    # every collection that has one (bwaldvogel/mongo-java-server#246)
                    self.db[collection].create_index(
                        list(info["key"].items()), unique=info.get("unique", False),
                        name=f"{collection}_{info['name']}")

    def fill(self, collection: str, documents: list[dict[str, Any]]) -> None:
        for start in range(0, len(documents), 1000):
            self.db[collection].insert_many([dict(d) for d in documents[start:start + 1000]])

    def columns(self, raw: Callable[[], object], package: Callable[[], object],
                stock: Callable[[], object], bn: Callable[[], object] | None
                ) -> dict[str, Callable[[], object]]:
        actions = {"raw": raw, "this package": package, "stock mongoengine": stock}
        if bunnet is not None and bn is not None:
            actions["bunnet"] = bn
        return actions

    # --- the rows: each gives the four columns' actions ----------------------------------

    def turn(self) -> dict[str, Callable[[], object]]:
        pk = self.scenario.pk
        stored = stored_session(pk, 10)
        self.fill("roleplaysessions", [stored])
        live = rp.RoleplaySession.objects.live(stored["session_id"])
        raw_id = self.db.roleplaysessions.insert_one(stored_session(pk, 10)).inserted_id
        checked_id = self.db.roleplaysessions.insert_one(stored_session(pk, 10)).inserted_id
        me_id = self.db.me_roleplaysessions.insert_one(stored_session(pk, 10)).inserted_id
        bn_id = self.db.bn_roleplaysessions.insert_one(stored_session(pk, 10)).inserted_id
        sessions = self.db.roleplaysessions
        line = "Another line of the call."
        through_arrays = rp.server_facts(self.db.client).ne_through_arrays
        most = rp.current_limits().turns_per_session

        def raw() -> None:
            entry = {"_id": ObjectId(), "role": "user", "text": line, "timestamp": utc_now()}
            sessions.update_one({"_id": raw_id, "status": "active"},
                                {"$push": {"conversation_history": entry}})

        def raw_checked() -> None:  # the package's filter and update (without FerretDB's lease)
            now = utc_now()
            entry = {"_id": ObjectId(), "role": "user", "text": line, "timestamp": now}
            not_stored = ({"conversation_history._id": {"$ne": entry["_id"]}} if through_arrays
                          else {"$nor": [{"conversation_history._id": entry["_id"]}]})
            sessions.update_one(
                {"_id": checked_id, "status": "active", **not_stored,
                 f"conversation_history.{most - 1}": {"$exists": False}},
                {"$push": {"conversation_history": entry}, "$max": {"last_turn_at": now},
                 "$set": {"updatedAt": now}})

        def stock() -> None:
            entry = MEEntry(role="user", text=line)
            entry.validate()
            MESession.objects(id=me_id, status="active").update_one(
                push__conversation_history=entry)

        def bn() -> None:
            entry = BnEntry(role="user", text=line)
            BnSession.find_one(BnSession.id == bn_id, BnSession.status == "active").update(
                Push({BnSession.conversation_history: entry})).run()

        actions = self.columns(raw, lambda: live.add_turn("user", line), stock, bn)
        return {**actions, RAW_CHECKED: raw_checked}

    def summary(self) -> dict[str, Callable[[], object]] | None:
        if not rp.server_facts(self.db.client).group_accumulators:
            return None
        now = utc_now()
        analyses = [{"session_id": f"session_bench_{n}", "scenario_id": self.scenario.pk,
                     "user_id": "rep", **{name: 1 + n % 10 for name in rp.SCORE_FIELDS},
                     "conversation_flow_analysis": "ok", "createdAt": now, "updatedAt": now}
                    for n in range(self.large)]
        for collection in ("sessionanalytics", "me_sessionanalytics", "bn_sessionanalytics"):
            self.fill(collection, analyses)
        scores = {name: {"$sum": f"${name}"} for name in rp.SCORE_FIELDS}
        group = [{"$group": {"_id": "$scenario_id", "n": {"$sum": 1},
                             "best": {"$max": "$overall_score"}, **scores}}]
        return self.columns(
            lambda: list(self.db.sessionanalytics.aggregate(group)),
            lambda: rp.SessionAnalytics.objects.summary(),
            lambda: list(MEAnalytics.objects.aggregate(group)),
            lambda: BnAnalytics.aggregate(group, projection_model=BnSummaryRow).to_list())

    def page(self) -> dict[str, Callable[[], object]]:
        pk, character = self.scenario.pk, self.character.pk
        sessions = [stored_session(pk, 2, character_id=character) for _ in range(self.large)]
        for collection in ("roleplaysessions", "me_roleplaysessions", "bn_roleplaysessions"):
            self.fill(collection, sessions)
        newest = [("createdAt", -1), ("_id", -1)]
        db = self.db

        def raw() -> str:
            total = db.roleplaysessions.count_documents({})
            rows = list(db.roleplaysessions.find().sort(newest).limit(20))
            scenarios = {s["_id"]: jsonable(s) for s in db.scenarios.find(
                {"_id": {"$in": list({r["scenario_id"] for r in rows})}},
                {"title": 1, "description": 1})}
            characters = {c["_id"]: jsonable(c) for c in db.characters.find(
                {"_id": {"$in": list({r["character_id"] for r in rows if r["character_id"]})}},
                {"name": 1, "role": 1, "voice_id": 1})}
            return json.dumps({"items": [populated_json(r, scenarios, characters)
                                         for r in rows], "total": total})

        def package() -> str:
            found = rp.RoleplaySession.objects.newest_first().api_page(1, 20)
            return json.dumps({"items": found.items, "total": found.total})

        def stock() -> str:
            query = MESession.objects.order_by("-created_at", "-id")
            total = query.count()
            rows = query.limit(20).select_related()
            items = []
            for row in rows:
                shown = jsonable(row.to_mongo().to_dict())
                shown["scenario_id"] = jsonable({"_id": row.scenario.pk,
                                                 "title": row.scenario.title,
                                                 "description": row.scenario.description})
                shown["character_id"] = row.character and jsonable({
                    "_id": row.character.pk, "name": row.character.name,
                    "role": row.character.role, "voice_id": row.character.voice_id})
                items.append(shown)
            return json.dumps({"items": items, "total": total})

        def bn() -> str:
            query = BnSession.find_all().sort(-BnSession.createdAt, -BnSession.id)
            total = BnSession.find_all().count()
            rows = query.limit(20).to_list()
            scenarios = {s.id: s.model_dump(mode="json", include={"id", "title", "description"})
                         for s in BnScenario.find(In(BnScenario.id, list(
                             {r.scenario_id for r in rows}))).to_list()}
            characters = {c.id: c.model_dump(mode="json") for c in BnCharacter.find(In(
                BnCharacter.id, list({r.character_id for r in rows if r.character_id}))
            ).to_list()}
            items = []
            for row in rows:
                shown = row.model_dump(mode="json")
                shown["scenario_id"] = scenarios.get(row.scenario_id)
                shown["character_id"] = characters.get(row.character_id)
                items.append(shown)
            return json.dumps({"items": items, "total": total})

        return self.columns(raw, package, stock, bn)

    def start(self) -> dict[str, Callable[[], object]]:
        loaded = rp.Scenario.objects.get(pk=self.scenario.pk)
        pk = self.scenario.pk

        def stock() -> None:
            MESession(session_id=f"session_{uuid.uuid4().hex}", scenario=self.me_scenario,
                      user_id="rep-bench", metadata=MEMetadata()).save(force_insert=True)

        def bn() -> None:
            BnSession(session_id=f"session_{uuid.uuid4().hex}", scenario_id=pk,
                      user_id="rep-bench").insert()

        return self.columns(
            lambda: self.db.roleplaysessions.insert_one(stored_session(pk, 0)),
            lambda: rp.RoleplaySession.start(loaded, "rep-bench"), stock, bn)

    def load(self) -> dict[str, Callable[[], object]]:
        stored = stored_session(self.scenario.pk, 200)
        for collection in ("roleplaysessions", "me_roleplaysessions", "bn_roleplaysessions"):
            self.fill(collection, [stored])
        sid = stored["session_id"]
        return self.columns(
            lambda: self.db.roleplaysessions.find_one(
                {"session_id": sid})["conversation_history"][-1]["text"],
            lambda: rp.RoleplaySession.objects.by_session_id(
                sid).get().conversation_history[-1].text,
            lambda: MESession.objects.get(session_id=sid).conversation_history[-1].text,
            lambda: BnSession.find_one(
                BnSession.session_id == sid).run().conversation_history[-1].text)

    def bulk_(self) -> dict[str, Callable[[], object]]:
        pk = self.scenario.pk
        batches = range(0, self.bulk, BATCH)

        def raw() -> None:
            for _ in batches:
                self.db.roleplaysessions.insert_many(
                    [stored_session(pk, 10, "rep-bulk") for _ in range(BATCH)])

        def package() -> None:
            for _ in batches:
                rp.RoleplaySession.objects.insert([rp.RoleplaySession(
                    session_id=f"session_{uuid.uuid4().hex}", scenario=self.scenario,
                    user_id="rep-bulk", start_time=utc_now(),
                    conversation_history=[rp.ConversationEntry(**turn)
                                          for turn in turn_values(10)])
                    for _ in range(BATCH)], load_bulk=False)

        def stock() -> None:
            for _ in batches:
                documents = []
                for _ in range(BATCH):
                    now = utc_now()
                    document = MESession(
                        session_id=f"session_{uuid.uuid4().hex}", scenario=self.me_scenario,
                        user_id="rep-bulk", start_time=now, created_at=now, updated_at=now,
                        conversation_history=[MEEntry(**turn) for turn in turn_values(10)])
                    document.validate()  # insert() does not
                    documents.append(document)
                MESession.objects.insert(documents, load_bulk=False)

        def bn() -> None:
            for _ in batches:
                BnSession.insert_many([BnSession(
                    session_id=f"session_{uuid.uuid4().hex}", scenario_id=pk,
                    user_id="rep-bulk", conversation_history=[
                        BnEntry(**turn) for turn in turn_values(10)])
                    for _ in range(BATCH)])

        return self.columns(raw, package, stock, bn)

    def decode(self) -> dict[str, Callable[[], object]]:
        data = bson.encode(stored_session(self.scenario.pk, 50))
        codec, times = self.codec, range(200)

        # this package's QuerySets read a session undecoded (a RawBSONDocument), as pymongo
        # builds it for each document of a reply
        read_as_bson = reading_codec(codec)

        def each(load: Callable[[dict[str, Any]], Any]) -> Callable[[], None]:
            def run() -> None:
                for _ in times:
                    load(bson.decode(data, codec))
            return run

        def package() -> None:
            for _ in times:
                read = rp.RoleplaySession._from_son(ReadDocument(data, read_as_bson))
                read.conversation_history[-1].text  # noqa: B018 (read: the row's work)

        return self.columns(
            each(lambda raw: raw["conversation_history"][-1]["text"]),
            package,
            each(lambda raw: MESession._from_son(raw).conversation_history[-1].text),
            each(lambda raw: parse_obj(BnSession, raw).conversation_history[-1].text)
            if bunnet is not None else None)

    def build(self) -> dict[str, Callable[[], object]]:
        pk, times = self.scenario.pk, range(50)

        def raw() -> None:
            for _ in times:
                bson.encode(stored_session(pk, 50))

        def package() -> None:
            for _ in times:
                document = rp.RoleplaySession(
                    session_id=f"session_{uuid.uuid4().hex}", scenario=self.scenario,
                    user_id="rep-bench", conversation_history=[
                        rp.ConversationEntry(**turn) for turn in turn_values(50)])
                document.validate()
                bson.encode(document.to_mongo())

        def stock() -> None:
            for _ in times:
                now = utc_now()
                document = MESession(
                    session_id=f"session_{uuid.uuid4().hex}", scenario=self.me_scenario,
                    user_id="rep-bench", created_at=now, updated_at=now,
                    conversation_history=[MEEntry(**turn) for turn in turn_values(50)])
                document.validate()
                bson.encode(document.to_mongo())

        def bn() -> None:
            for _ in times:
                document = BnSession(
                    session_id=f"session_{uuid.uuid4().hex}", scenario_id=pk,
                    user_id="rep-bench", conversation_history=[
                        BnEntry(**turn) for turn in turn_values(50)])
                bson.encode(get_dict(document, to_db=True))

        return self.columns(raw, package, stock, bn)

    def api_json(self) -> dict[str, Callable[[], object]]:
        pk = self.scenario.pk
        stored = [stored_session(pk, 10) for _ in range(20)]
        scenario = self.db.scenarios.find_one({"_id": pk})
        shown = {pk: jsonable({"_id": pk, "title": scenario["title"],
                               "description": scenario["description"]})}
        ours = [rp.RoleplaySession._from_son(dict(s)) for s in stored]
        for document in ours:
            document.scenario = self.scenario
        theirs = [MESession._from_son(dict(s)) for s in stored]
        for document in theirs:
            document.scenario = self.me_scenario
        times = range(20)

        def raw() -> None:
            for _ in times:
                json.dumps([populated_json(s, shown, {}) for s in stored])

        def package() -> None:
            for _ in times:
                json.dumps([document.to_api_dict() for document in ours])

        def stock() -> None:
            for _ in times:
                json.dumps([me_api_item(document, document.scenario) for document in theirs])

        if bunnet is None:
            return self.columns(raw, package, stock, None)
        bn_sessions = [parse_obj(BnSession, dict(s)) for s in stored]
        bn_scenario = parse_obj(BnScenario, dict(scenario))

        def bn() -> None:
            for _ in times:
                json.dumps([bn_api_item(document, bn_scenario) for document in bn_sessions])

        return self.columns(raw, package, stock, bn)

    def api_first(self) -> dict[str, Callable[[], object]]:
        pk = self.scenario.pk
        replies = [bson.encode(stored_session(pk, 10)) for _ in range(20)]
        scenario = self.db.scenarios.find_one({"_id": pk})
        shown = {pk: jsonable({"_id": pk, "title": scenario["title"],
                               "description": scenario["description"]})}
        codec, read_as_bson, times = self.codec, reading_codec(self.codec), range(20)

        def raw() -> None:
            for _ in times:
                json.dumps([populated_json(bson.decode(data, codec), shown, {})
                            for data in replies])

        def package() -> None:
            for _ in times:
                items = []
                for data in replies:
                    document = rp.RoleplaySession._from_son(ReadDocument(data, read_as_bson))
                    document.scenario = self.scenario
                    items.append(document.to_api_dict())
                json.dumps(items)

        def stock() -> None:
            for _ in times:
                json.dumps([me_api_item(MESession._from_son(bson.decode(data, codec)),
                                        self.me_scenario) for data in replies])

        if bunnet is None:
            return self.columns(raw, package, stock, None)
        bn_scenario = parse_obj(BnScenario, dict(scenario))

        def bn() -> None:
            for _ in times:
                json.dumps([bn_api_item(parse_obj(BnSession, bson.decode(data, codec)),
                                        bn_scenario) for data in replies])

        return self.columns(raw, package, stock, bn)

    def audit(self) -> dict[str, Callable[[], object]]:
        from audit import as_the_command_reports, seed_sessions

        self.db.roleplaysessions.drop()
        rp.ensure_indexes([rp.RoleplaySession])
        seed_sessions(self.audited, self.scenario)
        sessions = self.db.roleplaysessions

        def raw() -> None:
            for _ in sessions.find({}, batch_size=DEFAULT_BATCH_SIZE):
                pass

        def package() -> None:
            report = rp.audit(models=[rp.RoleplaySession], batch_size=DEFAULT_BATCH_SIZE,
                              progress=as_the_command_reports)
            assert report.clean and report.models[0].documents == self.audited, report

        return {"raw": raw, "this package": package}

    def rows(self, only: list[str] | None = None
             ) -> Iterator[tuple[str, dict[str, float] | None]]:
        makers: dict[str, Callable[[], dict[str, Callable[[], object]] | None]] = {
            "turn": self.turn, "summary": self.summary, "page": self.page,
            "start": self.start, "load": self.load, "bulk": self.bulk_,
            "decode": self.decode, "build": self.build, "api json": self.api_json,
            "api first": self.api_first, "audit": self.audit}
        for key, make in makers.items():
            if only and key not in only:
                continue
            actions = make()
            repeats, warmups = self.repeats, self.repeats
            # bulk and audit: seconds each, thousands of uses of each path (no warm-up);
            # the bulk insert meets the server's pauses, which fall on some runs of a
            # column and not on others (raw's most: it is mostly the server's time), so its
            # median is of 9
            if key == "bulk":
                repeats, warmups = max(5, self.repeats - 2), 0
            elif key == "audit":
                repeats, warmups = max(3, self.repeats // 3), 0
            elif key in ("summary", "page"):  # milliseconds each, waiting on the server,
                # whose pauses give a tail that moves a median of 11
                repeats = warmups = self.repeats * 3
            elif key in ("turn", "start"):  # a write of a millisecond or less each: the
                # server's slow spells last as long as 33 rounds, and moved the turn's median
                # by 0.15 from one 33 to the next; the start's median of 11 moved all three
                # libraries' ratios by 0.2 from one run to the next
                repeats = warmups = self.repeats * 9
            yield key, None if actions is None else ratios(actions, repeats, warmups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    parser.add_argument("--only", nargs="+", choices=sorted(TARGETS), metavar="ROW",
                        help=f"run only these rows (of: {', '.join(TARGETS)})")
    choice = server_choice(__doc__.splitlines()[0], parser)
    scale = 10 if choice.quick else 1
    bench_sizes = {"large": 10_000 // scale, "bulk": 10_000 // scale,
                   "audited": 20_000 // scale, "repeats": 5 if choice.quick else 11}
    with real_server(None, choice) as server:
        bench = Bench(**bench_sizes)
        print(f"{datetime.date.today().isoformat()}, {server}")
        if bunnet is None:
            print("bunnet: not installed (pip install bunnet), its column is left empty")
        print("median time as a ratio to raw pymongo doing the same work; * marks a row of "
              "this package that misses its target")
        print(f"{'operation':<52} {COLUMNS[0]:>12} {COLUMNS[1]:>17} {COLUMNS[2]:>8}  target")
        for key, found in bench.rows(choice.only):
            label = LABELS[key].format(**bench_sizes)
            target = TARGETS[key]
            if found is None:
                print(f"{label:<52} {'(this server cannot run the plain $group)':>39}")
                continue
            ours = found["this package"]
            mark = "*" if target is not None and ours > target else " "
            cells = [f"{ratio_text(found[c], target if c == COLUMNS[0] else None)}x"
                     if c in found else "-" for c in COLUMNS]
            print(f"{label:<52} {cells[0]:>11}{mark} {cells[1]:>17} {cells[2]:>8}  "
                  f"{'<= %gx' % target if target else '-'}", flush=True)
            if RAW_CHECKED in found:
                print(f"{'  (raw pymongo sending the same checked update)':<52} "
                      f"{found[RAW_CHECKED]:>11.2f}x", flush=True)


if __name__ == "__main__":
    main()
