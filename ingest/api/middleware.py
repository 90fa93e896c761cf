"""Request plumbing for the /track routes: `//track` paths, CORS (contract §1.2), request ids, and JSON
for the answers Django makes before a view runs (from the error table, ingest/api/errors.py)."""
import re
import uuid

import orjson
from django.http import HttpResponse

from ingest.api import errors

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


class TrackRoutesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

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
        else:
            response = _as_json(self.get_response(request), request.request_id)
        _cors(response, origin, methods)
        response["X-Request-ID"] = request.request_id
        return response
