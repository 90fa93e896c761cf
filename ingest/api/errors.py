"""Every error answer of the API, decided in one table: exception → (status, code, Retry-After).

Three readers: the DRF exception handler below (every view), the middleware (for what Django answers
before a view runs: an unknown path, a disallowed Host, a crash) and the OpenAPI description.
The body is always `{"error": code, "message": text}` (contract §1, §10).
"""
import logging
from dataclasses import dataclass

import orjson
from redis.exceptions import RedisError
from rest_framework import exceptions as drf
from rest_framework.response import Response

from ingest.api.wire import InvalidEncoding, PayloadTooLarge, UnsupportedEncoding
from ingest.pipeline.accept import ServiceUnavailable, UnknownProfile
from ingest.pipeline.admission import Busy, Overloaded, QuotaExceeded
from ingest.pipeline.decode import InvalidJSON
from ingest.pipeline.serializers import ItemError
from projects.auth import Unauthorized

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class InvalidEnvelope(Exception):
    """A batch whose envelope is wrong: not an object, no list, 0 items or too many (contract §4)."""


class InvalidSentAt(Exception):
    """A batch's `sentAt` (or `spool-sent-at` header) that is not a time (contract §5.1)."""


class ServicesDown(Exception):
    """`GET /healthz`: an outside system does not answer; `checks` says which."""

    def __init__(self, message: str, checks: dict[str, str]):
        super().__init__(message)
        self.body = {"status": "unavailable", "checks": checks}


@dataclass(frozen=True, slots=True)
class ErrorAnswer:
    status: int
    code: str
    meaning: str  # for people: the OpenAPI description
    retry_after: int = 0
    message: str = ""  # the message, when it is not the exception's own text
    documented: bool = True  # listed among the ingestion endpoints' answers in the OpenAPI document


ANSWERS: dict[type[BaseException], ErrorAnswer] = {
    InvalidJSON: ErrorAnswer(400, "invalid_json", "the body is not JSON, or not a JSON object"),
    InvalidEnvelope: ErrorAnswer(
        400, "invalid_batch", "the batch envelope is wrong: not an object, no list of events, or 0 or too many"
    ),
    InvalidSentAt: ErrorAnswer(
        400, "invalid_sent_at", "the batch's `sentAt` or `spool-sent-at` header is not an ISO-8601 time or epoch ms"
    ),
    InvalidEncoding: ErrorAnswer(
        400, "invalid_encoding", "the gzip body is corrupt, truncated, or has bytes after its last member"
    ),
    ItemError: ErrorAnswer(400, "validation", "a single event that is not valid; the message names the field"),
    Unauthorized: ErrorAnswer(
        401, "unauthorized", "missing or unknown client id, wrong secret, or an Origin the project does not allow"
    ),
    UnknownProfile: ErrorAnswer(404, "unknown_profile", "increment / decrement of a profile never identified"),
    PayloadTooLarge: ErrorAnswer(
        413, "payload_too_large", "the body (after gzip) is over the limit: 1 MiB for one event, 10 MiB for a batch"
    ),
    UnsupportedEncoding: ErrorAnswer(415, "unsupported_media_type", "a content encoding other than gzip"),
    QuotaExceeded: ErrorAnswer(
        429, "quota", "the project is over its event quota: nothing was accepted; send it again after `Retry-After` s"
    ),
    Busy: ErrorAnswer(
        429, "busy", "the project already has as many batches in progress as it may: send this one again shortly"
    ),
    Overloaded: ErrorAnswer(
        503, "overloaded", "Redis is over its high-water mark: nothing was accepted; retry after `Retry-After` s"
    ),
    drf.UnsupportedMediaType: ErrorAnswer(415, "unsupported_media_type", "a content type the endpoint does not read"),
    ServiceUnavailable: ErrorAnswer(
        503, "unavailable", "the queue (Redis) is unavailable: nothing was accepted; retry after `Retry-After` seconds",
        retry_after=RETRY_AFTER_SECONDS, message="the event queue is unavailable; nothing was accepted, retry later",
    ),  # fmt: skip
    ServicesDown: ErrorAnswer(503, "unavailable", "a system the service needs does not answer", documented=False),
    # Redis failing anywhere else on the way (admission's checks): the same answer as a refused enqueue.
    RedisError: ErrorAnswer(
        503, "unavailable", "the queue (Redis) is unavailable", retry_after=RETRY_AFTER_SECONDS,
        message="the event queue is unavailable; nothing was accepted, retry later", documented=False,
    ),
    # DRF's own, for what it decides itself.
    drf.ParseError: ErrorAnswer(400, "invalid_json", "the body is not JSON", documented=False),
    drf.NotAuthenticated: ErrorAnswer(401, "unauthorized", "no credentials", documented=False),
    drf.AuthenticationFailed: ErrorAnswer(401, "unauthorized", "wrong credentials", documented=False),
    drf.PermissionDenied: ErrorAnswer(403, "forbidden", "not allowed", documented=False),
    drf.NotFound: ErrorAnswer(404, "not_found", "not found", documented=False),
    drf.MethodNotAllowed: ErrorAnswer(405, "method_not_allowed", "method not allowed", documented=False),
    drf.NotAcceptable: ErrorAnswer(406, "not_acceptable", "no acceptable answer format", documented=False),
    drf.Throttled: ErrorAnswer(429, "throttled", "too many requests", documented=False),
}
# What Django answers before any view runs (the middleware turns its HTML pages into these).
BY_STATUS: dict[int, ErrorAnswer] = {
    400: ErrorAnswer(400, "bad_request", "bad request (is the Host header one of DJANGO_ALLOWED_HOSTS?)"),
    403: ErrorAnswer(403, "forbidden", "forbidden"),
    404: ErrorAnswer(404, "not_found", "not found"),
    405: ErrorAnswer(405, "method_not_allowed", "method not allowed"),
    500: ErrorAnswer(500, "internal", "unexpected server error"),
}


