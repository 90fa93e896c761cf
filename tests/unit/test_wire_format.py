import gzip
import io

import pytest

from ingest.api.wire import InvalidEncoding, PayloadTooLarge, read_body
from ingest.pipeline.decode import InvalidJSON, loads, parse_ndjson


def body(data: bytes, gzipped=False, limit=1000):
    meta = {"CONTENT_LENGTH": str(len(data))}
    if gzipped:
        meta["HTTP_CONTENT_ENCODING"] = "gzip"
    return read_body(io.BytesIO(data), meta, limit)


def test_plain_and_gzip_bodies():
    assert body(b"abc") == b"abc"
    assert body(gzip.compress(b"abc"), gzipped=True) == b"abc"


def test_limits_apply_to_the_decompressed_size():
    assert body(b"x" * 1000) == b"x" * 1000
    with pytest.raises(PayloadTooLarge):
        body(b"x" * 1001)
    with pytest.raises(PayloadTooLarge):
        body(gzip.compress(b"x" * 1001), gzipped=True)


def test_corrupt_and_truncated_gzip():
    with pytest.raises(InvalidEncoding):
        body(b"garbage", gzipped=True)
    with pytest.raises(InvalidEncoding):
        body(gzip.compress(b"x" * 500)[:-10], gzipped=True)


def test_lone_surrogates_and_invalid_utf8_are_repaired_not_fatal():
    assert loads(b'{"a": "x\\ud800y"}') == {"a": "xy"}
    assert loads(b'{"a": "\xff"}') == {"a": "\ufffd"}


@pytest.mark.parametrize("raw", [b"NaN", b'{"a": Infinity}', b"{", b"[" * 10_000 + b"]" * 10_000])
def test_not_json(raw):
    with pytest.raises(InvalidJSON):
        loads(raw)


def test_huge_numbers_become_infinite_floats():
    # 1e400 is valid JSON; it is refused later, where the field is known (a property, a timestamp).
    assert loads(b"[1e400]") == [float("inf")]


def test_ndjson_lines():
    items = parse_ndjson(b'{"a": 1}\n\n  \n{bad\n[1]\n')
    assert items[0] == {"a": 1}
    assert items[1].message.startswith("line 4: invalid JSON")
    assert items[2] == [1]
