"""The ten routes of the roleplay frontend, on roleplay_models and Flask.

Run: MONGODB_URI=mongodb://localhost:27017/roleplay flask --app examples/flask_app run
Every response has the frontend's envelope: {"success": true, ...} or
{"success": false, "error": "..."}. The glue (init_app) answers the package's errors: 404 for
an unknown id, 400 for invalid input, 409 for a session state conflict or a duplicate, 503
while the database does not answer; this app adds only the envelope for Flask's own HTTP errors
(an unknown URL, say) and a 500 for a bug. GET /api/roleplay/ready is the readiness check.

A turn or a status change answers the session's state without its history (and, for a turn,
the stored entry), so a request sends the same few commands however long the history is;
GET /api/roleplay/sessions/<session_id> answers the whole session.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

import roleplay_models as rp
from roleplay_models.flask import get_or_404, init_app, readiness
from roleplay_models.odm.api import api_shape
from roleplay_models.odm.filters import as_object_id

__all__ = ("create_app", "entry_json", "state_json")

TIP_FILTERS = ("category", "session_id", "difficulty_level", "featured")
# What a turn or a status change answers of the session: everything its JSON holds but the
# history (references as id strings: populating them would cost a query each).
STATE_FIELDS = tuple(field.db_field for name, field in rp.RoleplaySession._fields.items()
                     if name != "conversation_history")


def state_json(session: rp.RoleplaySession) -> dict[str, Any]:
    """The session's JSON without its history, from what a live() session holds: no query."""
    return api_shape(rp.RoleplaySession).dump(session.to_mongo(), only=STATE_FIELDS)


def entry_json(entry: rp.ConversationEntry) -> dict[str, Any]:
    """A stored turn as the session's JSON writes it in its history."""
    return api_shape(rp.ConversationEntry).dump(entry.to_mongo())


def first_or_404(query: rp.RoleplayQuerySet[Any]) -> dict[str, Any]:
    """The API JSON of the first document ``query`` matches, references populated; the
    model's DoesNotExist, which init_app answers 404, when it matches none."""
    found = query.limit(1).api_dicts()
    if not found:
        raise query.model.DoesNotExist
    return found[0]


def ok(status: int = 200, **payload: Any) -> Any:
    return jsonify(success=True, **payload), status


def body() -> dict[str, Any]:
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        raise rp.InvalidFilter("the request body is nested too deeply") from None
    except Exception:  # a body the client broke off or mis-chunked is the client's error
        raise rp.InvalidFilter("the request body could not be read") from None
    if not isinstance(data, dict):
        raise rp.InvalidFilter("the request body must be a JSON object")
    return data


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(config or {})
    init_app(app)
    api = "/api/roleplay"

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        return jsonify(success=False, error=error.description), error.code

    @app.errorhandler(Exception)
    def server_error(error: Exception) -> Any:
        app.logger.exception("unhandled error")
        return jsonify(success=False, error="internal server error"), 500

    @app.get(f"{api}/scenarios")
    def scenarios() -> Any:
        query = rp.Scenario.objects.active()
        if "search" in request.args:
            query = query.search(request.args["search"])
        return ok(scenarios=query.api_dicts())

    @app.get(f"{api}/characters")
    def characters() -> Any:
        query = rp.Character.objects.active()
        if "role" in request.args:
            query = query.with_role(request.args["role"])
        return ok(characters=query.api_dicts())

    @app.post(f"{api}/sessions")
    def start_session() -> Any:
        data = body()
        scenario = get_or_404(rp.Scenario.objects,
                              pk=as_object_id("scenario_id", data.get("scenario_id")))
        character = None
        if data.get("character_id") is not None:
            character = get_or_404(rp.Character.objects,
                                   pk=as_object_id("character_id", data["character_id"]))
        # a repeat with the same session_id (after a lost reply, say) returns that session
        session = rp.RoleplaySession.start(
            scenario, data.get("user_id"), character=character,
            voice_enabled=data.get("voice_enabled", False),
            metadata={"ip_address": request.remote_addr,
                      "user_agent": request.headers.get("User-Agent")},
            session_id=data.get("session_id"))
        created = session.last_outcome is rp.WriteOutcome.STORED
        return ok(201 if created else 200, session=session.to_api_dict())

    @app.get(f"{api}/sessions")
    def sessions() -> Any:
        query = rp.RoleplaySession.objects.newest_first()
        if "user_id" in request.args:
            query = query.for_user(request.args["user_id"])
        if "status" in request.args:
            query = query.with_status(request.args["status"])
        page = query.api_page(request.args.get("page", 1), request.args.get("limit", 20))
        return ok(sessions=page.items, pagination={k: v for k, v in page.as_dict().items()
                                                   if k != "items"})

    @app.get(f"{api}/sessions/<session_id>")
    def session(session_id: str) -> Any:
        return ok(session=first_or_404(rp.RoleplaySession.objects.by_session_id(session_id)))

    @app.patch(f"{api}/sessions/<session_id>")
    def update_session(session_id: str) -> Any:
        session, data = rp.RoleplaySession.objects.live(session_id), body()
        turn, status = data.get("turn"), data.get("status")
        if turn is None and status is None:
            raise rp.InvalidFilter("send a turn, or a status of paused or active")
        if turn is not None and not isinstance(turn, dict):
            raise rp.InvalidFilter("turn must be an object with role and text")
        if status not in (None, "paused", "active"):
            raise rp.InvalidFilter("status may be set to paused or active here; use /end")
        if turn is not None and status is not None:
            raise rp.InvalidFilter("send a turn or a status, not both: each is its own write")
        if turn is not None:
            # a repeat with the same turn_id (after a lost reply, say) stores nothing twice
            entry = session.add_turn(turn.get("role"), turn.get("text"),
                                     turn.get("audio_duration"), turn_id=data.get("turn_id"))
            return ok(session=state_json(session), turn=entry_json(entry))
        if status == "paused":
            session.pause()
        else:
            session.resume()
        return ok(session=state_json(session))

    @app.post(f"{api}/sessions/<session_id>/end")
    def end_session(session_id: str) -> Any:
        session = rp.RoleplaySession.objects.live(session_id)
        session.end()
        return ok(session=state_json(session))

    @app.get(f"{api}/analytics/<session_id>")
    def analytics(session_id: str) -> Any:
        return ok(analytics=first_or_404(rp.SessionAnalytics.objects.for_session(session_id)))

    @app.get(f"{api}/analytics")
    @app.get(f"{api}/analytics/summary")
    def analytics_summary() -> Any:
        user_id = request.args.get("user_id")
        query = rp.SessionAnalytics.objects.newest_first()
        if user_id is not None:
            query = query.for_user(user_id)
        page = query.api_page(request.args.get("page", 1), request.args.get("limit", 20))
        return ok(summary=rp.SessionAnalytics.objects.summary(user_id=user_id),
                  analytics=page.items,
                  pagination={k: v for k, v in page.as_dict().items() if k != "items"})

    @app.get(f"{api}/tips")
    def tips() -> Any:
        filters = {k: request.args[k] for k in TIP_FILTERS if k in request.args}
        return ok(tips=rp.RoleplayTip.objects.matching(**filters).api_dicts())

    @app.get(f"{api}/tips/recent")
    def recent_tips() -> Any:
        return ok(tips=rp.RoleplayTip.objects.recent(request.args.get("limit", 5)).api_dicts())

    app.add_url_rule(f"{api}/ready", "ready", readiness)
    return app
