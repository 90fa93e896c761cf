"""Realistic request bodies: mixed track events of offline devices, used in bursts over the last 2 days."""
import random

import orjson

from tests.support.events import iso

NAMES = ("screen_view", "button_click", "search", "add_to_cart", "purchase", "app_open", "sensor_reading")
PATHS = ("/home", "/profile/edit", "/search", "/cart", "/checkout", "/settings/notifications", "/item/42")
DAY_MS = 86_400_000


def _properties(rng: random.Random, ms: int, device: str, filler: int) -> dict:
    properties = {
        "__timestamp": iso(ms),
        "__deviceId": device,
        "__path": rng.choice(PATHS),
        "plan": rng.choice(("free", "pro", "team")),
        "count": rng.randint(0, 500),
        "nested": {"a": rng.randint(0, 9), "tags": [rng.choice("xyz"), "t2"]},
        "app_version": "3.14.1",
    }
    if filler:
        # Bulky payloads (B4): text that does not compress to nothing.
        properties["detail"] = {"text": rng.randbytes(filler // 2).hex(), "seq": rng.random()}
    return properties


def events(now_ms: int, seed: int, count: int = 2000, devices: int = 20, filler: int = 0) -> list[dict]:
    """`count` events of `devices` devices, each used in bursts of ~20 events within the last 2 days."""
    rng = random.Random(seed)
    per_device = count // devices
    out = []
    for number in range(devices):
        device = f"bench-{seed}-{number}"
        left = per_device + (1 if number < count % devices else 0)
        while left:
            burst = min(left, 20)
            ms = now_ms - rng.randint(10 * 60_000, 2 * DAY_MS - 3_600_000)
            for _ in range(burst):
                ms += rng.randint(2_000, 90_000)
                payload = {"name": rng.choice(NAMES), "properties": _properties(rng, ms, device, filler)}
                if number % 3 == 0:
                    payload["profileId"] = f"user-{seed}-{number}"
                out.append({"type": "track", "payload": payload})
            left -= burst
    rng.shuffle(out)
    return out


def batch_body(now_ms: int, seed: int, **options) -> bytes:
    return orjson.dumps({"events": events(now_ms, seed, **options)})
