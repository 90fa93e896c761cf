"""How the web server (config/web_worker.py) reads a request as its bytes arrive, and hands it on:
whether it is whole yet, what the server must know of its headers, its body served from the
buffer, and the answers the server makes itself. Pure but for the socket reads."""
import socket
import time
from collections.abc import Iterator
from typing import Any

import orjson

from config import env

HEADER_BYTES = 64 * 1024  # request line and headers (gunicorn itself takes 4 KiB lines, 100 fields)
READ_BYTES = 256 * 1024  # one recv() of the event loop
COMPLETE, MORE, TOO_LARGE, NOT_READ = "complete", "more", "too large", "not read"


def answer(status: str, code: str, message: str, origin: bytes = b"", retry_after: int = 0) -> bytes:
    """A JSON answer made by the server itself (contract §1: errors are JSON, with CORS for browsers)."""
    body = orjson.dumps({"error": code, "message": message})
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json", f"Content-Length: {len(body)}",
            "Connection: close", "Vary: Origin"]  # fmt: skip
    head.append("Access-Control-Allow-Origin: " + (origin.decode("latin-1") if origin else "*"))
    if retry_after:  # readable by a page's script too (ingest/api/middleware.py exposes it likewise)
        head += [f"Retry-After: {retry_after}", "Access-Control-Expose-Headers: Retry-After"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class Incoming:
    """One request as its bytes arrive: whether it is whole (headers, then a body of Content-Length
    bytes or chunks up to the last one) and what the server must know of its headers."""

    def __init__(self, data: bytes, now: float):
        self.data = bytearray(data)
        self.deadline = now + env.REQUEST_HEADER_SECONDS
        self.head_end = -1  # offset of the body
        self.length = 0  # the body's declared length
        self.chunked = False
        self.scanned = 0  # chunked: where the next chunk's size line starts
        self.client_id = self.origin = b""
        self.expect_continue = False

    def feed(self, piece: bytes, now: float) -> str:
        self.data += piece
        if self.head_end < 0:
            end = self.data.find(b"\r\n\r\n", max(0, len(self.data) - len(piece) - 3))
            if end < 0:
                return TOO_LARGE if len(self.data) > HEADER_BYTES else MORE
            self.head_end = end + 4
            self.deadline = now + env.REQUEST_BODY_SECONDS
            if not self._read_headers(bytes(self.data[:end])):
                return NOT_READ
        return self._body_state()

    def _read_headers(self, head: bytes) -> bool:
        """False when the server cannot tell where the body ends, or will not read it: gunicorn and
        the API answer such a request themselves (400, 413), and the connection is closed after."""
        lengths = set()
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip()
            if name == b"content-length":
                lengths.add(value)
            elif name == b"transfer-encoding":
                self.chunked = b"chunked" in value.lower()
            elif name == b"openpanel-client-id":
                self.client_id = value[:64]
            elif name == b"origin":
                self.origin = value[:512]
            elif name == b"expect":
                self.expect_continue = value.lower() == b"100-continue"
        if self.chunked:
            self.scanned = self.head_end
            return not lengths
        if len(lengths) > 1 or not all(length.isdigit() for length in lengths):
            return False
        self.length = int(lengths.pop()) if lengths else 0
        return self.length <= env.MAX_BATCH_BODY_BYTES

    def _body_state(self) -> str:
        if not self.chunked:
            return COMPLETE if len(self.data) >= self.head_end + self.length else MORE
        while True:  # chunked: walk the chunks that are whole
            line_end = self.data.find(b"\r\n", self.scanned)
            if line_end < 0:
                return MORE
            size_text = bytes(self.data[self.scanned : line_end]).split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                return NOT_READ
            if size == 0:  # the last chunk, then trailers up to an empty line
                if self.data.find(b"\r\n", line_end + 2) == line_end + 2:
                    return COMPLETE
                return COMPLETE if self.data.find(b"\r\n\r\n", line_end) >= 0 else MORE
            if len(self.data) - self.head_end > env.MAX_BATCH_BODY_BYTES:
                return TOO_LARGE
            chunk_end = line_end + 2 + size + 2
            if len(self.data) < chunk_end:
                return MORE
            self.scanned = chunk_end

    @property
    def key(self) -> bytes:
        """Whose request it is, for the per-project bounds: the client id (the project), as sent."""
        return self.client_id


class BufferedBody:
    """`wsgi.input` of a body the event loop read whole: served from its buffer, which goes with the
    last byte read, instead of through gunicorn's reader (two more copies of a 10 MiB body: B4)."""

    def __init__(self, data: bytearray, start: int, length: int):
        self.data: bytearray | None = data
        self.position, self.end = start, start + length

    def read(self, size: int | None = None) -> bytes:
        if self.data is None:
            return b""
        stop = self.end if size is None or size < 0 else min(self.end, self.position + size)
        with memoryview(self.data) as view:
            piece = bytes(view[self.position : stop])
        self.position = stop
        if self.position >= self.end:
            self.data = None
        return piece

    def readline(self, size: int | None = None) -> bytes:
        if self.data is None:
            return b""
        newline = self.data.find(b"\n", self.position, self.end)
        length = newline + 1 - self.position if newline >= 0 else self.end - self.position
        return self.read(length if size is None or size < 0 else min(size, length))

    def readlines(self, hint: int | None = None) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


class DeadlineSocket:
    """What gunicorn's parser reads through in a thread: every recv() ends by the deadline. A request
    read whole by the event loop never waits here; one it did not read (NOT_READ) at most this long."""

    def __init__(self, sock: socket.socket, seconds: float):
        self.sock, self.deadline = sock, time.monotonic() + seconds

    def recv(self, size: int) -> bytes:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request was not read in time")
        self.sock.settimeout(remaining)
        try:
            return self.sock.recv(size)
        finally:
            self.sock.settimeout(None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


def received(sock: socket.socket) -> bytes | None:
    """What a readable socket holds: None when nothing after all, b"" when the client is gone."""
    try:
        return sock.recv(READ_BYTES)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""
