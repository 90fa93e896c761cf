"""HTTP adapters of the ingestion API: authenticate, parse, call one service, format the answer."""
import time

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ingest import health, openapi, services
from ingest.context import read_request
from ingest.http import InvalidJSON, JsonBodyParser, NdjsonItems, NdjsonParser, PayloadTooLarge, error_response
from ingest.serializers import ItemError
from projects.auth import Unauthorized, authenticate

RETRY_AFTER_SECONDS = 5


def _credentials(request, body: dict | None = None) -> tuple[str | None, str | None]:
    meta = request.META
    client_id = meta.get("HTTP_OPENPANEL_CLIENT_ID")
    secret = meta.get("HTTP_OPENPANEL_CLIENT_SECRET")
    if not client_id and isinstance(body, dict):
        client_id, secret = body.get("clientId"), secret or body.get("clientSecret")
    return client_id, secret


def _project(request, credentials_in_body: bool = False):
    """The caller's project (spec §2), before anything looks at the body; raises Unauthorized."""
    client_id, secret = _credentials(request)
    if not client_id and credentials_in_body:
        # The SDKs may carry the credentials in the body of a single event.
        try:
            client_id, secret = _credentials(request, request.data)
        except (ParseError, PayloadTooLarge, UnsupportedMediaType):
            pass
    return authenticate(client_id, secret, request.META.get("HTTP_ORIGIN"))


def _unauthorized(error: Unauthorized) -> Response:
    return error_response("unauthorized", str(error), status.HTTP_401_UNAUTHORIZED)


def _unavailable() -> Response:
    return error_response(
        "unavailable",
        "the event queue is unavailable; nothing was accepted, retry later",
        status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _batch_items(envelope) -> list:
    """The list of a batch envelope, or a 400 for the whole request (spec §4)."""
    if not isinstance(envelope, list):
        raise ParseError("the batch must hold a list of events")
    if not 1 <= len(envelope) <= settings.MAX_BATCH_EVENTS:
        raise ParseError(f"a batch holds 1 to {settings.MAX_BATCH_EVENTS} events, this one has {len(envelope)}")
    return envelope


def _batch_response(project, items, request, received_ms) -> Response:
    result = services.ingest_batch(project, items, read_request(request.META, received_ms))
    if result.bot:
        return Response({"bot": {"name": result.bot}}, status=status.HTTP_202_ACCEPTED)
    body = {"accepted": result.accepted, "rejected": [rejection.as_dict() for rejection in result.rejected]}
    return Response(body, status=status.HTTP_202_ACCEPTED)


class IngestView(APIView):
    body_limit = settings.MAX_BATCH_BODY_BYTES
    raw_body = b""

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            # DRF's Request, this view and the Response refer to each other, so whatever they hold
            # waits for the cyclic GC. Let the body and its parse (up to 10 MiB, and the objects
            # made from it) go now, with the request.
            self.raw_body = b""
            if isinstance(getattr(self, "request", None), Request):
                self.request._full_data = self.request._data = None

    def handle_exception(self, exc):
        if isinstance(exc, Unauthorized):
            return _unauthorized(exc)
        if isinstance(exc, services.ServiceUnavailable):
            return _unavailable()
        if isinstance(exc, ParseError) and not isinstance(exc, InvalidJSON):
            exc = InvalidJSON(exc.detail)
        return super().handle_exception(exc)

    def body(self, request):
        """The parsed body; an empty one is not JSON (DRF would hand us `{}`)."""
        data = request.data
        if not self.raw_body.strip():
            raise InvalidJSON("the body is empty; expected JSON")
        return data


class TrackView(IngestView):
    """`POST /track`: one event, or `{"type": "batch", "payload": [...]}`."""

    parser_classes = [JsonBodyParser]

    @openapi.track_schema
    def post(self, request):
        received_ms = int(time.time() * 1000)
        project = _project(request, credentials_in_body=True)
        data = self.body(request)
        if not isinstance(data, dict):
            raise InvalidJSON("the body must be a JSON object")
        if data.get("type") == "batch":
            return _batch_response(project, _batch_items(data.get("payload")), request, received_ms)
        if len(self.raw_body) > settings.MAX_EVENT_BODY_BYTES:
            raise PayloadTooLarge(f"a single event body is limited to {settings.MAX_EVENT_BODY_BYTES} bytes")
        info = read_request(request.META, received_ms)
        digest = services.duplicate_digest(self.raw_body, info, str(project.client_id)) if info.origin else ""
        try:
            result = services.ingest_single(project, data, info, digest)
        except ItemError as error:
            return error_response("validation", str(error), status.HTTP_400_BAD_REQUEST)
        except services.UnknownProfile as error:
            return error_response("unknown_profile", f"payload.profileId: unknown profile '{error}'", 404)
        if result.bot:
            return Response({"bot": {"name": result.bot}}, status=status.HTTP_202_ACCEPTED)
        body = {"deviceId": result.device_id, "sessionId": result.session_id}
        if result.duplicate:
            body["duplicate"] = True
        return Response(body)


class BatchView(IngestView):
    """`POST /track/batch`: `{"events": [...]}` as JSON, or one envelope per line as NDJSON."""

    parser_classes = [JsonBodyParser, NdjsonParser]

    @openapi.batch_schema
    def post(self, request):
        received_ms = int(time.time() * 1000)
        project = _project(request)
        data = self.body(request)
        if isinstance(data, NdjsonItems):
            items = _batch_items(data)
        elif isinstance(data, dict):
            items = _batch_items(data.get("events"))
        else:
            raise InvalidJSON("the body must be a JSON object with an 'events' list")
        return _batch_response(project, items, request, received_ms)


class DeviceIdView(IngestView):
    """`GET /track/device-id`: the ids the server would give this caller now."""

    @openapi.device_id_schema
    def get(self, request):
        device_id, session_id = services.current_ids(_project(request), read_request(request.META))
        return Response({"deviceId": device_id, "sessionId": session_id})


class HealthView(APIView):
    """`GET /healthz`: 200 when the database, Redis and ClickHouse answer; 503 naming those that do not."""

    @openapi.health_schema
    def get(self, request):
        checks = health.check_services()
        failing = [name for name, state in checks.items() if state != "ok"]
        if not failing:
            return Response({"status": "ok", "checks": checks})
        body = {
            "error": "unavailable",
            "message": f"not answering: {', '.join(failing)}",
            "status": "unavailable",
            "checks": checks,
        }
        return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE)
