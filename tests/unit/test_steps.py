"""The steps of preparing a track event (ingest/pipeline/steps.py), each a table: what it reads of the
item and the request, what it writes on the draft, or the error (message, code) it refuses with.
The request is received at a fixed time: the steps take the clock as the request's received time."""
import pytest

from ingest.pipeline import codes, steps
from ingest.pipeline.request import RequestMemo, sender_info
from ingest.pipeline.serializers import ItemError
from projects.auth import ProjectContext
from tests.support.agents import BROWSER_UA
from tests.support.events import iso

RECEIVED = 1_767_268_800_123  # 2026-01-01T12:00:00.123Z
HOUR, DAY = 3_600_000, 86_400_000
IP = "81.2.69.142"
PROJECT = ProjectContext(
    id="steps", client_id="c", secret_hash="", origins=(), ignore_cors_and_secret=False, backfill_days=5,
    current_salt="salt-now", previous_salt="salt-before",
)  # fmt: skip


def _memo(user_agent: str = BROWSER_UA, skew_ms: int = 0, exported_ids: bool = False, max_keys: int = 500):
    info = sender_info(RECEIVED, IP, user_agent)
    info.clock_skew_ms, info.exported_ids = skew_ms, exported_ids
    return RequestMemo(PROJECT, info, max_keys=max_keys)


def _run(step, specials=None, payload=None, name="e", ordinary=None, draft=None, **memo):
    draft = draft or steps.TrackDraft(name)
    parts = steps.Parts(payload or {"name": name}, specials or {}, ordinary or {})
    try:
        step(draft, parts, _memo(**memo))
    except ItemError as error:
        return str(error), error.code
    return draft


def _fields(draft, names: str) -> tuple:
    return tuple(getattr(draft, name) for name in names.split())


@pytest.mark.parametrize("specials, memo, expected", [
    ({}, {}, (RECEIVED, False, 0, 0, False)),
    ({"__timestamp": iso(RECEIVED - HOUR)}, {}, (RECEIVED - HOUR, True, RECEIVED - HOUR, 0, False)),
    ({"__timestamp": RECEIVED - HOUR}, {}, (RECEIVED - HOUR, True, RECEIVED - HOUR, 0, False)),
    ({"__timestamp": iso(RECEIVED - HOUR)}, {"skew_ms": 60_000}, (RECEIVED - HOUR + 60_000, True, RECEIVED - HOUR, 60_000, True)),
    ({"__timestamp": iso(RECEIVED + 2 * HOUR)}, {}, (RECEIVED, True, RECEIVED + 2 * HOUR, 0, False)),  # clamped, same day
    ({"__timestamp": iso(RECEIVED + 13 * HOUR)}, {}, (RECEIVED, True, RECEIVED + 13 * HOUR, 0, True)),  # clamped from tomorrow
])  # fmt: skip
def test_event_time(specials, memo, expected):
    assert _fields(_run(steps.event_time_step, specials, **memo), "ts timed sent_ms skew_ms keep_sent") == expected


@pytest.mark.parametrize("value, expected", [
    ("yesterday", ("properties.__timestamp: invalid timestamp", codes.INVALID_TIMESTAMP)),
    (True, ("properties.__timestamp: invalid timestamp", codes.INVALID_TIMESTAMP)),
])  # fmt: skip
def test_event_time_refusals(value, expected):
    assert _run(steps.event_time_step, {"__timestamp": value}) == expected


def test_event_time_too_old():
    message, code = _run(steps.event_time_step, {"__timestamp": iso(RECEIVED - 6 * DAY)})
    assert code == codes.TOO_OLD and "older than" in message


@pytest.mark.parametrize("specials, ip, located", [
    ({}, IP, False),
    ({"__ip": IP}, IP, False),
    ({"__ip": "2001:db8::1"}, "2001:db8::1", True),
])  # fmt: skip
def test_ip(specials, ip, located):
    draft = _run(steps.ip_step, specials)
    assert draft.ip == ip and (draft.geo is not None) == located


@pytest.mark.parametrize("value", ["999.1.1.1", 12, "local"])
def test_ip_refusals(value):
    assert _run(steps.ip_step, {"__ip": value}) == ("properties.__ip: invalid IP address", codes.INVALID_FIELD)


def test_device():
    own = _run(steps.device_step, {"__deviceId": " dev-1 "})
    assert _fields(own, "candidates own_device") == (("dev-1", "dev-1"), "dev-1")
    derived = _run(steps.device_step, {}, draft=steps.TrackDraft("e", ip=IP))
    assert derived.candidates == _memo().device_candidates(IP) and derived.own_device == ""
    assert len(set(derived.candidates)) == 2  # one id under each salt


@pytest.mark.parametrize("value", ["   ", "d" * 65, {"a": 1}, True, "\u200b"])
def test_device_refusals(value):
    message = "properties.__deviceId: must be a string of 1 to 64 characters"
    assert _run(steps.device_step, {"__deviceId": value}) == (message, codes.INVALID_FIELD)


