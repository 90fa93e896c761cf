"""Issue 9, finding 3 (contract §5): a number beyond what a column or a float holds is a bad row where
it means something (`__timestamp`, `__revenue`, `value`) and a plain string property elsewhere. Never
a 5xx, whichever parser read the body, and never a queue that cannot be written."""
import pytest

from tests.support import stored
from tests.support.events import now_ms
from tests.support.worker import drain

pytestmark = pytest.mark.django_db

HUGE = "1" + "0" * 400  # a 400-digit integer
# A lone surrogate, or a body over 1 MiB, sends a body to the standard library's parser.
SURROGATE = '"\\ud800"'
PADDING = " " * (1024 * 1024)


def body_with(envelope: str, huge: str = HUGE, stdlib: str = "") -> bytes:
    """`envelope` with `huge` where it says {n}; `stdlib` adds what sends the body to json.loads: a
    key holding a lone surrogate (unknown keys are ignored), or padding to over 1 MiB."""
    text = envelope.replace("{n}", huge)
    if stdlib == "surrogate":
        text = '{"odd": ' + SURROGATE + ", " + text[1:]
    elif stdlib == "big":
        text += PADDING
    return text.encode()


def post(api, path: str, raw: bytes):
    return api.generic("POST", path, raw, content_type="application/json")


MEANINGFUL = [
    ('{"type": "track", "payload": {"name": "t", "properties": {"__timestamp": {n}}}}', "invalid_timestamp"),
    ('{"type": "track", "payload": {"name": "revenue", "properties": {"__revenue": {n}}}}', "invalid_field"),
    ('{"type": "increment", "payload": {"profileId": "p1", "property": "visits", "value": {n}}}', "invalid_field"),
    ('{"type": "decrement", "payload": {"profileId": "p1", "property": "visits", "value": {n}}}', "invalid_field"),
]


@pytest.mark.parametrize("stdlib", ["", "surrogate"])
@pytest.mark.parametrize("huge", [HUGE, "-" + HUGE, "1e400", "9" * 5000])
@pytest.mark.parametrize("envelope, code", MEANINGFUL)
def test_a_huge_number_with_a_meaning_is_a_bad_row(api, project, envelope, code, huge, stdlib):
    assert post(api, "/track", b'{"type": "identify", "payload": {"profileId": "p1"}}').status_code == 200
    single = post(api, "/track", body_with(envelope, huge, stdlib))
    assert single.status_code == 400, single.content
    assert single.json()["code"] == code

    batch = '{"events": [' + envelope + ', {"type": "track", "payload": {"name": "fine"}}]}'
    answer = post(api, "/track/batch", body_with(batch, huge, stdlib))
    assert answer.status_code == 202, answer.content
    assert answer.json()["accepted"] == 1
    assert [(row["index"], row["code"]) for row in answer.json()["rejected"]] == [(0, code)]


@pytest.mark.parametrize("stdlib", ["", "surrogate", "big"])
def test_huge_numbers_elsewhere_are_plain_string_properties(api, project, stdlib):
    envelope = (
        '{"events": [{"type": "track", "payload": {"name": "big_numbers", "properties": '
        '{"__timestamp": {ts}, "__deviceId": "d1", "huge": {n}, "negative": -{n}, "exponent": 1e400, '
        '"beyond64": 18446744073709551616, "max64": 18446744073709551615, "list": [{n}]}}}]}'
    ).replace("{ts}", str(now_ms() - 60_000))
    response = post(api, "/track/batch", body_with(envelope, stdlib=stdlib))
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 1, "rejected": []}
    drain()
    [row] = stored.events(project.id, "name = 'big_numbers'")
    properties = row["properties"]
    assert properties["huge"] == HUGE and properties["negative"] == "-" + HUGE
    assert properties["list.0"] == HUGE and properties["exponent"] == "1e400"
    assert properties["max64"] == "18446744073709551615"
    assert properties["beyond64"] == "1.8446744073709552e+19"  # what orjson reads, whichever parser read it


@pytest.mark.parametrize("stdlib", ["surrogate", "big"])
def test_integers_beyond_64_bits_never_fail_at_enqueue(api, project, stdlib):
    """orjson cannot write an int beyond 64 bits: a body the standard library read used to answer 500
    when such an int reached a buffer (a single event, a profile change)."""
    assert post(api, "/track", b'{"type": "identify", "payload": {"profileId": "p2"}}').status_code == 200
    items = [
        '{"type": "track", "payload": {"name": "single", "properties": {"n": 18446744073709551616}}}',
        '{"type": "increment", "payload": {"profileId": "p2", "property": "score", "value": 36893488147419103232}}',
        '{"type": "identify", "payload": {"profileId": 1180591620717411303424, "properties": {"n": 18446744073709551617}}}',
    ]
    for item in items:
        response = post(api, "/track", body_with(item, stdlib="surrogate"))
        assert response.status_code in (200, 400), response.content
    batch = post(api, "/track/batch", body_with('{"events": [' + ", ".join(items) + "]}", stdlib=stdlib))
    assert batch.status_code == 202, batch.content
    drain()
    assert stored.count(project.id, "name = 'single'") == 2
    assert stored.profile(project.id, "p2")["properties"]["score"] == repr(2 * 36893488147419103232.0)

