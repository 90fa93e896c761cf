"""What a live session may keep in Redis (contract §7 r3: at most 1 KiB, whatever its events hold),
and for how long. Pure functions of their inputs; docs/sessions.md, "What a session keeps in Redis".

Every value of a session's hash is at most VALUE_BYTES, so that Redis keeps the hash as a listpack
(its `hash-max-listpack-value`, 64 by default): one allocation of a few hundred bytes instead of a
hash table of ~60 bytes per field. The ids (device ≤ 64 characters, profile ref ≤ 64 bytes) fit;
the exit path is cut; the rest of what an end row needs (referrer, geo, device fields, SDK) is not
kept at all: the end row takes it from the session's stored start row.
"""
import hashlib

from sessions_app import identity

VALUE_BYTES = 64  # Redis' default hash-max-listpack-value
CUT = "…"  # ends a value that was cut (3 bytes in UTF-8)
FINGERPRINT_BYTES = 5  # of an event id: two distinct screen views of a session collide once in 2^40
SEEN = 10  # screen views whose fingerprints a session remembers (50 bytes); beyond, its end counts the stored rows
DAY_MS = 86_400_000
MINUTE_MS = 60_000


def cut(text: str, limit: int = VALUE_BYTES) -> str:
    """`text` if it fits in `limit` UTF-8 bytes, else its longest prefix that fits with CUT after it."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - len(CUT.encode())].decode(errors="ignore") + CUT


def fingerprint(event_id: str) -> bytes:
    """A short stand-in for an event id: a session counts a screen view once per fingerprint."""
    return hashlib.blake2b(event_id.encode(), digest_size=FINGERPRINT_BYTES).digest()


def state_ttl_ms(timeout_ms: int, backfill_days: int) -> int:
    """How long a live session's keys may outlive its last event: the sweep deletes them at its end;
    this expiry only covers a sweep that stopped (its end is then computed from the stored events)."""
    return timeout_ms + backfill_days * DAY_MS


def day_of(bucket: int, window_ms: int) -> int:
    """The UTC day (days since the epoch) a bucket starts on: the day of the ended-sessions hash that
    keeps the sessions whose id comes from it (storage.redis.keys.ended_sessions)."""
    return bucket * window_ms // DAY_MS


def mark(bucket: int, window_ms: int, timeout_ms: int, backfill_days: int) -> str:
    """What a session created from `bucket` keeps for its ended marker: "day:minutes", the day of its
    ended-sessions hash and how long after that day's start the marker must last. An event of that
    bucket can arrive until the bucket's end plus the backfill window (a buffered one) or the
    timeout (a live one); after that, nothing can reopen the session."""
    day = day_of(bucket, window_ms)
    keep = identity.bucket_end_ms(bucket, window_ms) + max(timeout_ms, backfill_days * DAY_MS)
    return f"{day}:{-(-(keep - day * DAY_MS) // MINUTE_MS)}"


def read_mark(text: str) -> tuple[int, int]:
    """(day, keep until ms) of a mark."""
    day, minutes = text.split(":")
    return int(day), int(day) * DAY_MS + int(minutes) * MINUTE_MS
