"""Properties: the special `__` keys of contract §3.1 are taken out, the rest flattened to dotted strings."""
import math
import re

from contract.messages import AGENT
from ingest.enrich.text import clean


def _special(column: str) -> str:
    """The special key that overrides an agent column: os_version -> __osVersion."""
    return "__" + re.sub(r"_(\w)", lambda found: found.group(1).upper(), column)


# The user-agent overrides a sender may set (contract §3.1), one per field of the agent group.
UA_OVERRIDES = {_special(column): column for column in AGENT}

# Keys that steer ingestion and are not stored as properties.
SPECIAL_KEYS = frozenset(
    {
        "__timestamp",
        "__deviceId",
        "__ip",
        "__insertId",
        "__sessionId",
        "__path",
        "__referrer",
        "__revenue",
        "__identify",
        *UA_OVERRIDES,
    }
)

# Checked whole rather than cleaned: a session id with a control character is refused (§6.2 rule 0).
RAW_SPECIALS = frozenset({"__sessionId"})

# An exported row's geo fields ({"country", "city", "region", "latitude", "longitude"}): taken out and
# applied as they are by `replay_events` (contract §9 r3); elsewhere an ordinary property.
EXPORTED_GEO = "__geo"


class InvalidProperty(ValueError):
    pass


def split_specials(properties: dict) -> tuple[dict, dict]:
    """Return (special keys, ordinary keys). Explicit nulls count as absent; the text of a special
    key is a property value, free of control characters (contract §3 r2)."""
    specials, ordinary = {}, {}
    for key, value in properties.items():
        if key in SPECIAL_KEYS:
            if value is not None:
                specials[key] = clean(value) if isinstance(value, str) and key not in RAW_SPECIALS else value
        else:
            ordinary[key] = value
    return specials, ordinary


def scalar_text(value: object) -> str | None:
    """The stored text of a JSON scalar; None when it is dropped (null, empty)."""
    if isinstance(value, str):
        return (value if value.isprintable() else clean(value)).strip() or None
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidProperty("number out of range")
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    return str(value)


def flatten(properties: dict, max_keys: int, prefix: str = "") -> dict[str, str]:
    """Flatten nested objects and lists to dotted keys (`{"a": {"b": 1}}` → `{"a.b": "1"}`)."""
    flat: dict[str, str] = {}
    # A stack of open containers (not recursion), so that deep nesting cannot exhaust Python's
    # recursion limit; keys come out in document order.
    stack = [(prefix, iter(properties.items()))]
    while stack:
        path, items = stack[-1]
        for key, value in items:
            name = f"{path}.{key}" if path else str(key)
            if isinstance(value, dict):
                stack.append((name, iter(value.items())))
                break
            if isinstance(value, list):
                stack.append((name, enumerate(value)))
                break
            try:
                text = scalar_text(value)
            except InvalidProperty as error:
                raise InvalidProperty(f"{name}: {error}") from None
            if text is not None:
                flat[name if name.isprintable() else clean(name)] = text  # keys too (contract §3 r2)
                if len(flat) > max_keys:
                    raise InvalidProperty(f"more than {max_keys} keys after flattening")
        else:
            stack.pop()
    return flat
