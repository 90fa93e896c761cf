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


def test_corrupt_and_truncated_gzip_after_a_good_member():
    whole = gzip.compress(b"x" * 500)
    for bad in [whole + b"trailing", whole + b"\x00" * 8, whole + whole[:-10], whole + gzip.compress(b"y")[:5]]:
        with pytest.raises(InvalidEncoding):
            body(bad, gzipped=True)


def test_every_gzip_member_is_read_and_the_limit_holds_across_them():
    members = gzip.compress(b"a" * 300) + gzip.compress(b"") + gzip.compress(b"b" * 300)
    assert body(members, gzipped=True) == b"a" * 300 + b"b" * 300
    with pytest.raises(PayloadTooLarge):
        body(gzip.compress(b"a" * 600) * 2, gzipped=True)


@pytest.mark.parametrize(
    "raw, value",
    [
        (b"9223372036854775807", 2**63 - 1),
        (b"-9223372036854775808", -(2**63)),
        (b"18446744073709551615", 2**64 - 1),  # what orjson reads as an int, and writes
        (b"18446744073709551616", 1.8446744073709552e19),  # beyond 64 bits: a float, as orjson reads it
        (b"-9223372036854775809", -9.223372036854776e18),
        (b"1" + b"0" * 400, "1" + "0" * 400),  # beyond a float: the literal text
        (b"9" * 5000, "9" * 5000),  # beyond even int()'s 4300 digits
        (b"1e400", "1e400"),
        (b"-1.5e999", "-1.5e999"),
        (b"1.5", 1.5),
    ],
)
def test_numbers_are_read_as_orjson_would_and_never_beyond_64_bits(raw, value):
    """Both parsers give the same values, and no int that orjson cannot write reaches the queue
    (issue 9, finding 3): the stdlib parser reads bodies over 1 MiB and those with lone surrogates."""
    for text in [b"[" + raw + b"]", b"[" + raw + rb', "\ud800"]', b"[" + raw + b"]" + b" " * (1024 * 1024)]:
        assert loads(text)[0] == value


def test_ndjson_lines():
    items = parse_ndjson(b'{"a": 1}\n\n  \n{bad\n[1]\n')
    assert items[0] == {"a": 1}
    assert items[1].message.startswith("line 4: invalid JSON")
    assert items[2] == [1]
