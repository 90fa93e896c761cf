"""Event time rules of contract §5. All times are integer milliseconds since the epoch, UTC."""
import math
from datetime import datetime, timezone

CLOCK_AHEAD_TOLERANCE_MS = 60_000
# A batch's sentAt this close to received_at is network delay, not a wrong device clock (§5.1).
CLOCK_SKEW_TOLERANCE_MS = 10_000
# The property a corrected row keeps its correction in.
CLOCK_SKEW_PROPERTY = "__clock_skew_ms"
DAY_MS = 86_400_000
# Epoch numbers below this are seconds, not milliseconds (10^11 s is the year 5138).
SECONDS_CUTOFF = 100_000_000_000
# datetime cannot represent anything after 9999-12-31.
MAX_MS = 253_402_300_799_999


class InvalidTimestamp(ValueError):
    pass


class TooOld(ValueError):
    pass


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _from_number(value: int | float) -> int:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidTimestamp("not a finite number")
    # An int is compared as an int: float() of a 400-digit integer raises OverflowError (issue 9).
    ms = value * 1000 if abs(value) < SECONDS_CUTOFF else value
    if abs(ms) > MAX_MS:
        raise InvalidTimestamp("out of range")
    return int(ms)


def parse_timestamp(value: object) -> int:
    """Read `__timestamp`: ISO-8601 (naive = UTC), or epoch milliseconds (seconds below 10^11)."""
    if isinstance(value, bool):
        raise InvalidTimestamp("not a time")
    if isinstance(value, (int, float)):
        return _from_number(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidTimestamp("not a time")
    text = value.strip()
    if ":" not in text:  # no number holds a colon: an ISO time skips the failing float() (issue 13)
        try:
            return _from_number(float(text))
        except ValueError:
            pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidTimestamp("not ISO-8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def event_ms(raw_timestamp: object, received_ms: int, backfill_days: int) -> int:
    """The stored event time of a raw `__timestamp` (None: received_at)."""
    if raw_timestamp is None:
        return received_ms
    return settle(parse_timestamp(raw_timestamp), received_ms, backfill_days)


def clock_skew(sent_at: object, received_ms: int) -> int:
    """The correction of a batch's event times (contract §5.1): received_at − sentAt when the two
    differ by more than 10 s, else 0. `sent_at` None: the batch did not say. Raises InvalidTimestamp."""
    if sent_at is None:
        return 0
    skew = received_ms - parse_timestamp(sent_at)
    return skew if abs(skew) > CLOCK_SKEW_TOLERANCE_MS else 0


def settle(sent_ms: int, received_ms: int, backfill_days: int, skew_ms: int = 0) -> int:
    """The stored event time of a time as sent: corrected by the batch's clock skew, then clamped
    when the client clock is ahead, refused when too old."""
    ms = sent_ms + skew_ms
    if ms > received_ms + CLOCK_AHEAD_TOLERANCE_MS:
        return received_ms
    check_window(ms, received_ms, backfill_days)
    return ms


def may_land_elsewhere(sent_ms: int, stored_ms: int, skew_ms: int) -> bool:
    """Whether another copy of this event (a retry) may be stored on another UTC day than this one,
    although its row id is the same (contract §6.3): its time was corrected (another copy's skew
    differs), or clamped onto another day than its time as sent (another copy arrives at another
    time). A copy stored at its time as sent, or clamped within that day, meets every other there."""
    return skew_ms != 0 or stored_ms // DAY_MS != sent_ms // DAY_MS


def check_window(ms: int, received_ms: int, backfill_days: int) -> None:
    if ms < received_ms - backfill_days * DAY_MS:
        unit = "day" if backfill_days == 1 else "days"
        raise TooOld(f"event timestamp older than {backfill_days} {unit}")
