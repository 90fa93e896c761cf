"""The outermost middleware: every request gets a request id (X-Request-ID, else a new one) that its
log records carry, and is counted by route and status for /metrics."""
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from ingest.observe import context, metrics


def _route(request: HttpRequest) -> str:
    """The URL pattern that answered (bounded: never the raw path), or what answered instead."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.route or match.view_name or "unnamed"
    return "preflight" if request.method == "OPTIONS" else "unmatched"


class ObserveMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        request_id = (request.META.get("HTTP_X_REQUEST_ID") or uuid.uuid4().hex)[:64]
        request.request_id = request_id  # type: ignore[attr-defined]  # Spool's own attribute, for the views
        context.request_id.set(request_id)
        context.project_id.set("")
        try:
            response = self.get_response(request)
            # Every answer names its request id: the access log (LOG_FORMAT=json) and the client
            # can then find the request's records.
            response.setdefault("X-Request-ID", request_id)
            elapsed = time.perf_counter() - started
            metrics.observe_request(_route(request), request.method, response.status_code, elapsed)
            return response
        finally:
            context.clear()
