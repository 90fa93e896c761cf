"""JSON as Spool reads it, from any source (request bodies, NDJSON lines, buffered files): lenient
on what can be repaired, strict on what is not JSON (contract §3.1, §10)."""
import json
import math
import re

import orjson


class InvalidJSON(ValueError):
    """The text is not JSON; `str()` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.detail = message


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


INT_MIN, UINT_MAX = -(2**63), 2**64 - 1  # what orjson reads as an integer, and writes


def _number_text(text: str):
    """A number the standard library read, as orjson would give it: an int within 64 bits, else a
    float while one holds it, else the literal text ("1e400", 400 digits) as a string. So nothing
    downstream meets an integer orjson cannot write at enqueue time (issue 9, finding 3), and a
    number beyond a float is a plain string property (contract §5)."""
    if len(text) <= 20 and "." not in text and "e" not in text and "E" not in text:
        value = int(text)
        if INT_MIN <= value <= UINT_MAX:
            return value
    number = float(text)  # float() reads any length; int() refuses more than 4300 digits
    return number if math.isfinite(number) else text


def _strip_surrogates(value):
    """Remove lone surrogates (they cannot be stored as UTF-8) from every string in a document."""
    if isinstance(value, str):
        if any("\ud800" <= c <= "\udfff" for c in value):
            return value.encode("utf-8", "ignore").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {_strip_surrogates(k): _strip_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_surrogates(item) for item in value]
    return value


# orjson builds a whole document tree before the Python objects: ~13x the body at its peak (130 MB
# for a 10 MiB batch). Bigger bodies go to the standard library: ~3x the body, and as fast on them.
ORJSON_MAX_BYTES = 1024 * 1024
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def loads(raw: bytes):
    """Parse JSON; invalid UTF-8 and lone surrogates are repaired rather than refused.

    orjson refuses lone surrogates (`"\\ud800"`) and invalid UTF-8. Rather than lose a whole batch
    for one bad string, the lenient reading replaces invalid bytes and drops lone surrogates (contract §3.1).
    NaN and Infinity stay errors: they are not JSON.
    """
    if len(raw) <= ORJSON_MAX_BYTES:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            return loads_text(text_of(raw), error)
    return loads_text(text_of(raw))


def text_of(raw: bytes) -> str:
    """The body as text for loads_text: invalid UTF-8 replaced (contract §3.1)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace")


def loads_text(text: str, first_error: Exception | None = None):
    """The lenient reading of `loads`, on the text alone: a caller that drops the bytes once it has
    the text holds a big body once while it is parsed, not twice (issue 13, B4)."""
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_int=_number_text, parse_float=_number_text)
        # Lone surrogates can only come from \\uD8xx-style escapes (the bytes were UTF-8).
        return _strip_surrogates(value) if _SURROGATE_ESCAPE.search(text) else value
    except RecursionError:
        raise InvalidJSON("invalid JSON: nested too deeply") from None
    except ValueError as error:
        raise InvalidJSON(f"invalid JSON: {first_error or error}") from None


class InvalidLine:
    """An NDJSON line that is not JSON: rejected as its own item, the other lines go on."""

    def __init__(self, message: str, raw: bytes = b""):
        self.message = message
        self.raw = raw  # kept for the rejected-row sample


class NdjsonItems(list):
    """The items of an NDJSON body (a JSON array body is not a batch envelope; this is)."""


def parse_ndjson(raw: bytes) -> NdjsonItems:
    items = NdjsonItems()
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(loads(line))
        except InvalidJSON as error:
            items.append(InvalidLine(f"line {number}: {error.detail}", line))
    return items
