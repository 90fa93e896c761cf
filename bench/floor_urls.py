"""Spool's URLs plus the floors the benchmarks compare with, served by the same gunicorn and middleware.

Never part of the production URLconf: only bench/settings.py names this module.
"""
import orjson
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as spool_urls


@csrf_exempt
def parse_only(request):
    """B1's floor: read the body and parse it with orjson, nothing else."""
    events = orjson.loads(request.body)["events"]
    return HttpResponse(orjson.dumps({"accepted": len(events), "rejected": []}), status=202,
                        content_type="application/json")  # fmt: skip


class EmptyView(APIView):
    """B3's floor: a bare DRF view that reads the body and answers `{}`."""

    def post(self, request):
        request.data  # noqa: B018 - parsing the body is part of the floor
        return Response({})


urlpatterns = [
    path("bench/parse", parse_only),
    path("bench/empty", EmptyView.as_view()),
    *spool_urls,
]
