"""Issue 17, finding 5: an item nested too deeply is a bad row of its own, whatever the depth, the
batch spelling and the parser that reads the body (orjson for bodies up to 1 MiB; the standard
library for bigger ones, and for any body orjson refuses, e.g. one with a lone surrogate). Its
neighbours are accepted; a single event that deep is a 400 that says so."""
import gzip
import time
import tracemalloc

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.pipeline import decode
from tests.support import stored
from tests.support.events import track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db

LIMIT = 254  # the deepest item Spool keeps: what orjson writes
TOO_DEEP = {"reason": "validation", "code": "too_deep", "error": f"item: nested too deeply (more than {LIMIT} levels)"}
# An item is 3 levels before its properties' values: the envelope, the payload, the properties.
DEPTHS = [LIMIT, LIMIT + 1, 500, 999, 1_025, 5_000, 100_000]
# Where the body goes: orjson (small), the standard library (over 1 MiB, or a lone surrogate in a neighbour).
PARSERS = ["orjson", "big body", "lone surrogate"]
SPELLINGS = ["/track/batch", "/track batch", "ndjson", "gzip ndjson"]


def deep_item(depth: int, kind: str = "list", parser: str = "orjson") -> bytes:
    """A track event `depth` levels deep, counting the event itself; with a lone surrogate in it for
    the parser "lone surrogate" (orjson refuses it: the standard library reads it)."""
    levels = depth - 3
    if kind == "list":
        value = b"[" * levels + b"1" + b"]" * levels
    else:
        value = b'{"a":' * levels + b"1" + b"}" * levels
    odd = b'"s":"a\\ud800b",' if parser == "lone surrogate" else b""
    return b'{"type":"track","payload":{"name":"deep","properties":{' + odd + b'"x":' + value + b"}}}"


def neighbour(name: str, parser: str) -> bytes:
    if parser == "lone surrogate":
        return b'{"type":"track","payload":{"name":"%s","properties":{"s":"a\\ud800b"}}}' % name.encode()
    return orjson.dumps(track(name))


def body(spelling: str, items: list[bytes], parser: str) -> tuple[str, bytes, str, dict]:
    """(path, body, content type, headers) of a batch of `items` as `spelling` sends it."""
    padding = b',"padding":"' + b"p" * (1024 * 1024 + 10) + b'"' if parser == "big body" else b""
    if spelling == "/track/batch":
        return "/track/batch", b'{"events":[' + b",".join(items) + b"]" + padding + b"}", "application/json", {}
    if spelling == "/track batch":
        raw = b'{"type":"batch","payload":[' + b",".join(items) + b"]" + padding + b"}"
        return "/track", raw, "application/json", {}
    lines = b"\n".join(items) + b"\n"  # NDJSON reads each line on its own, so a big body changes nothing
    if spelling == "gzip ndjson":
        return "/track/batch", gzip.compress(lines), "application/x-ndjson", {"HTTP_CONTENT_ENCODING": "gzip"}
    return "/track/batch", lines, "application/x-ndjson", {}


def post(api, spelling: str, items: list[bytes], parser: str):
    path, raw, content_type, headers = body(spelling, items, parser)
    return api.generic("POST", path, raw, content_type=content_type, **headers)


# Every spelling with every parser that can read its items (an NDJSON line is read on its own: the
# size of the body around it changes nothing; a line over 1 MiB is tested below).
WAYS = [(spelling, parser) for spelling in SPELLINGS for parser in PARSERS
        if not (parser == "big body" and "ndjson" in spelling)]  # fmt: skip


@pytest.mark.parametrize(("spelling", "parser"), WAYS)
@pytest.mark.parametrize("depth", DEPTHS)
def test_a_deep_item_is_rejected_alone_and_its_neighbours_are_accepted(api, project, spelling, parser, depth):
    items = [neighbour("before", parser), deep_item(depth, parser=parser), neighbour("after", parser)]
    answer = post(api, spelling, items, parser)
    assert answer.status_code == 202, answer.content[:300]
    result = answer.json()
    if depth <= LIMIT:
        assert result == {"accepted": 3, "rejected": []}
    else:
        assert result == {"accepted": 2, "rejected": [{"index": 1, **TOO_DEEP}]}


def test_an_ndjson_line_over_one_mib_of_nesting_is_rejected_alone(api, project):
    items = [neighbour("before", "orjson"), deep_item(700_000), neighbour("after", "orjson")]
    assert len(items[1]) > 1024 * 1024  # read by the standard library
    assert post(api, "ndjson", items, "orjson").json() == {"accepted": 2, "rejected": [{"index": 1, **TOO_DEEP}]}


