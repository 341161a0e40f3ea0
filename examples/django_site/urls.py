"""JSON views over roleplay_models, to show the glue end to end.

The package's errors are answered by roleplay_models.django.RoleplayErrorsMiddleware (see
settings.MIDDLEWARE): 404 for an unknown id, 400 for invalid input, 409 for a session state
conflict, 503 while the database does not answer, each as {"success": false, "error": ...}.
A turn or a status change answers the session's state without its history (and, for a turn,
the stored entry), as the Flask example does; GET .../sessions/<session_id> answers all of it.
"""

import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

import roleplay_models as rp
from roleplay_models.django import get_or_404
from roleplay_models.odm.api import api_shape
from roleplay_models.odm.filters import as_object_id

__all__ = ("urlpatterns",)

# The session's JSON but its history (references as id strings: no query to populate them).
STATE_FIELDS = tuple(field.db_field for name, field in rp.RoleplaySession._fields.items()
                     if name != "conversation_history")


def ok(status=200, **payload):
    return JsonResponse({"success": True, **payload}, status=status)


def body(request):
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, RecursionError):
        raise rp.InvalidFilter("the request body must be JSON") from None
    if not isinstance(data, dict):
        raise rp.InvalidFilter("the request body must be a JSON object")
    return data


@require_GET
def scenarios(request):
    query = rp.Scenario.objects.active()
    if "search" in request.GET:
        query = query.search(request.GET["search"])
    return ok(scenarios=query.api_dicts())


@require_GET
def scenario(request, scenario_id):
    return ok(scenario=get_or_404(rp.Scenario.objects, pk=scenario_id).to_api_dict())


@csrf_exempt
@require_POST
def start_session(request):
    data = body(request)
    found = get_or_404(rp.Scenario.objects, pk=as_object_id("scenario_id", data.get("scenario_id")))
    # a repeat with the same session_id (after a lost reply, say) returns that session
    session = rp.RoleplaySession.start(found, data.get("user_id"),
                                       session_id=data.get("session_id"))
    created = session.last_outcome is rp.WriteOutcome.STORED
    return ok(201 if created else 200, session=session.to_api_dict())


def state_json(session: rp.RoleplaySession) -> dict[str, Any]:
    """The session's JSON without its history, from what a live() session holds: no query."""
    return api_shape(rp.RoleplaySession).dump(session.to_mongo(), only=STATE_FIELDS)


def entry_json(entry: rp.ConversationEntry) -> dict[str, Any]:
    """A stored turn as the session's JSON writes it in its history."""
    return api_shape(rp.ConversationEntry).dump(entry.to_mongo())


@csrf_exempt
@require_http_methods(["GET", "PATCH"])
def session(request: HttpRequest, session_id: str) -> JsonResponse:
    """GET: the whole session, history included and references populated; PATCH: a turn or
    a status change (see update_session)."""
    if request.method == "PATCH":
        return update_session(request, session_id)
    found = rp.RoleplaySession.objects.by_session_id(session_id).api_dicts()
    if not found:
        raise rp.RoleplaySession.DoesNotExist
    return ok(session=found[0])


def update_session(request: HttpRequest, session_id: str) -> JsonResponse:
    """A turn (answered with the stored entry) or a pause or resume, answered with the
    session's state; refuses both at once, neither, and any other status (400)."""
    session, data = rp.RoleplaySession.objects.live(session_id), body(request)
    turn, status = data.get("turn"), data.get("status")
    if (turn is None) == (status is None):
        raise rp.InvalidFilter("send a turn, or a status of paused or active")
    if turn is not None:
        if not isinstance(turn, dict):
            raise rp.InvalidFilter("turn must be an object with role and text")
        entry = session.add_turn(turn.get("role"), turn.get("text"), turn.get("audio_duration"),
                                 turn_id=data.get("turn_id"))
        return ok(session=state_json(session), turn=entry_json(entry))
    if status == "paused":
        session.pause()
    elif status == "active":
        session.resume()
    else:
        raise rp.InvalidFilter("status may be set to paused or active here; use /end")
    return ok(session=state_json(session))


@csrf_exempt
@require_POST
def end_session(request, session_id):
    session = rp.RoleplaySession.objects.live(session_id)
    session.end()
    return ok(session=state_json(session))


urlpatterns = [
    path("api/roleplay/scenarios", scenarios),
    path("api/roleplay/scenarios/<str:scenario_id>", scenario),
    path("api/roleplay/sessions", start_session),
    path("api/roleplay/sessions/<str:session_id>", session),
    path("api/roleplay/sessions/<str:session_id>/end", end_session),
]
