"""What the client buffers: one envelope of the wire protocol per call (contract §3), built and
encoded once, when the app makes the call, so that every retry sends the same bytes."""
from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from typing import Any

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
# Sent with the first event of a batch after the buffer had to drop events (README: "Bounded").
# Not one of the `__` specials of contract §3.1: it is stored as an ordinary property.
DROPPED_PROPERTY = "spool_dropped_events"


def iso_ms(seconds: float) -> str:
    """ISO-8601 UTC to the millisecond. Never epoch numbers: a device clock still at 1970 would
    give a number below 10^11, which the server reads as seconds (contract §3.1)."""
    moment = EPOCH + dt.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def event_time(timestamp: Any, now: float) -> str:
    """`track(timestamp=...)`: a datetime (naive means UTC, as on the server), epoch seconds, or
    a string sent as it is; None means the device clock now."""
    if timestamp is None:
        return iso_ms(now)
    if isinstance(timestamp, dt.datetime):
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=dt.timezone.utc)
        return iso_ms((timestamp - EPOCH).total_seconds())
    if isinstance(timestamp, (int, float)) and not isinstance(timestamp, bool):
        return iso_ms(timestamp)
    if isinstance(timestamp, str):
        return timestamp
    raise TypeError(f"timestamp must be a datetime, epoch seconds or a string, not {type(timestamp).__name__}")


def seconds_of(when: str, now: float) -> float:
    """The time of an event, in seconds, for its session: its `__timestamp` when this client can read
    it (what iso_ms writes, or another ISO-8601 text), else the clock now."""
    try:
        moment = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return now
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return (moment - EPOCH).total_seconds()


def _jsonable(value: Any) -> Any:
    """Values apps commonly put in properties that JSON has no type for."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise TypeError(f"a property value of type {type(value).__name__} cannot be sent as JSON")


def encode(envelope: dict) -> str:
    """Compact JSON that encodes to UTF-8 (a lone surrogate is escaped, and the server drops it)."""
    try:
        text = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_jsonable)
    except ValueError as error:  # NaN or Infinity: not JSON, and no server would take it
        raise ValueError(f"cannot send this event: {error}") from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(envelope, separators=(",", ":"), allow_nan=False, default=_jsonable)
    return text


def track(
    name: str, properties: dict | None, profile_id: Any, insert_id: str, when: str, device_id: str, session_id: str
) -> dict:
    """A `track` envelope. The app's own `__insertId`, `__timestamp`, `__deviceId` or `__sessionId` win."""
    merged = dict(properties or {})
    merged.setdefault("__insertId", insert_id)
    merged.setdefault("__timestamp", when)
    merged.setdefault("__deviceId", device_id)
    merged.setdefault("__sessionId", session_id)
    payload: dict[str, Any] = {"name": name, "properties": merged}
    if profile_id is not None:
        payload["profileId"] = profile_id
    return {"type": "track", "payload": payload}


def identify(profile_id: Any, first_name: Any, last_name: Any, email: Any, properties: dict | None) -> dict:
    payload: dict[str, Any] = {"profileId": profile_id}
    for key, value in (("firstName", first_name), ("lastName", last_name), ("email", email)):
        if value is not None:
            payload[key] = value
    if properties:
        payload["properties"] = dict(properties)
    return {"type": "identify", "payload": payload}


def change(kind: str, profile_id: Any, name: str, value: Any) -> dict:
    """An `increment` or `decrement` of a numeric profile property."""
    return {"type": kind, "payload": {"profileId": profile_id, "property": name, "value": value}}


def with_property(body: str, key: str, value: Any) -> str:
    """A buffered track envelope with one more property (the dropped-events count)."""
    envelope = json.loads(body)
    envelope["payload"].setdefault("properties", {})[key] = value
    return encode(envelope)
