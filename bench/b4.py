"""B4: memory. Peak RSS of a gunicorn web worker over 20 batches of 10 MiB; and `replay_events` over a
generated 1 GB NDJSON file: its speed, and its peak RSS against a run over a file a tenth the size
(flat = no growth with file size).
"""
import time

import orjson

from bench import data, replay
from bench.stack import BenchStack

BATCHES = 20
FILLER = 4700  # bytes of bulky properties per event: 2000 events make just under 10 MiB


def _peak_rss_mb(pid: int) -> float:
    """The process's RSS high-water mark (VmHWM), which the kernel keeps for it."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmHWM for {pid}")


def run() -> dict:
    now_ms = int(time.time() * 1000)
    bodies = [data.batch_body(now_ms, 200 + seed, filler=FILLER) for seed in range(2)]
    with BenchStack(web_workers=1) as stack:
        (worker,) = stack.live.web_worker_pids()
        stack.post("/track/batch", data.batch_body(now_ms, 0))  # a warm worker: imports and caches loaded
        idle = _peak_rss_mb(worker)
        for number in range(BATCHES):
            _, status, answer = stack.post("/track/batch", bodies[number % 2])
            if status != 202 or orjson.loads(answer)["accepted"] != 2000:
                raise RuntimeError(f"/track/batch answered {status}: {answer[:200]!r}")
        peak = _peak_rss_mb(worker)
        result = {
            "web_peak_rss_mb": peak,
            "web_warm_rss_mb": idle,
            "batch_body_mb": round(max(map(len, bodies)) / 2**20, 2),
        }
        result.update(replay.measure(stack, now_ms))
    replay_ok = result.get("replay_events_per_s") is not None
    result["target"] = "web <= 150 MB; replay flat and >= 80000 events/s (issue 13)"
    result["met"] = peak <= 150 and replay_ok and result["replay_events_per_s"] >= 80_000 and result["replay_flat"]
    return result
