"""How long to wait before the next try: the server's Retry-After, else exponential backoff with
full jitter, capped, and never less than a floor, so that a client never spins."""
from __future__ import annotations

import email.utils
import random
from typing import Callable, Mapping, Optional


def jittered(failures: int, base: float, cap: float, floor: float, draw: Callable[[float, float], float]) -> float:
    """Full jitter (uniform in [0, min(cap, base * 2^(failures-1))]), then at least `floor`.

    `failures` counts the failed tries in a row, from 1. Jitter spreads a fleet of devices that
    came back online together; the floor keeps a near-zero draw from becoming a tight loop."""
    ceiling = min(cap, base * 2 ** min(max(failures - 1, 0), 64))
    return max(floor, draw(0.0, ceiling))


def full_jitter(failures: int, base: float, cap: float, floor: float) -> float:
    return jittered(failures, base, cap, floor, random.uniform)


def retry_after(headers: Mapping[str, str], now: float, cap: float) -> Optional[float]:
    """Seconds the server asked to wait: `Retry-After` as seconds or as an HTTP date. A date is
    measured against the answer's own `Date` header when it has one (the device clock may be
    wrong by days). None when absent or unreadable; at most `cap`."""
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until(value, headers.get("Date"), now)
    if seconds is None or seconds != seconds:  # unreadable, or NaN
        return None
    return min(max(seconds, 0.0), cap)


def _seconds_until(value: str, server_date: Optional[str], now: float) -> Optional[float]:
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
