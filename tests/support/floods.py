"""One project flooding a live stack while another sends as usual: the fairness test
(tests/integration/test_fairness.py) and benchmark B5 (bench/b5.py) run the same floods."""
import gzip
import http.client
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

import orjson

from tests.support.events import iso, track


def batch_of_new_devices(seed: int, count: int = 2000) -> bytes:
    """A batch whose every event is a device never seen (each would start a live session)."""
    now = int(time.time() * 1000)
    events = [
        {"type": "track", "payload": {"name": "flood", "properties": {
            "__deviceId": f"flood-{seed}-{number}", "__timestamp": iso(now - number), "__path": "/x", "n": number}}}
        for number in range(count)
    ]  # fmt: skip
    return orjson.dumps({"events": events})


def invalid_bomb(decompressed: int = 10 * 1024 * 1024 - 64) -> bytes:
    """~35 KB of gzip that decompresses to a batch of 10 MiB whose JSON breaks at its very end
    (400 after a full parse): what a public client id and its Origin could send for free."""
    item = b'{"type":"track","payload":{"name":"x"}},'
    return gzip.compress(b'{"events":[' + item * (decompressed // len(item)) + b"]", compresslevel=9)


def _post(url: str, path: str, headers: dict, body: bytes, timeout: float = 60) -> tuple[float, int]:
    """(seconds until the whole answer, status) of one request on a new connection."""
    parts = urlsplit(url)
    started = time.perf_counter()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        response.read()
        return time.perf_counter() - started, response.status
    finally:
        connection.close()


class Flood:
    """`clients` threads posting `bodies` (in turn) to `path` back to back, until the block ends.
    Each waits `pause` seconds between requests (0: a client that never waits, even after a 429)."""

    def __init__(self, url: str, path: str, headers: dict, bodies: list[bytes], clients: int = 4, pause: float = 0):
        self.url, self.path, self.headers, self.bodies, self.pause = url, path, headers, bodies, pause
        self.statuses: Counter[int] = Counter()
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._send, args=(n, clients), daemon=True) for n in range(clients)]

    def _send(self, number: int, clients: int) -> None:
        sent = number
        while not self.stopped.is_set():
            try:
                _, status = _post(self.url, self.path, self.headers, self.bodies[sent % len(self.bodies)])
            except OSError:
                status = 0
            sent += clients
            with self.lock:
                self.statuses[status] += 1
            self.stopped.wait(self.pause)

    def __enter__(self) -> "Flood":
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(90)
        self.seconds = time.monotonic() - self.started


def quiet_latencies(url: str, headers: dict, seconds: float, per_second: int = 10) -> list[float]:
    """A quiet project's requests, in turn a 5-event batch and a single event, at `per_second`:
    the seconds each took until its answer (every one must be 2xx)."""
    batch = orjson.dumps({"events": [track("quiet", i=i) for i in range(5)]})
    latencies = []
    started = time.monotonic()
    number = 0
    while time.monotonic() - started < seconds:
        time.sleep(max(0.0, started + number / per_second - time.monotonic()))
        path, body = ("/track/batch", batch) if number % 2 else ("/track", orjson.dumps(track("quiet", n=number)))
        elapsed, status = _post(url, path, headers, body)
        if status not in (200, 202):
            raise AssertionError(f"the quiet project was answered {status} on {path}")
        latencies.append(elapsed)
        number += 1
    return latencies
