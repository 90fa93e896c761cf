"""How long to wait before the next try: the server's Retry-After, else exponential backoff with
full jitter, capped, and never less than a floor, so that a client never spins."""
from __future__ import annotations

import email.utils
import random
from collections.abc import Mapping
from typing import Callable


def jittered(failures: int, base: float, cap: float, floor: float, draw: Callable[[float, float], float]) -> float:
    """Full jitter (uniform in [0, min(cap, base * 2^(failures-1))]), then at least `floor`.

    `failures` counts the failed tries in a row, from 1. Jitter spreads a fleet of devices that
    came back online together; the floor keeps a near-zero draw from becoming a tight loop."""
    ceiling = min(cap, base * 2 ** min(max(failures - 1, 0), 64))
    return max(floor, draw(0.0, ceiling))


def full_jitter(failures: int, base: float, cap: float, floor: float) -> float:
    return jittered(failures, base, cap, floor, random.uniform)


def retry_after(headers: Mapping[str, str], now: float, cap: float) -> float | None:
    """Seconds the server asked to wait: `Retry-After` as seconds or as an HTTP date. A date is
    measured against the answer's own `Date` header when it has one (the device clock may be
    wrong by days). None when absent or unreadable; at most `cap`. Header names in any case."""
    named = {name.lower(): text for name, text in headers.items()}
    value = (named.get("retry-after") or "").strip()
    if not value:
        return None
    seconds: float | None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until(value, named.get("date"), now)
    if seconds is None or seconds != seconds:  # unreadable, or NaN
        return None
    return min(max(seconds, 0.0), cap)


def _seconds_until(value: str, server_date: str | None, now: float) -> float | None:
    try:
        moment = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if server_date:
        try:
            now = email.utils.parsedate_to_datetime(server_date).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    return moment - now
