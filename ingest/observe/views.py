"""`GET /metrics` (contract §1): Prometheus text. Open by default, like the probes; with METRICS_TOKEN
set, a scraper must send `Authorization: Bearer <token>`."""
import hmac

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST

from ingest.observe import metrics


def metrics_view(request):
    token = settings.METRICS_TOKEN
    if token:
        sent = request.META.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return HttpResponse(b"metrics need the bearer token (METRICS_TOKEN)\n", status=401,
                                content_type="text/plain; charset=utf-8")  # fmt: skip
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
