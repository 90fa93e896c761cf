"""B8: Redis bytes per live session (contract §7 r3, bounded state). One gunicorn process, one RQ
worker with its scheduler and a private Redis take, one batch after the other:

- 2,000 plain live devices: one screen_view each, timed now, with a path and a referrer, one in
  three with a profile id (`live_device_bytes`);
- 600 devices whose event has a 30,000-character `__path` and `__referrer` (`fat_live_device_bytes`);
- then nothing, until the sweep has ended every one of those sessions (`ended_session_bytes`: what
  an ended session leaves).

Bytes are the sum of MEMORY USAGE (exact: SAMPLES 0) of every key but RQ's own, after the worker
has written every event, minus the same sum before; `used_memory_*` are Redis' INFO used_memory
deltas for the same steps (allocator overhead and the expiry table included).
"""
import time

import orjson

from bench.stack import BenchStack
from contract.tables import EVENTS
from storage.clickhouse import client as clickhouse
from tests.support.events import iso

PLAIN, FAT = 2_000, 600
FAT_BATCH = 150  # 150 events of ~60 KB: a 9 MB body, under the 10 MiB batch limit
TIMEOUT_SECONDS = 120  # the stack's session timeout: long enough to measure the live state first
WAIT_SECONDS = 600
TARGETS = {"live_device_bytes": 1024, "fat_live_device_bytes": 1024, "ended_session_bytes": 100}


def _event(name: str, ms: int, device: str, path: str, referrer: str, profile: str | None = None) -> dict:
    payload: dict = {"name": name, "properties": {"__timestamp": iso(ms), "__deviceId": device, "__path": path,
                                                  "__referrer": referrer}}  # fmt: skip
    if profile:
        payload["profileId"] = profile
    return {"type": "track", "payload": payload}


def _plain(ms: int) -> list[dict]:
    return [
        _event("screen_view", ms, f"b8-plain-{n}", "https://shop.example.com/products/42?ref=home",
               "https://www.google.com/", f"user-{n}" if n % 3 == 0 else None)
        for n in range(PLAIN)
    ]  # fmt: skip


def _fat(ms: int) -> list[dict]:
    path = "https://shop.example.com/" + "p" * (30_000 - len("https://shop.example.com/"))
    referrer = "https://ref.example.net/" + "r" * (30_000 - len("https://ref.example.net/"))
    return [_event("screen_view", ms, f"b8-fat-{n}", path, referrer) for n in range(FAT)]


def _key_bytes(client) -> int:
    return sum(
        client.memory_usage(key, samples=0) or 0 for key in client.scan_iter(count=1000) if not key.startswith(b"rq:")
    )


def _count(stack: BenchStack, where: str) -> int:
    return clickhouse.execute(
        f"SELECT count() FROM {clickhouse.database()}.{EVENTS.name} WHERE project_id = %(p)s AND {where}",
        {"p": stack.project["project_id"]},
    )[0][0]


def _wait(check, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"waited {WAIT_SECONDS} s for {what}")
        time.sleep(0.5)


def _send(stack: BenchStack, events: list[dict]) -> None:
    _, status, answer = stack.post("/track/batch", orjson.dumps({"events": events}))
    if status != 202 or orjson.loads(answer)["accepted"] != len(events):
        raise RuntimeError(f"/track/batch answered {status}: {answer[:300]!r}")


def _idle(stack: BenchStack, client, stored: int) -> None:
    """Until the worker has written `stored` screen views and holds no job."""
    _wait(lambda: _count(stack, "name = 'screen_view'") >= stored, f"{stored} stored events")
    _wait(lambda: not any(client.llen(key) for key in client.scan_iter(match="rq:queue:*")), "empty queues")
    time.sleep(1)  # the job that wrote the last rows finishes its bookkeeping


def _measure(client) -> tuple[int, int]:
    return _key_bytes(client), client.info("memory")["used_memory"]


def run() -> dict:
    env = {"SESSION_TIMEOUT_SECONDS": TIMEOUT_SECONDS, "SESSION_SWEEP_SECONDS": 5}
    with BenchStack(web_workers=1, workers=1, **env) as stack:
        client = stack.redis.client()
        # A server sender's event first: the project's counters and first-use keys exist before.
        warm_up = {"events": [{"type": "track", "payload": {"name": "warm-up"}}]}
        stack.post("/track/batch", orjson.dumps(warm_up), **{"user-agent": "python-requests/2.32"})
        _wait(lambda: _count(stack, "name = 'warm-up'") == 1, "the warm-up event")
        start_bytes, start_memory = _measure(client)
        now = int(time.time() * 1000)
        _send(stack, _plain(now))
        _idle(stack, client, PLAIN)
        plain_bytes, plain_memory = _measure(client)
        fat = _fat(int(time.time() * 1000))
        for start in range(0, FAT, FAT_BATCH):
            _send(stack, fat[start : start + FAT_BATCH])
        _idle(stack, client, PLAIN + FAT)
        fat_bytes, fat_memory = _measure(client)
        if _count(stack, "name = 'session_end'"):
            raise RuntimeError("sessions ended before their live state was measured; raise TIMEOUT_SECONDS")
        _wait(lambda: _count(stack, "name = 'session_end'") >= PLAIN + FAT, "every session's end")
        _wait(lambda: not client.zcard("spool:live_ends"), "every live session forgotten")
        time.sleep(1)
        ended_bytes, ended_memory = _measure(client)
    found = {
        "live_device_bytes": round((plain_bytes - start_bytes) / PLAIN, 1),
        "fat_live_device_bytes": round((fat_bytes - plain_bytes) / FAT, 1),
        "ended_session_bytes": round((ended_bytes - start_bytes) / (PLAIN + FAT), 1),
    }
    return {
        **found,
        "used_memory_live_device_bytes": round((plain_memory - start_memory) / PLAIN, 1),
        "used_memory_fat_live_device_bytes": round((fat_memory - plain_memory) / FAT, 1),
        "used_memory_ended_session_bytes": round((ended_memory - start_memory) / (PLAIN + FAT), 1),
        "target": ", ".join(f"{name} <= {limit}" for name, limit in TARGETS.items()),
        "met": all(found[name] <= limit for name, limit in TARGETS.items()),
    }
