"""Build request bodies the way the SDKs and offline devices send them."""
import time
from datetime import datetime, timezone


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def track(name: str, **properties) -> dict:
    return {"type": "track", "payload": {"name": name, "properties": properties}}


def at(name: str, ms: int, device: str | None = None, **properties) -> dict:
    """A buffered event: it carries its own time (and device id)."""
    if device is not None:
        properties["__deviceId"] = device
    return track(name, __timestamp=iso(ms), **properties)