def answer_for(exc: BaseException) -> ErrorAnswer | None:
    for kind in type(exc).__mro__:
        found = ANSWERS.get(kind)
        if found is not None:
            return found
    if isinstance(exc, drf.APIException):
        return BY_STATUS.get(exc.status_code, ErrorAnswer(exc.status_code, "error", "error"))
    return None


def error_body(code: str, message: str) -> dict:
    return {"error": code, "message": message}


def internal_message(request_id: str) -> str:
    return f"unexpected server error; request id {request_id}"


def _message(exc: BaseException, context: dict) -> str:
    if isinstance(exc, drf.UnsupportedMediaType):
        view = context.get("view")
        parsers = getattr(view, "parser_classes", ())
        ndjson = " or application/x-ndjson" if any(p.media_type == "application/x-ndjson" for p in parsers) else ""
        return f"unsupported Content-Type; send application/json{ndjson}"
    if isinstance(exc, drf.APIException):
        detail = exc.detail
        return orjson.dumps(detail).decode() if isinstance(detail, (list, dict)) else str(detail)
    return str(exc)


def exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's EXCEPTION_HANDLER: every error, expected or not, leaves as {"error", "message"} JSON."""
    answer = answer_for(exc)
    if answer is None:
        request = context.get("request")
        request_id = getattr(getattr(request, "_request", request), "request_id", "")
        logger.exception("unexpected error (request %s)", request_id)
        return Response(error_body("internal", internal_message(request_id)), status=500)
    body = error_body(answer.code, answer.message or _message(exc, context))
    body.update(getattr(exc, "body", None) or {})
    headers = {}
    wait = answer.retry_after or getattr(exc, "wait", None)
    if wait:
        headers["Retry-After"] = str(int(wait))
    return Response(body, status=answer.status, headers=headers)


def for_status(status: int) -> ErrorAnswer:
    """The answer for a response Django made itself (no exception reached the table)."""
    return BY_STATUS.get(status, ErrorAnswer(status, "error", f"HTTP {status}"))


def documented(status: int, *codes: str) -> str:
    """The OpenAPI description of an error status: its codes (all, or those named) and what each means."""
    meanings: dict[str, list[str]] = {}
    for answer in ANSWERS.values():
        if answer.status == status and answer.documented and (not codes or answer.code in codes):
            meanings.setdefault(answer.code, []).append(answer.meaning)
    return "; ".join(f"`{code}`: {', or '.join(texts)}" for code, texts in meanings.items()) + "."
