"""B4's replay half: `manage.py replay_events FILE --project CLIENT_ID` (contract §9) over generated NDJSON."""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from bench import data
from tests.support.live import ROOT

BIG_BYTES = 1024**3
SMALL_BYTES = BIG_BYTES // 10
# Peak RSS may differ by allocator noise; more than this between a 100 MB and a 1 GB file is growth.
FLAT_MB = 20


def available(stack) -> bool:
    found = subprocess.run([sys.executable, "manage.py", "help", "replay_events"], cwd=ROOT, env=stack.live.env,
                           capture_output=True)  # fmt: skip
    return found.returncode == 0


def write_ndjson(path: Path, size: int, now_ms: int) -> int:
    """Append 2000-event blocks until the file holds `size` bytes; return the number of events."""
    count, seed = 0, 1000
    with open(path, "wb") as out:
        while out.tell() < size:
            events = data.events(now_ms, seed)
            out.write(b"\n".join(orjson.dumps(event) for event in events) + b"\n")
            count, seed = count + len(events), seed + 1
    return count


def _replay(stack, path: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one replay run."""
    log = path.with_suffix(".log")
    started = time.perf_counter()
    with open(log, "wb") as output:  # a file, not a pipe: a chatty progress bar cannot block the run
        process = subprocess.Popen(
            [sys.executable, "manage.py", "replay_events", str(path), "--project", stack.project["client_id"]],
            cwd=ROOT, env=stack.live.env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"replay_events failed: {log.read_bytes()[-500:]!r}")
    return seconds, usage.ru_maxrss / 1024


def measure(stack, now_ms: int) -> dict:
    if not available(stack):
        return {"replay": "command not available", "replay_events_per_s": None, "replay_rss_growth_mb": None}
    with tempfile.TemporaryDirectory(prefix="spool-replay-") as folder:
        small, big = Path(folder) / "small.ndjson", Path(folder) / "big.ndjson"
        write_ndjson(small, SMALL_BYTES, now_ms)
        events = write_ndjson(big, BIG_BYTES, now_ms)
        _, small_rss = _replay(stack, small)
        seconds, big_rss = _replay(stack, big)
    growth = round(big_rss - small_rss, 1)
    return {
        "replay_events": events,
        "replay_seconds": round(seconds, 1),
        "replay_events_per_s": round(events / seconds),
        "replay_peak_rss_mb": round(big_rss, 1),
        "replay_rss_growth_mb": growth,
        "replay_flat": growth <= FLAT_MB,
    }
