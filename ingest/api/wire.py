"""Reading request bodies (gzip, size limits) into JSON / NDJSON with DRF's parsers, and writing
answers with orjson (contract §1). What the JSON itself may hold is ingest/pipeline/decode.py's."""
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import orjson
from django.conf import settings
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer

from ingest.pipeline.decode import ORJSON_MAX_BYTES, InvalidJSON, loads_body, loads_body_text, parse_ndjson, text_of


class BodyError(Exception):
    """A body that could not be read; `read` is how many bytes were read (decompressed) before: the
    project pays for them all the same (contract §11 r3)."""

    def __init__(self, message: str, read: int = 0):
        super().__init__(message)
        self.read = read


class PayloadTooLarge(BodyError):
    """The body, decompressed, is over the endpoint's limit."""


class InvalidEncoding(BodyError):
    """The gzip body is corrupt or truncated."""


class UnsupportedEncoding(Exception):
    """A Content-Encoding other than gzip."""


def _too_large(limit: int, read: int = 0) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body larger than {limit} bytes", read)


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
        raise _too_large(limit, len(raw))
    encoding = (meta.get("HTTP_CONTENT_ENCODING") or "").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "x-gzip"):
        raise UnsupportedEncoding(f"unsupported Content-Encoding '{encoding[:40]}'")
    return _gunzip(raw, limit)


def _gunzip(raw: bytes, limit: int) -> bytes:
    """Every gzip member of `raw` (`cat a.gz b.gz` is one valid body), decompressed, at most `limit`
    bytes; anything after the last member that is not a member itself is an error (contract §1 r2:
    never a 2xx that drops part of a body)."""
    out = bytearray()
    pending = raw
    try:
        while True:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            while not inflater.eof:
                before = len(pending)
                piece = inflater.decompress(pending, limit + 1 - len(out))
                pending = inflater.unconsumed_tail
                if not piece and len(pending) == before:  # no input left, or none it can use
                    truncated = "the gzip body is truncated, or ends in bytes that are not gzip"
                    raise InvalidEncoding(truncated, len(out))
                out += piece
                if len(out) > limit:
                    raise _too_large(limit, len(out))
            pending = inflater.unused_data
            if not pending:
                return bytes(out)
    except zlib.error:
        invalid = "the gzip body is not valid gzip (or has bytes after its last member)"
        raise InvalidEncoding(invalid, len(out)) from None


def _blank(raw: bytes) -> bool:
    return not raw or raw.isspace()  # as `not raw.strip()`, without copying a big body


class _BodyParser(BaseParser):
    """Reads the body within the view's `body_limit` (gunzipping it) and tells the view its size and
    whether it is blank. The view keeps the raw bytes only while they could be a single event (the
    duplicate guard hashes them): a batch's are dropped once parsed (issue 13, B4)."""

    def read(self, stream, parser_context) -> bytes:
        request, view = parser_context["request"], parser_context.get("view")
        try:
            raw = read_body(stream, request.META, getattr(view, "body_limit", 1024 * 1024))
        except BodyError as error:
            if view is not None:
                view.body_size = error.read
            raise
        if view is not None:
            view.body_size, view.body_blank = len(raw), _blank(raw)
            view.raw_body = raw if len(raw) <= settings.MAX_EVENT_BODY_BYTES else b""
        return raw


@contextmanager
def _alone() -> Iterator[None]:
    yield


# The standard library's parser holds the GIL for a whole body: 0.6-0.8 s for 10 MiB, during which no
# other thread of the process runs, not even the server's event loop. The web server
# (config/web_worker.py) puts here a section in which its process is alone with such a parse: one
# process at a time, with no other request in progress and none accepted (issue 17, finding 9).
# Without it (runserver, tests in one process), the parse simply runs.
hold_the_process: Callable[[], AbstractContextManager[None]] = _alone


class JsonBodyParser(_BodyParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = self.read(stream, parser_context)
        if _blank(raw):
            raise InvalidJSON("the body is empty; expected a JSON object")
        if len(raw) <= ORJSON_MAX_BYTES:
            return loads_body(raw)
        text = text_of(raw)
        del raw  # the parse needs the text alone: a 10 MiB body is not held twice while it runs
        with hold_the_process():
            return loads_body_text(text)


class NdjsonParser(_BodyParser):
    media_type = "application/x-ndjson"

    def parse(self, stream, media_type=None, parser_context=None):
        return parse_ndjson(self.read(stream, parser_context))


class OrjsonRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
