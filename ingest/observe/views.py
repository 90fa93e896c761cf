"""`GET /metrics` (contract §1): Prometheus text, for the scrapers an operator allowed.

The numbers name every project and show the traffic of each, so they are closed by default
(docs/operations.md, "Metrics"): with METRICS_TOKEN set, a scraper sends `Authorization: Bearer
<token>`; METRICS_PUBLIC=1 opens them to whoever reaches them (a private network); with neither,
only a development server (DEBUG, `make run`) answers them, and only to its own loopback callers.
Loopback alone is not enough in production: a proxy on the same machine forwards everyone from there.
"""
import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST

from ingest.observe import metrics

_TEXT = "text/plain; charset=utf-8"


def _loopback(request: HttpRequest) -> bool:
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def refusal(request: HttpRequest) -> HttpResponse | None:
    """Why this caller may not read the metrics, as the answer to give; None when it may."""
    token = settings.METRICS_TOKEN
    if token:
        sent = request.META.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip()
        if hmac.compare_digest(sent.encode(), token.encode()):
            return None
        response = HttpResponse(b"metrics need the bearer token (METRICS_TOKEN)\n", status=401, content_type=_TEXT)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if settings.METRICS_PUBLIC or (settings.DEBUG and _loopback(request)):
        return None
    return HttpResponse(b"metrics are closed: set METRICS_TOKEN for your scraper (or METRICS_PUBLIC=1)\n",
                        status=403, content_type=_TEXT)  # fmt: skip


def metrics_view(request: HttpRequest) -> HttpResponse:
    return refusal(request) or HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
