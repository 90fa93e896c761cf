"""The wire format of the API: body reading (gzip, limits), JSON / NDJSON parsers, the orjson
renderer, and one error shape for everything: {"error": code, "message": text} (spec §1, §10).
"""
import json
import logging
import re
import zlib

import orjson
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response

logger = logging.getLogger("ingest.http")
READ_CHUNK = 64 * 1024


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "request body too large"


class InvalidEncoding(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_encoding"
    default_detail = "the body is not valid gzip"


class InvalidJSON(ParseError):
    default_code = "invalid_json"


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body larger than {limit} bytes")


def read_body(stream, meta: dict, limit: int) -> bytes:
    """The request body, gunzipped when Content-Encoding says so, never more than `limit` bytes.

    The limit holds for the decompressed size and is enforced while decompressing, so a gzip
    bomb costs at most `limit` bytes of memory.
    """
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise _too_large(limit)
    raw = stream.read(limit + 1) if stream is not None else b""
    if len(raw) > limit:
        raise _too_large(limit)
    encoding = (meta.get("HTTP_CONTENT_ENCODING") or "").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "x-gzip"):
        raise UnsupportedMediaType(encoding, detail=f"unsupported Content-Encoding '{encoding[:40]}'")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    try:
        pending = raw
        while pending:
            out += inflater.decompress(pending, limit + 1 - len(out))
            if len(out) > limit:
                raise _too_large(limit)
            pending = inflater.unconsumed_tail
        out += inflater.flush()
    except zlib.error:
        raise InvalidEncoding() from None
    if not inflater.eof:
        raise InvalidEncoding("the gzip body is truncated")
    if len(out) > limit:
        raise _too_large(limit)
    return bytes(out)


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _strip_surrogates(value):
    """Remove lone surrogates (they cannot be stored as UTF-8) from every string in a document."""
    if isinstance(value, str):
        if any("\ud800" <= c <= "\udfff" for c in value):
            return value.encode("utf-8", "ignore").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {_strip_surrogates(k): _strip_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_surrogates(item) for item in value]
    return value


# orjson builds a whole document tree before the Python objects: ~13x the body at its peak (130 MB
# for a 10 MiB batch). Bigger bodies go to the standard library: ~3x the body, and as fast on them.
ORJSON_MAX_BYTES = 1024 * 1024
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def loads(raw: bytes):
    """Parse JSON; invalid UTF-8 and lone surrogates are repaired rather than refused.

    orjson refuses lone surrogates (`"\\ud800"`) and invalid UTF-8. Rather than lose a whole batch
    for one bad string, the lenient reading replaces invalid bytes and drops lone surrogates (spec §3.1).
    NaN and Infinity stay errors: they are not JSON.
    """
    if len(raw) <= ORJSON_MAX_BYTES:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            return _lenient_loads(raw, error)
    return _lenient_loads(raw)


def _lenient_loads(raw: bytes, first_error: Exception | None = None):
    try:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
        value = json.loads(text, parse_constant=_reject_constant)
        # Lone surrogates can only come from \\uD8xx-style escapes (the bytes were UTF-8).
        return _strip_surrogates(value) if _SURROGATE_ESCAPE.search(raw) else value
    except (ValueError, RecursionError) as error:
        raise InvalidJSON(f"invalid JSON: {first_error or error}") from None


class InvalidLine:
    """An NDJSON line that is not JSON: rejected as its own item, the other lines go on."""

    def __init__(self, message: str, raw: bytes = b""):
        self.message = message
        self.raw = raw  # kept for the rejected-row sample


class NdjsonItems(list):
    """The items of an NDJSON body (a JSON array body is not a batch envelope; this is)."""


def parse_ndjson(raw: bytes) -> NdjsonItems:
    items = NdjsonItems()
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(loads(line))
        except InvalidJSON as error:
            items.append(InvalidLine(f"line {number}: {error.detail}", line))
    return items


class _BodyParser(BaseParser):
    """Reads the body within the view's `body_limit` (gunzipping it) and keeps the raw bytes on the
    view (the duplicate guard hashes them; a single event's 1 MiB limit is checked on them)."""

    def parse(self, stream, media_type=None, parser_context=None):
        request, view = parser_context["request"], parser_context.get("view")
        raw = read_body(stream, request.META, getattr(view, "body_limit", 1024 * 1024))
        if view is not None:
            view.raw_body = raw
        return self.decode(raw)

    def decode(self, raw: bytes):
        raise NotImplementedError


class JsonBodyParser(_BodyParser):
    media_type = "application/json"

    def decode(self, raw: bytes):
        if not raw.strip():
            raise InvalidJSON("the body is empty; expected a JSON object")
        return loads(raw)


class NdjsonParser(_BodyParser):
    media_type = "application/x-ndjson"

    def decode(self, raw: bytes):
        return parse_ndjson(raw)


class OrjsonRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)


def error_response(code: str, message: str, status_code: int, headers: dict | None = None) -> Response:
    return Response({"error": code, "message": message}, status=status_code, headers=headers)


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "throttled",
}


def exception_handler(exc, context):
    """Every error, expected or not, leaves as {"error", "message"} JSON."""
    if isinstance(exc, APIException):
        detail = exc.detail
        if isinstance(detail, (list, dict)):
            message = orjson.dumps(detail).decode()
        else:
            message = str(detail)
        code = getattr(detail, "code", None) or exc.default_code
        if isinstance(exc, ParseError):
            code = "invalid_json"
        elif isinstance(exc, UnsupportedMediaType):
            code = "unsupported_media_type"
            if "Content-Encoding" not in message:
                message = f"unsupported Content-Type; send application/json{_ndjson_hint(context)}"
        elif code in ("error", "invalid") or not isinstance(code, str):
            code = _CODES.get(exc.status_code, "error")
        headers = {}
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        return error_response(code, message, exc.status_code, headers)
    request = context.get("request")
    request_id = getattr(getattr(request, "_request", request), "request_id", "")
    logger.exception("unexpected error (request %s)", request_id)
    return error_response(
        "internal", f"unexpected server error; request id {request_id}", status.HTTP_500_INTERNAL_SERVER_ERROR
    )


def _ndjson_hint(context) -> str:
    view = context.get("view")
    accepts_ndjson = view is not None and NdjsonParser in getattr(view, "parser_classes", ())
    return " or application/x-ndjson" if accepts_ndjson else ""
