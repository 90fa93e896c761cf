"""B9: a worker block's memory (issue 17, finding 7). A stack with no worker takes 20 batches of 2000
bulky events (bench/data.py with 3,000 bytes of filler each: about 1.8 MB of chunk data a 500-event
chunk); then a worker process runs one job, its own chunk and the block it takes, and reports its
peak RSS during that job above its RSS before it (`python -m bench.b9`, below: the peak is reset
through /proc/self/clear_refs just before the job). Run with the byte bound of the settings
(WORKER_BLOCK_BYTES, `bounded_*`) and with none (`unbounded_*`: 1 GiB, as the release before; the
20,000 events of BLOCK_EVENTS still bound it). `*_taken_mb` is the chunk data (as serialized) the
block took, `*_written` the chunks it wrote (a block stops settling after BLOCK_SECONDS and gives the
rest back). `small_*`: standard events (no filler) under the same bound, where the 20,000 events
bind first.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
from rq.job import Job

from bench import data
from bench.stack import BenchStack
from tests.support.live import ROOT

BATCHES = 20
FILLER = 3_000
UNBOUNDED = 1024**3


def _kib(field: str) -> int:
    return int(Path("/proc/self/status").read_text().split(f"{field}:")[1].split()[0])


def worker() -> None:
    """In the stack's environment: one job, and {"before_kib", "peak_kib"} on stdout."""
    import django

    django.setup()
    import django_rq

    from ingest.worker.spool_worker import SpoolWorker
    from storage.queue import queues

    rq_queues = [django_rq.get_queue(name) for name in queues.NAMES]
    spool = SpoolWorker(rq_queues, connection=rq_queues[0].connection)
    before = _kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS from here on
    spool.work(burst=True, max_jobs=1, logging_level="WARNING")
    print(orjson.dumps({"before_kib": before, "peak_kib": _kib("VmHWM")}).decode())


def _block(waiting: list[tuple[int, int]], block_bytes: int) -> list[int]:
    """The chunk sizes the first job's block takes (storage/queue/lua/take_companions.lua's rule)."""
    from ingest.worker.write import BLOCK_EVENTS

    (own_events, own_bytes), *rest = waiting
    events, size, taken = BLOCK_EVENTS - own_events, block_bytes - own_bytes, [own_bytes]
    for count, chunk in rest[:100]:
        if count > events or chunk > size:
            break
        events, size = events - count, size - chunk
        taken.append(chunk)
    return taken


def _one_block(block_bytes: int, filler: int = FILLER) -> dict:
    now_ms = int(time.time() * 1000)
    bodies = [data.batch_body(now_ms, 9100 + seed, filler=filler) for seed in range(BATCHES)]
    with BenchStack(web_workers=1, FAIR_SHARE_EVENTS_PER_MINUTE=10**9, WORKER_BLOCK_BYTES=block_bytes) as stack:
        for body in bodies:
            _, status, answer = stack.post("/track/batch", body)
            if status != 202 or orjson.loads(answer)["accepted"] != 2000:
                raise RuntimeError(f"/track/batch answered {status}: {answer[:200]!r}")
        client = stack.redis.client()
        ids = [job_id.decode() for job_id in client.lrange("rq:queue:events", 0, -1)]
        waiting = [(500, int(client.hget(Job.key_for(job_id), "spool_bytes"))) for job_id in ids]
        run = subprocess.run([sys.executable, "-m", "bench.b9"], cwd=ROOT, env=stack.live.env, capture_output=True,
                             text=True, check=True)  # fmt: skip
        measured = orjson.loads(run.stdout.strip().splitlines()[-1])
        written = len(ids) - client.llen("rq:queue:events")
    taken = _block(waiting, block_bytes)
    return {"taken": len(taken), "taken_mb": round(sum(taken) / 1024**2, 1), "written": written,
            "rss_before_mb": round(measured["before_kib"] / 1024, 1),
            "peak_mb": round((measured["peak_kib"] - measured["before_kib"]) / 1024, 1)}  # fmt: skip


def run() -> dict:
    from django.conf import settings

    bounded, unbounded = _one_block(settings.WORKER_BLOCK_BYTES), _one_block(UNBOUNDED)
    small = _one_block(settings.WORKER_BLOCK_BYTES, filler=0)  # standard events: BLOCK_EVENTS binds first
    return {
        "block_bytes": settings.WORKER_BLOCK_BYTES,
        **{f"bounded_{key}": value for key, value in bounded.items()},
        **{f"unbounded_{key}": value for key, value in unbounded.items()},
        **{f"small_{key}": value for key, value in small.items()},
    }


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    worker()
