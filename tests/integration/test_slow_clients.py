"""Contract §11 r3, slow clients: a client that sends its request slowly (a byte a second, or headers
that never end) holds no worker that others need, in the shipped deployment (gunicorn.conf.py)."""
import signal
import socket
import threading
import time

import pytest
import requests

from tests.support.events import track
from tests.support.live import LiveStack
from tests.support.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)
SLOW = 6


def _slow_sockets(stack: LiveStack, project: dict, count: int) -> list[socket.socket]:
    """Half send valid headers and then their body a byte at a time; half send headers that never end."""
    sockets = []
    for number in range(count):
        sock = socket.create_connection(("127.0.0.1", stack.port), timeout=5)
        if number % 2 == 0:
            head = (f"POST /track HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"openpanel-client-id: {project['client_id']}\r\nopenpanel-client-secret: {project['client_secret']}\r\n"
                    "Content-Length: 5000\r\n\r\n{")  # fmt: skip
        else:
            head = "POST /track HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
        sock.sendall(head.encode())
        sockets.append(sock)
    return sockets


class Trickle(threading.Thread):
    """A byte a second on each socket until stopped (a socket the server closed is left alone)."""

    def __init__(self, sockets: list[socket.socket]):
        super().__init__(daemon=True)
        self.sockets, self.stopped = sockets, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            for sock in self.sockets:
                try:
                    sock.send(b"a")
                except OSError:
                    pass


def _start(tmp_path, web_workers: int = 2, **env) -> tuple[LiveStack, dict]:
    stack = LiveStack(tmp_path, **env)
    stack.start(workers=0, web_workers=web_workers)  # 2: the shipped number of web processes
    return stack, stack.create_project("--name", f"slow {tmp_path.name}")


def test_six_slow_connections_leave_every_other_request_answered_within_a_second(tmp_path):
    stack, project = _start(tmp_path, REQUEST_HEADER_SECONDS=60, REQUEST_BODY_SECONDS=60)
    headers = {"openpanel-client-id": project["client_id"], "openpanel-client-secret": project["client_secret"]}
    sockets = _slow_sockets(stack, project, SLOW)
    trickle = Trickle(sockets)
    trickle.start()
    try:
        time.sleep(1.5)  # every slow connection has sent bytes, and holds what it can
        latencies = []
        started = time.monotonic()
        while time.monotonic() - started < 12:  # the slow ones trickle the whole time
            begun = time.perf_counter()
            answer = requests.post(f"{stack.url}/track", json=track("normal"), headers=headers, timeout=30)
            latencies.append(time.perf_counter() - begun)
            assert answer.status_code == 200, answer.text
            time.sleep(0.1)
        assert max(latencies) < 1.0, sorted(latencies)[-5:]
        for sock in sockets:  # still open: held by the server, not cut off (their deadlines are 60 s)
            sock.send(b"a")
    finally:
        trickle.stopped.set()
        for sock in sockets:
            sock.close()
        stack.stop()


def _answer_within(sock: socket.socket, seconds: float) -> bytes:
    """What the server sends until it closes the connection, waiting at most `seconds`."""
    sock.settimeout(seconds)
    received = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            piece = sock.recv(4096)
        except TimeoutError:
            break
        if not piece:
            return received
        received += piece
    raise AssertionError(f"the connection was still open after {seconds} s: {received[:200]!r}")


def test_a_trickling_body_and_endless_headers_are_cut_off_at_their_deadlines(tmp_path):
    stack, project = _start(tmp_path, REQUEST_HEADER_SECONDS=3, REQUEST_BODY_SECONDS=4)
    sockets = _slow_sockets(stack, project, 2)  # a slow body, endless headers
    trickle = Trickle(sockets)
    trickle.start()
    try:
        started = time.monotonic()
        body, headers = (_answer_within(sock, 10) for sock in sockets)
        assert body.startswith(b"HTTP/1.1 408") and b"body did not arrive within 4 s" in body
        assert headers.startswith(b"HTTP/1.1 408") and b"headers did not arrive within 3 s" in headers
        assert time.monotonic() - started < 9  # the later deadline (4 s after the headers) and a sweep
        eventually(lambda: requests.options(f"{stack.url}/track", timeout=2).ok, 5, what="the server answers")
    finally:
        trickle.stopped.set()
        for sock in sockets:
            sock.close()
        stack.stop()


def _headers_of(project: dict) -> dict:
    return {"openpanel-client-id": project["client_id"], "openpanel-client-secret": project["client_secret"]}


def test_a_project_has_a_bounded_number_of_requests_in_flight_answered_busy_from_the_headers(tmp_path):
    stack, project = _start(tmp_path, web_workers=1, PROJECT_REQUESTS_IN_FLIGHT=2)
    other = stack.create_project("--name", f"other {tmp_path.name}")
    held = _slow_sockets(stack, project, 3)  # two of its requests in progress (bodies still coming), and endless headers
    try:
        time.sleep(0.5)
        busy = requests.post(f"{stack.url}/track", json=track("third"), headers=_headers_of(project), timeout=5)
        assert busy.status_code == 429 and busy.headers["Retry-After"] == "1", busy.text
        assert busy.json()["error"] == "busy"
        assert requests.post(f"{stack.url}/track", json=track("other"), headers=_headers_of(other), timeout=5).ok
    finally:
        for sock in held:
            sock.close()
    eventually(lambda: requests.post(f"{stack.url}/track", json=track("after"), headers=_headers_of(project),
                                     timeout=5).status_code == 200, 5, what="the project's places given back")
    stack.stop()


def test_bodies_held_beyond_the_process_buffer_are_refused(tmp_path):
    stack, project = _start(tmp_path, web_workers=1, WEB_BUFFER_BYTES=1024 * 1024)
    big = socket.create_connection(("127.0.0.1", stack.port), timeout=5)
    try:
        head = (f"POST /track/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"openpanel-client-id: {project['client_id']}\r\nContent-Length: 2000000\r\n\r\n")  # fmt: skip
        big.sendall(head.encode() + b" " * 900_000)  # 900 KB in, the rest never comes
        time.sleep(0.5)
        refused = requests.post(f"{stack.url}/track/batch", data=b" " * 300_000, timeout=5,
                                headers={**_headers_of(project), "content-type": "application/json"})
        assert refused.status_code == 503 and refused.json()["error"] == "busy", refused.text
        assert requests.post(f"{stack.url}/track", json=track("small"), headers=_headers_of(project), timeout=5).ok
    finally:
        big.close()
        stack.stop()


def test_a_stopping_server_does_not_wait_for_requests_that_never_began(tmp_path):
    """A deploy's SIGTERM: connections with no whole headers yet (idle, or headers that never end) are
    closed at once, not waited for until their deadline or gunicorn's graceful timeout (30 s)."""
    stack, project = _start(tmp_path, REQUEST_HEADER_SECONDS=60)
    idle = [socket.create_connection(("127.0.0.1", stack.port), timeout=5) for _ in range(3)]
    slow = _slow_sockets(stack, project, 2)[1:]  # endless headers
    try:
        time.sleep(0.5)
        started = time.monotonic()
        stack.web.send_signal(signal.SIGTERM)
        stack.web.wait(20)
        assert time.monotonic() - started < 8
    finally:
        for sock in idle + slow:
            sock.close()
        stack.stop()
