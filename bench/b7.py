"""B7: Redis bytes per waiting event. A stack with no RQ worker (so everything accepted waits, as
during a ClickHouse outage) takes 10 batches of 2000 standard events (bench/data.py, ~245 bytes of
JSON each) and then 1000 single `/track` events; the Redis memory of every key they added
(MEMORY USAGE, exact: SAMPLES 0) is divided by the events.

`redis_bytes_per_event` is the batched events as they wait in chunk jobs: the form every waiting
event takes during an outage, since the drain job moves single events out of their buffer into
chunk jobs without ClickHouse. `single_bytes_per_event` is a single event in the buffer before
that drain; `used_memory_bytes_per_event` is Redis' INFO used_memory delta for the batches
(allocator overhead included).
"""
import time

import orjson

from bench import data
from bench.stack import BenchStack

BATCHES = 10
SINGLES = 1000
TARGET = 100


def _key_bytes(client) -> dict[bytes, int]:
    return {key: client.memory_usage(key, samples=0) or 0 for key in client.scan_iter(count=1000)}


def _added(before: dict[bytes, int], after: dict[bytes, int]) -> int:
    return sum(size - before.get(key, 0) for key, size in after.items())


def run() -> dict:
    now_ms = int(time.time() * 1000)
    bodies = [data.batch_body(now_ms, 7000 + seed) for seed in range(BATCHES)]
    singles = [orjson.dumps(event) for event in data.events(now_ms, 9000, count=SINGLES)]
    with BenchStack(web_workers=1) as stack:
        client = stack.redis.client()
        stack.post("/track/batch", data.batch_body(now_ms, 1))  # counters and first-use keys exist before
        stack.post("/track", singles[0])
        client.delete(*[key for key in client.scan_iter(count=1000) if key.startswith((b"rq:job:", b"rq:queue:"))])
        client.delete(b"spool:buffer:events")
        before, memory_before = _key_bytes(client), client.info("memory")["used_memory"]
        for body in bodies:
            _, status, answer = stack.post("/track/batch", body)
            if status != 202 or orjson.loads(answer)["accepted"] != 2000:
                raise RuntimeError(f"/track/batch answered {status}: {answer[:200]!r}")
        middle, memory_middle = _key_bytes(client), client.info("memory")["used_memory"]
        for body in singles:
            _, status, answer = stack.post("/track", body)
            if status != 200:
                raise RuntimeError(f"/track answered {status}: {answer[:200]!r}")
        after = _key_bytes(client)
    events = BATCHES * 2000
    per_event = _added(before, middle) / events
    json_bytes = sum(len(orjson.dumps(event)) for body in bodies for event in orjson.loads(body)["events"])
    return {
        "events": events,
        "redis_bytes_per_event": round(per_event, 1),
        "json_bytes_per_event": round(json_bytes / events, 1),
        "single_bytes_per_event": round(_added(middle, after) / SINGLES, 1),
        "used_memory_bytes_per_event": round((memory_middle - memory_before) / events, 1),
        "target": f"<= {TARGET} bytes per waiting event",
        "met": per_event <= TARGET,
    }
