"""What this process knows of each project's quota bucket and of Redis's high-water mark, from the
admission script's answers: enough to refuse a request before its body is read (contract §11 r3).

A reading is the bucket's level when Redis last answered for the project, plus its refill since.
Other processes spend from the same bucket, so the real level is never above the reading: a
refusal by the reading is always one that Redis would give. Refusals are kept as numbers, never as
exception objects (one raised again for every refused request kept each request's frames, and so
its parsed body, alive in its traceback: issue 17, finding 9).
"""
import math
import threading
import time

from projects.auth import ProjectContext

KEPT = 10_000  # projects remembered per process; a flood of projects costs readings again, never memory
_lock = threading.Lock()
_readings: dict[str, tuple[float, float]] = {}  # project id → (tokens left, monotonic time of the answer)
_overloaded_until = 0.0


def learn(project: ProjectContext, tokens: float) -> None:
    with _lock:
        if len(_readings) >= KEPT and project.id not in _readings:
            _readings.clear()
        _readings[project.id] = (tokens, time.monotonic())


def left(project: ProjectContext) -> float | None:
    """Tokens the project has now by this process's reading; None when it has none."""
    reading = _readings.get(project.id)
    if reading is None:
        return None
    tokens, at = reading
    rate = project.quota_per_minute / 60
    return min(float(max(project.quota_burst, 1)), tokens + (time.monotonic() - at) * rate)


def shortfall(project: ProjectContext, need: int) -> int:
    """Seconds until the reading holds `need` tokens (0: it does now, or there is no reading)."""
    now = left(project)
    if now is None or now >= need or project.quota_per_minute <= 0:
        return 0
    return max(1, math.ceil((need - now) * 60 / project.quota_per_minute))


def overloaded(seconds: float) -> None:
    global _overloaded_until
    _overloaded_until = time.monotonic() + seconds


def overloaded_wait() -> int:
    """Seconds until this process asks Redis again after it answered "over the high-water mark"."""
    remaining = _overloaded_until - time.monotonic()
    return math.ceil(remaining) if remaining > 0 else 0


def forget() -> None:
    """Forget every reading (tests: another process would know none of them)."""
    global _overloaded_until
    with _lock:
        _readings.clear()
    _overloaded_until = 0.0
