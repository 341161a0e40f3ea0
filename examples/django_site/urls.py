"""One JSON view over roleplay_models, to show the glue end to end."""

from django.http import JsonResponse
from django.urls import path

import roleplay_models as rp


def scenarios(request):
    query = rp.Scenario.objects.active()
    if "search" in request.GET:
        query = query.search(request.GET["search"])
    return JsonResponse({"success": True, "scenarios": query.api_dicts()})


urlpatterns = [path("api/roleplay/scenarios", scenarios)]
