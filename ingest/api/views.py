"""HTTP adapters of the ingestion API: parse the body, call one pipeline function, format the answer.
Authentication is DRF's (ingest/api/authentication.py: `request.auth` is the project); every error
answer comes from the one table in ingest/api/errors.py."""
import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from django.conf import settings
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ingest.api import health, openapi
from ingest.api.authentication import OLD_SECRET_HEADER, Caller, ProjectAuthentication
from ingest.api.errors import InvalidEnvelope, InvalidSentAt, ServicesDown
from ingest.api.wire import JsonBodyParser, NdjsonParser, PayloadTooLarge
from ingest.enrich import time as event_time
from ingest.pipeline import accept, admission
from ingest.pipeline.decode import InvalidJSON, InvalidLine, NdjsonItems
from ingest.pipeline.request import read_request


def _iso(unix_seconds: float) -> str:
    return datetime.fromtimestamp(int(unix_seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _batch_items(envelope) -> list:
    """The list of a batch envelope, or a 400 for the whole request (contract §4)."""
    if not isinstance(envelope, list):
        raise InvalidEnvelope("the batch must hold a list of events")
    if not 1 <= len(envelope) <= settings.MAX_BATCH_EVENTS:
        raise InvalidEnvelope(f"a batch holds 1 to {settings.MAX_BATCH_EVENTS} events, this one has {len(envelope)}")
    return envelope


def _clock_skew(request, envelope, received_ms: int) -> int:
    """The batch's clock-skew correction, read once per request (contract §5.1): from the
    envelope's `sentAt`, else from the `spool-sent-at` header (how an NDJSON body says it)."""
    sent_at, source = (envelope.get("sentAt"), "sentAt") if isinstance(envelope, dict) else (None, "")
    if sent_at is None:
        sent_at, source = request.META.get("HTTP_SPOOL_SENT_AT"), "spool-sent-at"
    try:
        return event_time.clock_skew(sent_at, received_ms)
    except event_time.InvalidTimestamp:
        raise InvalidSentAt(f"{source}: invalid time; send ISO-8601 or epoch milliseconds") from None


def _batch_answer(result: accept.BatchResult, skew_ms: int) -> Response:
    if result.bot:
        return Response({"bot": {"name": result.bot}}, status=status.HTTP_202_ACCEPTED)
    body = {"accepted": result.accepted, "rejected": [rejection.as_dict() for rejection in result.rejected]}
    if skew_ms:
        body["clockSkewMs"] = skew_ms
    return Response(body, status=status.HTTP_202_ACCEPTED)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic GC while a request is handled. A 2000-event batch allocates ~100k objects that all
    live until its answer: each young collection walked them in vain, and promoting them set off
    full collections (docs/performance.md, issue 13). The few cycles a request leaves (DRF's request,
    view and response) are collected by the next collection after it, as before."""
    if not gc.isenabled():  # paused already (nested), or turned off by the operator
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class IngestView(APIView):
    authentication_classes = [ProjectAuthentication]
    body_limit = settings.MAX_BATCH_BODY_BYTES
    credentials_in_body = False
    raw_body = b""  # kept by the parser only while it could be a single event (ingest/api/wire.py)
    body_size = 0  # bytes of the body read (decompressed), also when reading it failed
    body_blank = True
    received_ms = 0
    charged = False  # the body's cost went through admission (admitted); else `dispatch` charges it

    def initial(self, request, *args, **kwargs):
        self.received_ms = int(time.time() * 1000)  # received_at: when the request reached us
        super().initial(request, *args, **kwargs)  # authentication (DRF): the body is not read yet
        if request.method == "POST":
            admission.refuse_from_headers(request.auth)  # 429 / 503 before the body is read (r3)

    def dispatch(self, request, *args, **kwargs):
        try:
            with _collector_paused():
                return super().dispatch(request, *args, **kwargs)
        finally:
            # DRF's Request, this view and the Response refer to each other, so whatever they hold
            # waits for the cyclic GC. Let the body and its parse (up to 10 MiB, and the objects
            # made from it) go now, with the request.
            self.raw_body = b""
            if isinstance(getattr(self, "request", None), Request):
                self.request._full_data = self.request._data = None  # type: ignore[attr-defined]  # DRF's caches
                self._charge_unadmitted()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        caller = getattr(request, "_user", None)
        if isinstance(caller, Caller) and caller.old_secret_until:
            # The client secret it sent was rotated: it is accepted until then (contract §9 r3).
            response[OLD_SECRET_HEADER] = _iso(caller.old_secret_until)
        return response

    def _charge_unadmitted(self) -> None:
        """A body read but not admitted (refused, not JSON, too large, a gzip bomb) is paid for by its
        project all the same (contract §11 r3)."""
        project = getattr(self.request, "_auth", None)
        if self.body_size and not self.charged and project is not None:
            admission.charge(project, self.body_size)

    def body(self, request):
        """The parsed body; an empty one is not JSON (DRF would hand us `{}`)."""
        data = request.data
        if self.body_blank:
            raise InvalidJSON("the body is empty; expected JSON")
        return data

    def info(self, request):
        """Who sent this request (read once; every pipeline call takes it)."""
        return read_request(
            request.META, self.received_ms, getattr(request, "request_id", ""), request.user.with_secret
        )

    def ingest_batch(self, request, envelope, items) -> Response:
        info, items = self.info(request), _batch_items(items)
        info.clock_skew_ms = _clock_skew(request, envelope, info.received_ms)
        result = accept.ingest_batch(request.auth, items, info, body_bytes=self.body_size)
        self.charged = True
        return _batch_answer(result, info.clock_skew_ms)


class TrackView(IngestView):
    """`POST /track`: one event, or `{"type": "batch", "payload": [...]}`."""

    parser_classes = [JsonBodyParser]
    credentials_in_body = True  # the SDKs may send clientId / clientSecret in the body

    @openapi.track_schema
    def post(self, request):
        project = request.auth
        data = self.body(request)
        if not isinstance(data, (dict, InvalidLine)):  # InvalidLine: an event too deep to read, a bad row (400)
            raise InvalidJSON("the body must be a JSON object")
        if isinstance(data, dict) and data.get("type") == "batch":
            return self.ingest_batch(request, data, data.get("payload"))
        if self.body_size > settings.MAX_EVENT_BODY_BYTES:
            raise PayloadTooLarge(f"a single event body is limited to {settings.MAX_EVENT_BODY_BYTES} bytes")
        info = self.info(request)
        digest = accept.duplicate_digest(self.raw_body, info, str(project.client_id)) if info.origin else ""
        result = accept.ingest_single(project, data, info, digest, body_bytes=self.body_size)
        self.charged = True
        if result.bot:
            return Response({"bot": {"name": result.bot}}, status=status.HTTP_202_ACCEPTED)
        body: dict[str, str | bool] = {"deviceId": result.device_id, "sessionId": result.session_id}
        if result.duplicate:
            body["duplicate"] = True
        return Response(body)


class BatchView(IngestView):
    """`POST /track/batch`: `{"events": [...]}` as JSON, or one envelope per line as NDJSON."""

    parser_classes = [JsonBodyParser, NdjsonParser]

    @openapi.batch_schema
    def post(self, request):
        data = self.body(request)
        if isinstance(data, NdjsonItems):
            return self.ingest_batch(request, None, data)
        if isinstance(data, dict):
            return self.ingest_batch(request, data, data.get("events"))
        raise InvalidEnvelope("the body must be a JSON object with an 'events' list")


class DeviceIdView(IngestView):
    """`GET /track/device-id`: the ids the server would give this caller now."""

    @openapi.device_id_schema
    def get(self, request):
        device_id, session_id = accept.current_ids(request.auth, self.info(request))
        return Response({"deviceId": device_id, "sessionId": session_id})


def _checked(names: tuple[str, ...]) -> Response:
    checks = health.check_services(names)
    failing = [name for name, state in checks.items() if state != "ok"]
    if failing:
        raise ServicesDown(f"not answering: {', '.join(failing)}", checks)
    return Response({"status": "ok", "checks": checks})


class HealthView(APIView):
    """`GET /healthz`, for people: 200 when the database, Redis and ClickHouse answer; 503 naming those that do not."""

    @openapi.health_schema
    def get(self, request):
        return _checked(tuple(health.CHECKS))


class ReadyView(APIView):
    """`GET /readyz`, for load balancers: 200 when what accepting events needs (database, Redis) answers."""

    @openapi.ready_schema
    def get(self, request):
        return _checked(health.READINESS)


class LiveView(APIView):
    """`GET /livez`, for orchestrators: the process answers. It calls nothing outside the process."""

    @openapi.live_schema
    def get(self, request):
        return Response({"status": "ok"})