@pytest.mark.parametrize("name, ordinary, specials, expected", [
    ("e", {"a": {"b": 1}, "c": [True, None]}, {}, ({"a.b": "1", "c.0": "true"}, None, None, None)),
    ("e", {}, {"__path": "/shop?utm_source=news"}, ({"__query.utm_source": "news"}, ("", "/shop"), None, None)),
    ("e", {}, {"__path": "https://app.example.com/a", "__referrer": "https://www.google.com/search?q=x"},
     ({}, ("https://app.example.com", "/a"), ("https://www.google.com/search?q=x", "Google", "search"), None)),
    ("e", {}, {"__referrer": " "}, ({}, None, None, None)),
    ("revenue", {}, {"__revenue": "1200"}, ({}, None, None, 1200)),
    ("e", {}, {"__revenue": "1200"}, ({}, None, None, None)),  # only the event named revenue has one
])  # fmt: skip
def test_properties(name, ordinary, specials, expected):
    draft = _run(steps.properties_step, specials, name=name, ordinary=ordinary)
    assert _fields(draft, "properties location referrer revenue") == expected


@pytest.mark.parametrize("name, ordinary, specials, max_keys, expected", [
    ("e", {"a": float("inf")}, {}, 500, ("properties.a: number out of range", codes.INVALID_FIELD)),
    ("e", {"a": 1, "b": 2, "c": 3, "d": 4}, {}, 3, ("properties: more than 3 keys after flattening", codes.TOO_LARGE)),
    ("e", {"a": 1, "b": 2, "c": 3}, {"__path": "/p?x=1"}, 3,
     ("properties: more than 3 keys after flattening", codes.TOO_LARGE)),  # the path's query counts
    ("revenue", {}, {"__revenue": 1.5}, 500,
     ("properties.__revenue: expected a whole number from 0 to 2^63 - 1", codes.INVALID_FIELD)),
])  # fmt: skip
def test_properties_refusals(name, ordinary, specials, max_keys, expected):
    assert _run(steps.properties_step, specials, name=name, ordinary=ordinary, max_keys=max_keys) == expected


def test_agent_overrides():
    assert _run(steps.agent_step, {}).agent is None
    agent = _run(steps.agent_step, {"__os": "Plan9", "__model": "x" * 200}).agent
    request_agent = _memo().info.agent.fields()
    assert agent == {**request_agent, "os": "Plan9", "model": "x" * 128}
    assert _run(steps.agent_step, {"__os": "Plan9"}, user_agent="python-requests/2.32.3").agent is None  # a server


@pytest.mark.parametrize("payload, specials, expected", [
    ({"profileId": "u-1"}, {}, ("u-1", None, None)),
    ({"profileId": None, "groups": ["g1", "", "g2"]}, {}, (None, ["g1", "g2"], None)),
    ({"groups": [""]}, {}, (None, [], None)),
    ({"profileId": "u-1"}, {"__identify": {"profileId": "u-2"}}, ("u-2", None, None)),
    ({}, {"__identify": {"profileId": 7, "firstName": " Ida "}},
     ("7", None, {"type": "identify", "profile_id": "7", "first_name": "Ida"})),
])  # fmt: skip
def test_profile(payload, specials, expected):
    assert _fields(_run(steps.profile_step, specials, payload=payload), "profile_id groups identify") == expected


@pytest.mark.parametrize("value, expected", [
    ("x", ("properties.__identify: expected an object with profileId", codes.INVALID_FIELD)),
    ({"firstName": "A"}, ("properties.__identify.profileId: this field is required", codes.INVALID_PROFILE_ID)),
])  # fmt: skip
def test_profile_refusals(value, expected):
    assert _run(steps.profile_step, {"__identify": value}) == expected


EXPORTED = "spool:0b5e5f3c-8f0c-4d4e-9b8e-2f1f4b0c1a2b"


@pytest.mark.parametrize("specials, exported_ids, expected", [
    ({}, False, ("", "")),
    ({"__insertId": " ins-1 "}, False, ("ins-1", "")),
    ({"__insertId": EXPORTED}, False, (EXPORTED, "")),  # a client cannot name a row id
    ({"__insertId": EXPORTED}, True, (EXPORTED, EXPORTED.removeprefix("spool:"))),
])  # fmt: skip
def test_insert_id(specials, exported_ids, expected):
    assert _fields(_run(steps.insert_id_step, specials, exported_ids=exported_ids), "insert_id exported_id") == expected


SESSION_REFUSAL = ("properties.__sessionId: must be a string of 1 to 128 printable characters", codes.INVALID_SESSION_ID)


@pytest.mark.parametrize("specials, expected", [
    ({}, ""),
    ({"__sessionId": "s-1"}, "s-1"),
    ({"__sessionId": " kept as sent "}, " kept as sent "),
    ({"__sessionId": "x" * 128}, "x" * 128),
])  # fmt: skip
def test_session_id(specials, expected):
    assert _run(steps.session_step, specials).client_session == expected


@pytest.mark.parametrize("value", ["", "   ", "\u200b", "x" * 129, "tab\there", 42, None, ["s"]])
def test_session_id_refused(value):
    assert _run(steps.session_step, {"__sessionId": value}) == SESSION_REFUSAL


def test_the_queued_event_keeps_its_keys_in_their_stored_order():
    draft = steps.TrackDraft(
        "e", ts=5, keep_sent=True, sent_ms=4, geo={"country": "", "city": "", "region": "", "latitude": None,
        "longitude": None}, properties={"a": "1"}, location=("o", "/p"), referrer=("r", "n", "t"), revenue=0,
        profile_id="u", groups=[],
    )  # fmt: skip
    assert list(draft.event()) == [
        "type", "name", "ts", "sent", "geo", "origin", "path", "referrer", "referrer_name", "referrer_type",
        "properties", "revenue", "profile_id", "groups",
    ]  # fmt: skip
    assert list(steps.TrackDraft("e", ts=5).event()) == ["type", "name", "ts", "properties"]
