"""Fixtures for the client's own tests: no Spool server, but a real HTTP server in a thread that
answers as a test tells it (202, 413, 429, 503, 401, a cut connection), and a clock the test moves."""
from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import pytest
from spool_client import SpoolClient

CLIENT_ID = "5b6f4c1e-0f7a-4a53-9f4e-2c1d8e7a9b10"
SECRET = "sec_test_secret"
START = 1_764_000_000.0  # 2025-11-24T16:00:00Z


@dataclass
class Reply:
    status: int = 202
    body: object | None = None  # None: every row accepted
    headers: dict = field(default_factory=dict)
    # "cut": headers and half the body, then close; "drop": close without answering; "hang": answer late
    action: str = ""


@dataclass
class Received:
    path: str
    headers: object  # case-insensitive, as HTTP headers are
    lines: list  # the NDJSON envelopes, parsed

    @property
    def insert_ids(self) -> list:
        return [line["payload"]["properties"]["__insertId"] for line in self.lines if line["type"] == "track"]


class AnsweringServer:
    """Records every request; answers with `self.answer(received) -> Reply` (202 by default)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answer: Callable[[Received], Reply] = lambda received: Reply()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                received = Received(self.path, self.headers, [json.loads(line) for line in raw.splitlines() if line])
                with outer.lock:
                    outer.requests.append(received)
                reply = outer.answer(received)
                if reply.action == "hang":
                    time.sleep(2)
                if reply.action == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                body = reply.body if reply.body is not None else {"accepted": len(received.lines), "rejected": []}
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if reply.action == "cut":
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def lines(self) -> list:
        return [line for received in self.requests for line in received.lines]

    def insert_ids(self) -> list:
        return [insert_id for received in self.requests for insert_id in received.insert_ids]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Clock:
    """The device clock, moved by the test (seconds since the epoch)."""

    def __init__(self, now: float = START):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def server():
    answering = AnsweringServer()
    yield answering
    answering.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def buffer_path(tmp_path):
    return str(tmp_path / "buffer.db")


@pytest.fixture
def make_client(server, clock, buffer_path):
    made = []

    def make(**options) -> SpoolClient:
        options.setdefault("path", buffer_path)
        options.setdefault("clock", clock)
        client = SpoolClient(options.pop("api_url", server.url), CLIENT_ID, options.pop("client_secret", SECRET), **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client):
    return make_client()
