"""Request plumbing for the /track routes: `//track` paths, CORS (contract §1.2), request ids, JSON
for the answers Django makes before a view runs (from the error table, ingest/api/errors.py), and
the short way to the ingest views, past the middleware that serves browsers and the admin."""
import re
import uuid

import orjson
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, get_resolver

from ingest.api import errors
from ingest.api.views import BatchView, DeviceIdView, TrackView

_TRACK = re.compile(r"^(/api)?/track(/|$)")
_SLASHES = re.compile(r"/{2,}")
ALLOWED_HEADERS = (
    "content-type, content-encoding, openpanel-client-id, openpanel-client-secret, "
    "openpanel-sdk-name, openpanel-sdk-version, spool-sent-at"
)
# Response headers a page's script may read beyond the safelisted ones: how long a 429 / 503 asks it to wait.
EXPOSED_HEADERS = "Retry-After"
PREFLIGHT_BODY = b'{"status":"ok"}'


def _cors(response, origin: str, methods: str) -> None:
    response["Access-Control-Allow-Origin"] = origin or "*"
    response["Access-Control-Allow-Methods"] = methods
    response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response["Access-Control-Max-Age"] = "604800"
    response["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    response["Vary"] = "Origin"


def _as_json(response, request_id: str):
    """Django's own 404 / 500 pages are HTML; the /track routes answer JSON, always (contract §1)."""
    if response.get("Content-Type", "").startswith("application/json"):
        return response
    if response.status_code >= 500:
        code, message = "internal", errors.internal_message(request_id)
    else:
        answer = errors.for_status(response.status_code)
        code, message = answer.code, answer.meaning
    body = orjson.dumps(errors.error_body(code, message))
    return HttpResponse(body, status=response.status_code, content_type="application/json")


INGEST_VIEWS = (TrackView, BatchView, DeviceIdView)
# The middleware after this one that an ingest view still passes through: the answer keeps the headers
# every other route has. Each other entry of settings.MIDDLEWARE after this one is in SKIPPED, with why
# (tests/integration/test_ingest_routes.py holds the two lists to the settings).
INGEST_MIDDLEWARE = (SecurityMiddleware, XFrameOptionsMiddleware)
SKIPPED = {
    "whitenoise.middleware.WhiteNoiseMiddleware": "static files; no ingest path is one",
    "django.contrib.sessions.middleware.SessionMiddleware": "ingest views read no session",
    "django.middleware.common.CommonMiddleware": "its host check and Content-Length are done here",
    "django.middleware.csrf.CsrfViewMiddleware": "DRF's views are exempt; credentials are headers",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "DRF's authentication sets request.auth",
    "django.contrib.messages.middleware.MessageMiddleware": "messages are for admin pages",
    "config.middleware.QueuePagesForSuperusers": "guards django-rq's pages only",
    "axes.middleware.AxesMiddleware": "guards the admin's login only",
}


def _ingest_match(request):
    """The URL match of an ingest view (what Django's handler would resolve), else None."""
    try:
        match = get_resolver(getattr(request, "urlconf", None)).resolve(request.path_info)
    except Resolver404:
        return None
    return match if getattr(match.func, "view_class", None) in INGEST_VIEWS else None


def _ingest_view(request):
    """What Django's handler does between the middleware and an ingest view (the URL is resolved)."""
    request.get_host()  # ALLOWED_HOSTS (DisallowedHost: 400), which CommonMiddleware checks elsewhere
    match = request.resolver_match
    response = match.func(request, *match.args, **match.kwargs)
    if callable(getattr(response, "render", None)):  # DRF's Response renders late, as a TemplateResponse
        response = response.render()
    if not response.streaming and not response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))
    return response


def _short_chain():
    handler = convert_exception_to_response(_ingest_view)
    for middleware in reversed(INGEST_MIDDLEWARE):
        handler = convert_exception_to_response(middleware(handler))
    return handler


class TrackRoutesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        # The rest of the chain runs eight middleware an ingest request does not need (SKIPPED).
        self.to_ingest_view = _short_chain()

    def __call__(self, request):
        path = request.path_info
        if "//" in path:
            # The SDKs send "//track" (or "/api//track") when apiUrl ends in "/": serve "/track".
            path = request.path_info = request.path = _SLASHES.sub("/", path)
        if not _TRACK.match(path):
            return self.get_response(request)
        if not getattr(request, "request_id", ""):  # ingest.observe.middleware, first in line, sets it
            request.request_id = (request.META.get("HTTP_X_REQUEST_ID") or uuid.uuid4().hex)[:64]
        origin = request.META.get("HTTP_ORIGIN", "")
        methods = "GET, OPTIONS" if path.endswith("/device-id") else "POST, OPTIONS"
        if request.method == "OPTIONS":
            response = HttpResponse(PREFLIGHT_BODY, content_type="application/json")
        elif (match := _ingest_match(request)) is not None:
            request.resolver_match = match
            response = _as_json(self.to_ingest_view(request), request.request_id)
        else:
            response = _as_json(self.get_response(request), request.request_id)
        _cors(response, origin, methods)
        response["X-Request-ID"] = request.request_id
        return response
