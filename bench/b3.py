"""B3: single `POST /track` (the SDK's path) under wrk, 16 connections, the shipped gunicorn.conf.py (2 processes),
against the same-run floor: a bare DRF view answering `{}` on the same server and settings.

Each request carries a different body (a counter), so the 100 ms duplicate guard never answers
for the real work; the SDK sends its secret, no Origin. No RQ worker runs (events wait in Redis).
"""
import re
import subprocess
import tempfile
from pathlib import Path

from bench.measure import median
from bench.stack import BenchStack

ROUNDS = 3
SECONDS = 5
CONNECTIONS = 16

SCRIPT = """
wrk.method = "POST"
wrk.headers = {HEADERS}
local n = 0
request = function()
  n = n + 1
  local body = '{"type":"track","payload":{"name":"screen_view","properties":{"__path":"/home/feed",' ..
    '"plan":"pro","n":' .. n .. ',"nested":{"a":1,"tags":["x","y"]},"app_version":"3.14.1"}}}'
  return wrk.format(nil, nil, nil, body)
end
"""


def _lua_table(headers: dict) -> str:
    return "{" + ", ".join(f'["{key}"] = "{value}"' for key, value in headers.items()) + "}"


def _unit_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _wrk(url: str, script: Path, seconds: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p99_ms": _unit_ms(*p99.groups()),
        "errors": int(errors.group(1)) if errors else 0,
    }


def run() -> dict:
    spool, floor = [], []
    with BenchStack(web_workers=2) as stack, tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "post.lua"
        script.write_text(SCRIPT.replace("{HEADERS}", _lua_table(stack.headers())))
        for path in ("/track", "/bench/empty"):
            _wrk(stack.live.url + path, script, 1)  # warm-up
        for number in range(ROUNDS):
            pair = [("/track", spool), ("/bench/empty", floor)]
            for path, samples in pair if number % 2 == 0 else reversed(pair):
                samples.append(_wrk(stack.live.url + path, script, SECONDS))
    errors = sum(sample["errors"] for sample in spool + floor)
    req_per_s, floor_req_per_s = median([s["req_per_s"] for s in spool]), median([s["req_per_s"] for s in floor])
    p99 = median([s["p99_ms"] for s in spool])
    return {
        "req_per_s": req_per_s,
        "p99_ms": p99,
        "floor_req_per_s": floor_req_per_s,
        "floor_p99_ms": median([s["p99_ms"] for s in floor]),
        "ratio": round(req_per_s / floor_req_per_s, 3),
        "errors": errors,
        "rounds": ROUNDS,
        "target": "ratio >= 0.65, p99 <= 8 ms (issue 13, on a quiet reference machine)",
        "met": errors == 0 and req_per_s / floor_req_per_s >= 0.65 and p99 <= 8,
    }
