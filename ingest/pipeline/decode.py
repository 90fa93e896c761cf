"""JSON as Spool reads it, from any source (request bodies, NDJSON lines, buffered files): lenient
on what can be repaired, strict on what is not JSON (contract §3.1, §10)."""
import json
import math
import re

import orjson

from ingest.pipeline import codes


class InvalidJSON(ValueError):
    """The text is not JSON; `str()` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.detail = message


class TooDeep(InvalidJSON):
    """The text is nested deeper than the parser goes (the standard library's recursion limit)."""


# The deepest item Spool keeps: orjson writes 254 levels and refuses the 255th, and every item is
# serialized by it (prepare's size check). One limit for every parser and every spelling of a batch,
# so that an item's fate never depends on the body around it (issue 17, finding 5).
MAX_DEPTH = 254
TOO_DEEP_MESSAGE = f"item: nested too deeply (more than {MAX_DEPTH} levels)"
# What a rejected item keeps of its text: what a sample shows (8 KiB) and a byte to tell it was cut.
KEPT_BYTES = 8 * 1024 + 1


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
        raise TooDeep("invalid JSON: nested too deeply") from None
    except ValueError as error:
        raise InvalidJSON(f"invalid JSON: {first_error or error}") from None


class InvalidLine:
    """An item that cannot be read (an NDJSON line that is not JSON, an item nested too deeply):
    rejected as its own row with its code, the other items go on."""

    def __init__(self, message: str, raw: bytes = b"", code: str = codes.INVALID_JSON):
        self.message = message
        self.raw = raw  # kept for the rejected-row sample
        self.code = code


def unreadable(error: InvalidJSON, raw: bytes, where: str = "") -> InvalidLine:
    """The row an item that `loads` refused becomes; `where` ("line 3: ") says where it was."""
    if isinstance(error, TooDeep):
        return InvalidLine(TOO_DEEP_MESSAGE, raw[:KEPT_BYTES], codes.TOO_DEEP)
    return InvalidLine(f"{where}{error.detail}", raw)


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
            items.append(unreadable(error, line, f"line {number}: "))
    return items


# --- a body nested too deeply for the parsers ------------------------------------------------------------
def loads_body(raw: bytes):
    """A request body: `loads`, and when that fails for depth, `read_deep`."""
    try:
        return loads(raw)
    except TooDeep:
        return read_deep(text_of(raw))


def loads_body_text(text: str):
    """`loads_body` of a body already read as text (wire.py drops the bytes of a big one first)."""
    try:
        return loads_text(text)
    except TooDeep:
        return read_deep(text)


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?')  # to its end, or to the end of the text
_BRACKETS = re.compile(r"[\[{]+|[\]}]+")  # a run of opening or of closing brackets: one step each
_SPAN = 64  # a stretch this short is stepped through run by run; a longer one is counted first


def end_of_nested(text: str, start: int) -> int | None:
    """Where the array or object that begins at `start` ends (None: not within `text`), found
    without recursion and without parsing what it holds. Between strings, a stretch whose closing
    brackets are fewer than the depth is skipped with two counts (C speed), so a 10 MiB
    `[[[...]]]` costs a few hundred steps, not ten million."""
    depth, pos = 0, start
    while True:
        quote = text.find('"', pos)
        stop = len(text) if quote < 0 else quote
        found, depth = _end_between_strings(text, pos, stop, depth)
        if found is not None:
            return found
        if quote < 0:
            return None
        pos = _STRING.match(text, quote).end()  # type: ignore[union-attr]  # it always matches a quote


def _end_between_strings(text: str, start: int, stop: int, depth: int) -> tuple[int | None, int]:
    """(where the depth falls to 0 in text[start:stop], or None; the depth at `stop`)."""
    pending = [(start, stop)]
    while pending:
        begin, end = pending.pop()
        closes = text.count("]", begin, end) + text.count("}", begin, end)
        if depth > closes:  # it cannot fall to 0 in here
            depth += text.count("[", begin, end) + text.count("{", begin, end) - closes
        elif end - begin > _SPAN:
            middle = (begin + end) // 2
            pending += [(middle, end), (begin, middle)]  # the first half first
        else:
            for match in _BRACKETS.finditer(text, begin, end):
                run = match.end() - match.start()
                if text[match.start()] in "[{":
                    depth += run
                elif depth <= run:
                    return match.start() + depth, 0
                else:
                    depth -= run
    return None, depth


_SPACE = re.compile(r"[ \t\r\n]*")  # JSON's whitespace


def _after_space(text: str, pos: int) -> int:
    found = _SPACE.match(text, pos)
    return found.end() if found else pos

_READER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_number_text, parse_float=_number_text)


def read_deep(text: str):
    """A body the parsers refused for its depth, read without recursion at its top: a batch envelope
    (`{"events": [...]}`, `{"type": "batch", "payload": [...]}`) with each item parsed on its own,
    and an item nested too deeply as an InvalidLine (code too_deep) in its place, so that its
    neighbours go on (contract §4). Any other body is one item, too deep: an InvalidLine.
    Raises InvalidJSON when the body is not JSON at all."""
    reader = _TopLevel(text)
    if reader.peek() != "{":
        raise TooDeep("invalid JSON: nested too deeply")
    members = reader.members()
    events, payload = members.get("events"), members.get("payload")
    if isinstance(events, list) or (members.get("type") == "batch" and isinstance(payload, list)):
        return members
    return InvalidLine(TOO_DEEP_MESSAGE, text[:KEPT_BYTES].encode("utf-8", "replace"), codes.TOO_DEEP)


class _TopLevel:
    """The top-level object of a text, member by member; an array member item by item."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        self.pos = _after_space(self.text, self.pos)
        return self.text[self.pos : self.pos + 1]

    def expect(self, allowed: str) -> str:
        found = self.peek()
        if not found or found not in allowed:
            wanted = " or ".join(f"'{char}'" for char in allowed)
            raise InvalidJSON(f"invalid JSON: expected {wanted} at character {self.pos}")
        self.pos += 1
        return found

    def members(self) -> dict:
        self.expect("{")
        found: dict = {}
        if self.peek() == "}":
            self.pos += 1
        else:
            while True:
                key = self.value()
                if not isinstance(key, str):
                    raise InvalidJSON(f"invalid JSON: expected a key at character {self.pos}")
                self.expect(":")
                found[key] = self.items() if self.peek() == "[" else self.value()
                if self.expect(",}") == "}":
                    break
        if self.peek():
            raise InvalidJSON(f"invalid JSON: extra data at character {self.pos}")
        return found

    def items(self) -> list:
        self.expect("[")
        found: list = []
        if self.peek() == "]":
            self.pos += 1
            return found
        while True:
            found.append(self.value())
            if self.expect(",]") == "]":
                return found

    def value(self):
        """The next value, parsed on its own; an InvalidLine (too_deep) when it is nested too deeply."""
        start = self.pos = _after_space(self.text, self.pos)
        try:
            value, self.pos = _READER.raw_decode(self.text, start)
            return _strip_surrogates(value) if _SURROGATE_ESCAPE.search(self.text, start, self.pos) else value
        except RecursionError:
            end = end_of_nested(self.text, start)
            if end is None:
                raise TooDeep("invalid JSON: nested too deeply, without an end") from None
            self.pos = end
            return InvalidLine(TOO_DEEP_MESSAGE, self.text[start : min(end, start + KEPT_BYTES)].encode(
                "utf-8", "replace"), codes.TOO_DEEP)  # fmt: skip
        except ValueError as error:
            raise InvalidJSON(f"invalid JSON: {error}") from None
