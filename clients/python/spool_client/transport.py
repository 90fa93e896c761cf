"""One HTTP request: a gzip NDJSON batch to `POST /track/batch`, with urllib. What the answer
means is answers.py's and client.py's; here a network failure is only told apart from an answer.

Redirects are not followed: urllib's redirect handler copies the request's headers, the client
secret among them, into a request to wherever `Location` points, another host included (and turns
the POST into a GET without the batch, so following one never delivers anything). A 3xx is an
answer like any other; client.py reports it and keeps the rows."""
from __future__ import annotations

import gzip
import http.client
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

# The biggest answer read: a full batch's `rejected` list is far smaller (2000 rows of ~200 bytes).
MAX_ANSWER_BYTES = 16 * 1024 * 1024


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Failure:
    """No complete answer: refused, timed out, cut halfway. The server may have taken the batch."""

    error: str


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx: post() returns it as an Answer


# urlopen's own handlers (proxies from the environment, HTTPS), with redirects refused.
_OPENER = urllib.request.build_opener(_NoRedirects)


def urlopen(request: urllib.request.Request, timeout: float):
    """urllib.request.urlopen, without following redirects (the crash tests stop a flush here)."""
    return _OPENER.open(request, timeout=timeout)


def ndjson(bodies: list[str]) -> bytes:
    return ("\n".join(bodies) + "\n").encode("utf-8")


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Answer | Failure:
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked when the client is made)
        url, data=gzip.compress(body, compresslevel=6), method="POST", headers=dict(headers)
    )
    request.add_header("Content-Type", "application/x-ndjson")
    request.add_header("Content-Encoding", "gzip")
    request.add_header("Accept", "application/json")
    try:
        with urlopen(request, timeout) as response:
            body = response.read(MAX_ANSWER_BYTES)
            if len(body) < int(response.headers.get("Content-Length") or 0):
                return Failure(f"the answer was cut short ({len(body)} of {response.headers['Content-Length']} bytes)")
            return Answer(response.status, dict(response.headers.items()), body)
    except urllib.error.HTTPError as error:
        try:
            text = error.read(MAX_ANSWER_BYTES)
        except (OSError, http.client.HTTPException):
            text = b""
        return Answer(error.code, dict(error.headers.items()), text)
    except (OSError, http.client.HTTPException, socket.timeout, ValueError) as error:
        # URLError, refused, reset, timeout, IncompleteRead (a response cut halfway), BadStatusLine.
        return Failure(f"{type(error).__name__}: {error}")
