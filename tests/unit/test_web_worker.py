"""The web server's reading of a request as its bytes arrive (config/web_requests.py `Incoming`): when
it is whole, and what it knows of its headers. Pure: bytes in, a state out."""
import pytest

from config import env
from config.web_requests import COMPLETE, HEADER_BYTES, MORE, NOT_READ, TOO_LARGE, BufferedBody, Incoming

HEAD = b"POST /track HTTP/1.1\r\nHost: x\r\nopenpanel-client-id: abc\r\nOrigin: https://a.example\r\n"


def _fed(*pieces: bytes) -> tuple[Incoming, list[str]]:
    incoming = Incoming(b"", 0.0)
    return incoming, [incoming.feed(piece, 1.0) for piece in pieces]


@pytest.mark.parametrize(
    ("pieces", "states"),
    [
        ([HEAD + b"Content-Length: 5\r\n\r\nhello"], [COMPLETE]),
        ([HEAD, b"Content-Length: 5\r", b"\n\r\nhel", b"lo"], [MORE, MORE, MORE, COMPLETE]),  # split anywhere
        ([HEAD + b"\r\n"], [COMPLETE]),  # no body
        ([HEAD + b"Content-Length: 2\r\n\r\nokGET / HTTP/1.1\r\n"], [COMPLETE]),  # a pipelined request after it
        ([HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", b"0\r\n\r\n"], [MORE, COMPLETE]),
        ([HEAD + b"Transfer-Encoding: chunked\r\n\r\n2;x=y\r\nok\r\n0\r\nTrailer: t\r\n\r\n"], [COMPLETE]),
        ([HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"], [NOT_READ]),  # gunicorn answers 400
        ([HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n"], [NOT_READ]),
        ([HEAD + b"Content-Length: -1\r\n\r\n"], [NOT_READ]),
        ([HEAD + b"Content-Length: %d\r\n\r\n" % (env.MAX_BATCH_BODY_BYTES + 1)], [NOT_READ]),  # the API's 413
        ([b"POST / HTTP/1.1\r\nX: " + b"a" * HEADER_BYTES], [TOO_LARGE]),
    ],
    ids=["whole", "in pieces", "no body", "pipelined", "chunked", "chunk extensions and trailers", "bad chunk",
         "two lengths", "negative length", "declared too large", "headers too large"],
)  # fmt: skip
def test_when_a_request_is_whole(pieces, states):
    assert _fed(*pieces)[1] == states


def test_what_the_server_reads_of_the_headers():
    incoming, _ = _fed(HEAD + b"Expect: 100-continue\r\nContent-Length: 1\r\n\r\n")
    assert (incoming.key, incoming.origin, incoming.expect_continue) == (b"abc", b"https://a.example", True)
    assert incoming.deadline == 1.0 + env.REQUEST_BODY_SECONDS  # the body's deadline runs from the headers


def test_a_buffered_body_is_served_from_its_buffer_and_let_go_with_its_last_byte():
    body = BufferedBody(bytearray(b"HEADab\ncd\nefNEXT"), 4, 8)
    assert [body.readline(), body.read(2), body.readline(), body.read(), body.read()] == [
        b"ab\n", b"cd", b"\n", b"ef", b""
    ]
    assert body.data is None