@pytest.mark.parametrize("kind", ["list", "object"])
@pytest.mark.parametrize("parser", PARSERS)
def test_the_neighbours_of_a_deep_item_are_stored(api, project, parser, kind):
    items = [neighbour("before", parser), deep_item(2_000, kind, parser), neighbour("after", parser)]
    result = post(api, "/track/batch", items, parser).json()
    assert result == {"accepted": 2, "rejected": [{"index": 1, **TOO_DEEP}]}
    drain()
    events = stored.events(project.id, "name NOT IN ('session_start', 'session_end')")
    assert sorted(row["name"] for row in events) == ["after", "before"]


@pytest.mark.parametrize("depth", [LIMIT + 1, 999, 1_030, 100_000])
def test_a_deep_single_event_is_a_400_that_says_so(api, project, depth):
    answer = api.generic("POST", "/track", deep_item(depth), content_type="application/json")
    assert answer.status_code == 400
    assert answer.json() == {"error": "validation", "message": TOO_DEEP["error"], "code": "too_deep"}


def test_a_deep_value_outside_the_events_fails_only_what_holds_it(api, project):
    """A deep `sentAt` is a bad sentAt (the whole batch, as any bad sentAt); a deep unknown key changes nothing."""
    deep = b"[" * 3000 + b"]" * 3000
    items = b'{"events":[' + orjson.dumps(track("ok")) + b"]"
    answer = api.generic("POST", "/track/batch", items + b',"extra":' + deep + b"}", content_type="application/json")
    assert answer.json() == {"accepted": 1, "rejected": []}
    answer = api.generic("POST", "/track/batch", items + b',"sentAt":' + deep + b"}", content_type="application/json")
    assert answer.status_code == 400 and "sentAt" in answer.json()["message"]
    answer = api.generic("POST", "/track/batch", deep, content_type="application/json")
    assert answer.status_code == 400 and "nested too deeply" in answer.json()["message"]


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.one_of(st.none(), st.integers(LIMIT - 2, LIMIT + 2), st.integers(4, 3_000)), min_size=1, max_size=12),
    st.sampled_from(["list", "object"]),
    st.sampled_from(PARSERS),
    st.sampled_from(SPELLINGS[:3]),
)
def test_exactly_the_items_deeper_than_the_limit_are_rejected(api, project, depths, kind, parser, spelling):
    items = [neighbour(f"e{i}", parser) if depth is None else deep_item(depth, kind, parser)
             for i, depth in enumerate(depths)]  # fmt: skip
    result = post(api, spelling, items, parser).json()
    deep = [i for i, depth in enumerate(depths) if depth is not None and depth > LIMIT]
    assert [row["index"] for row in result["rejected"]] == deep
    assert all({key: row[key] for key in TOO_DEEP} == TOO_DEEP for row in result["rejected"])
    assert result["accepted"] == len(depths) - len(deep)


# --- what reading such a body costs ------------------------------------------------------------------------
TEN_MIB = 10 * 1024 * 1024


def _bodies() -> dict[str, bytes]:
    nested = b"[" * (TEN_MIB // 2 - 20) + b"]" * (TEN_MIB // 2 - 20)
    # Deeper than the parsers go, then wide at that depth: many brackets between the item's ends.
    wide = b"[" * 1_200 + b"[]," * (TEN_MIB // 3 - 1_000) + b"1" + b"]" * 1_200
    return {"nested": b'{"events":[' + nested + b"]}", "deep then wide": b'{"events":[' + wide + b"]}"}


def test_a_ten_mib_body_of_nesting_costs_a_bounded_multiple_of_its_size(api, project):
    for name, raw in _bodies().items():
        text = decode.text_of(raw)
        started = time.process_time()  # CPU time: what other processes do on the machine does not count
        result = decode.loads_body_text(text)
        seconds = time.process_time() - started
        assert result["events"][0].code == "too_deep", name
        assert seconds < 1.0, (name, seconds)  # about 0.1 s: a few hundred counting steps, no objects
        tracemalloc.start()
        decode.loads_body_text(text)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < TEN_MIB // 10, (name, peak)  # beyond the text itself: no tree is built
        answer = api.generic("POST", "/track/batch", raw, content_type="application/json")
        assert answer.json() == {"accepted": 0, "rejected": [{"index": 0, **TOO_DEEP}]}, name
