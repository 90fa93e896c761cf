"""B6: session ends keep up (contract §7 r2). 100,000 live sessions, one device each, whose events
fall within 30 s, are sent through the API (50 batches of 2000) to one gunicorn process and one RQ
worker with its scheduler. The sessions fall due together, SESSION_TIMEOUT_SECONDS after their
events, and the periodic sweep (every 30 s, as in production) must end them all within 2 minutes.

seconds_to_all_ends: from the earliest deadline until every session_end row is in ClickHouse.
ends_per_s: session_end rows stored per second while the sweeps wrote them (the polls in which
their count grew; the wait between two sweeps is left out).
"""
import time

import orjson

from bench.stack import BenchStack
from contract.tables import EVENTS
from storage.clickhouse import client as clickhouse
from tests.support.events import iso

SESSIONS = 100_000
BATCH = 2_000
SPREAD_MS = 30_000  # the events, so the deadlines, fall within this
TIMEOUT_SECONDS = 120  # the stack's session timeout: sessions fall due 2 minutes after their event
WAIT_SECONDS = 900


def _bodies(t0: int) -> list[bytes]:
    events = [
        {"type": "track", "payload": {"name": "screen_view", "properties": {
            "__timestamp": iso(t0 + number * SPREAD_MS // SESSIONS), "__deviceId": f"b6-{number}", "__path": "/home",
        }}}
        for number in range(SESSIONS)
    ]  # fmt: skip
    return [orjson.dumps({"events": events[start : start + BATCH]}) for start in range(0, SESSIONS, BATCH)]


def _count(stack: BenchStack, name: str) -> int:
    return clickhouse.execute(
        f"SELECT count() FROM {clickhouse.database()}.{EVENTS.name} WHERE project_id = %(p)s AND name = %(n)s",
        {"p": stack.project["project_id"], "n": name},
    )[0][0]


def _ends_over_time(stack: BenchStack, seconds: float) -> list[tuple[float, int]]:
    """(time, session_end rows) every half second until all are stored or `seconds` passed."""
    seen = [(time.time(), _count(stack, "session_end"))]
    deadline = time.monotonic() + seconds
    while seen[-1][1] < SESSIONS and time.monotonic() < deadline:
        time.sleep(0.5)
        seen.append((time.time(), _count(stack, "session_end")))
    return seen


def _wait(check, seconds: float) -> float | None:
    """Poll `check()` until true; the time.time() it became true, or None after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return time.time()
        time.sleep(0.5)
    return None


def run() -> dict:
    with BenchStack(web_workers=1, workers=1, SESSION_TIMEOUT_SECONDS=TIMEOUT_SECONDS) as stack:
        t0 = int(time.time() * 1000) + 5_000
        bodies = _bodies(t0)
        for body in bodies:
            _, status, answer = stack.post("/track/batch", body)
            if status != 202 or orjson.loads(answer)["accepted"] != BATCH:
                raise RuntimeError(f"/track/batch answered {status}: {answer[:200]!r}")
        sent = time.time()
        stored = _wait(lambda: _count(stack, "session_start") >= SESSIONS, WAIT_SECONDS)
        first_due = (t0 + TIMEOUT_SECONDS * 1000) / 1000
        seen = _ends_over_time(stack, WAIT_SECONDS)
    all_ends, ended = seen[-1]
    if ended < SESSIONS:
        raise RuntimeError(f"{ended} of {SESSIONS} sessions ended after {WAIT_SECONDS} s")
    busy = sum(later[0] - earlier[0] for earlier, later in zip(seen, seen[1:]) if later[1] > earlier[1])
    seconds = all_ends - first_due
    return {
        "sessions": SESSIONS,
        "seconds_to_all_ends": round(seconds, 1),
        "ends_per_s": round(SESSIONS / max(busy, 0.5)),
        "seconds_to_send": round(sent - t0 / 1000, 1),
        "seconds_until_all_started": round((stored or sent) - t0 / 1000, 1),
        "due_spread_s": SPREAD_MS / 1000,
        "target": "all ends within 120 s of falling due",
        "met": seconds <= 120,
    }
