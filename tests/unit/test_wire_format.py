import gzip
import io

import pytest

from ingest.api.wire import InvalidEncoding, PayloadTooLarge, read_body
from ingest.pipeline.decode import (
    TOO_DEEP_MESSAGE,
    InvalidJSON,
    InvalidLine,
    end_of_nested,
    loads,
    loads_body,
    parse_ndjson,
    read_deep,
)


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


# --- bodies nested too deeply for the parsers (issue 17, finding 5) --------------------------------------
DEEP = "[" * 3000 + "]" * 3000


@pytest.mark.parametrize(
    ("text", "end"),
    [
        ("[]", 2), ("[[1],[2]] , 3", 9), ('{"a": "]}", "b": [1]}x', 21), ('["\\"]", 1]', 10),
        ("[" * 5000 + "]" * 5000 + "]]", 10_000), ("[" * 300 + "[]," * 1000 + "1" + "]" * 300 + ",", 3601),
        ("[[", None), ('["unterminated', None),
    ],
)  # fmt: skip
def test_end_of_nested_finds_where_a_value_ends_without_parsing_it(text, end):
    assert end_of_nested(text, 0) == end


def test_read_deep_keeps_the_items_it_can_read_and_marks_the_deep_one():
    body = read_deep('{"sentAt": 5, "events": [{"a": 1}, ' + DEEP + ', "\\ud800x"], "extra": {"k": ' + DEEP + "}}")
    assert body["sentAt"] == 5 and body["events"][0] == {"a": 1} and body["events"][2] == "x"
    assert isinstance(body["events"][1], InvalidLine) and body["events"][1].code == "too_deep"
    assert body["events"][1].message == TOO_DEEP_MESSAGE and body["events"][1].raw.startswith(b"[[[")
    assert isinstance(body["extra"], InvalidLine)


def test_read_deep_makes_a_body_that_is_no_batch_one_bad_item():
    single = read_deep('{"type": "track", "payload": {"name": "x", "properties": {"p": ' + DEEP + "}}}")
    assert isinstance(single, InvalidLine) and single.code == "too_deep"
    assert isinstance(read_deep('{"type": "batch", "payload": [' + DEEP + "]}")["payload"][0], InvalidLine)


@pytest.mark.parametrize("text", [DEEP, '{"events": [' + DEEP + "]", '{"events": [' + DEEP + "]} x", '{"events": [1,]}',
                                  '{"events": [NaN]}', '{5: 1}', '{"events": ["[[[[' + "[" * 3000])  # fmt: skip
def test_read_deep_refuses_what_is_not_json(text):
    with pytest.raises(InvalidJSON):
        read_deep(text)


def test_an_item_too_deep_for_both_parsers_is_a_bad_row_of_its_own():
    body = loads_body(('{"events": [1, ' + DEEP + ", 2]}").encode())
    assert body["events"][0] == 1 and body["events"][2] == 2 and body["events"][1].code == "too_deep"
    [line] = parse_ndjson(DEEP.encode())
    assert (line.code, line.message) == ("too_deep", TOO_DEEP_MESSAGE)
