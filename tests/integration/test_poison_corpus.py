"""Issue 9: the poison corpus. Hostile items through every entry point (a single `/track`, both batch
spellings, NDJSON, gzip, `replay_events` with each file format), and Hypothesis-made ones beside
them. Each answer is JSON and never a 5xx; a batch accounts for every item, each rejected row with a
known code. After each entry point, the pipeline still moves: a normal event and a normal profile
change of *another* project reach ClickHouse (contract §10: no input stops the pipeline).
"""
import gzip
import io
import json
import uuid

import orjson
import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from ingest.pipeline.codes import CODES
from projects.services import create_project
from tests.support import stored
from tests.support.agents import IPHONE_UA
from tests.support.events import track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db

HUGE = b"1" + b"0" * 400
DEEP_OK = b"[" * 900 + b"]" * 900  # under orjson's limit of 1024, over what orjson writes (254)
DEEP = b"[" * 5000 + b"]" * 5000  # beyond both parsers: the body that holds it is not JSON


def _track(properties: bytes, name: bytes = b'"e"', extra: bytes = b"") -> bytes:
    return b'{"type": "track", "payload": {"name": ' + name + b', "properties": ' + properties + extra + b"}}"


def _change(kind: str, payload: bytes) -> bytes:
    return b'{"type": "' + kind.encode() + b'", "payload": ' + payload + b"}"


BLANK_IDS = [b'""', b'"   "', b'"\\u200b"', b'"\\u200b\\u200d\\ufeff"', b'"\\u0000"', b'"\\u0085\\u00a0"', b"null"]
# Items that are JSON (each may stand in any body); every one is a bad row or a good one, never more.
HOSTILE: list[bytes] = [
    *(_change("identify", b'{"profileId": ' + blank + b', "firstName": "Ada"}') for blank in BLANK_IDS),
    *(_change("increment", b'{"profileId": ' + blank + b', "property": "n"}') for blank in BLANK_IDS),
    *(_change("decrement", b'{"profileId": ' + blank + b', "property": "n", "value": 2}') for blank in BLANK_IDS),
    *(_change("assign_group", b'{"profileId": ' + blank + b', "groupIds": ["g"]}') for blank in BLANK_IDS),
    *(_track(b'{"__identify": {"profileId": ' + blank + b', "email": "a@example.com"}}') for blank in BLANK_IDS),
    *(_track(b"{}", extra=b', "profileId": ' + blank) for blank in BLANK_IDS),
    _change("increment", b'{"profileId": "None", "property": "n"}'),
    _change("increment", b'{"profileId": "never-identified", "property": "n"}'),
    _change("identify", b'{"profileId": ' + HUGE + b"}"),
    _change("identify", b'{"profileId": 1e300, "properties": {"n": ' + HUGE + b"}}"),
    _change("increment", b'{"profileId": "p", "property": "n", "value": ' + HUGE + b"}"),
    _change("increment", b'{"profileId": "p", "property": "n", "value": 1e400}'),
    _change("increment", b'{"profileId": "p", "property": "n", "value": 18446744073709551616}'),
    _change("increment", b'{"profileId": "p", "property": "n", "value": -1}'),
    _change("increment", b'{"profileId": "p", "property": "", "value": 1}'),
    _change("group", b'{"id": "", "type": "t", "name": "n"}'),
    _change("group", b'{"id": "g\\u0000", "type": "t", "name": "n", "properties": {"k": ' + HUGE + b"}}"),
    _change("assign_group", b'{"groupIds": []}'),
    _change("assign_group", b'{"groupIds": [1, null, {}]}'),
    _change("alias", b'{"profileId": "a", "alias": "b"}'),
    _change("replay", b"{}"),
    _change("batch", b'[{"type": "track", "payload": {"name": "inner"}}]'),
    _change("nope", b"{}"),
    _change("track", b"null"),
    _change("track", b"[]"),
    _change("track", b'"text"'),
    b'{"type": 5, "payload": {}}',
    b"{}",
    b"[]",
    b"null",
    b"12",
    b'"string"',
    _track(b'{"__timestamp": ' + HUGE + b"}"),
    _track(b'{"__timestamp": -' + HUGE + b"}"),
    _track(b'{"__timestamp": 1e400}'),
    _track(b'{"__timestamp": "' + HUGE + b'"}'),
    _track(b'{"__timestamp": "0000-01-01T00:00:00Z"}'),
    _track(b'{"__timestamp": "9999-12-31T23:59:59Z"}'),
    _track(b'{"__timestamp": -1}'),
    _track(b'{"__timestamp": true}'),
    _track(b'{"__timestamp": {"a": 1}}'),
    _track(b'{"__revenue": ' + HUGE + b"}", name=b'"revenue"'),
    _track(b'{"__revenue": 1e400}', name=b'"revenue"'),
    _track(b'{"__revenue": "-5"}', name=b'"revenue"'),
    _track(b'{"n": ' + HUGE + b', "m": -' + HUGE + b', "e": 1e400, "f": -1e-400, "z": -0}'),
    _track(b'{"n": 18446744073709551616, "s": "\\ud800", "t": "\\udfff\\ud800x"}'),
    _track(b'{"x": "' + b"y" * 70_000 + b'"}'),
    _track(b"{" + b", ".join(b'"k%d": %d' % (i, i) for i in range(600)) + b"}"),
    _track(b'{"": "empty key", ".": "dot", "' + b"k" * 5000 + b'": "long key"}'),
    _track(b'{"k\\u0000ey": "v\\u0000al\\u009b", "\\u202e": "\\u202erlo", "z": "\\u200b"}'),
    _track(b"{}", name=b'"na\\u0000me"'),
    _track(b"{}", name=b'"na\\u0085me"'),
    _track(b"{}", name=b'"\\u200b"'),
    _track(b"{}", name=b'"   "'),
    _track(b"{}", name=b'"' + b"n" * 81 + b'"'),
    _track(b"{}", name=b'"session_start"'),
    _track(b"{}", name=b"12"),
    _track(b"{}", name=b"null"),
    _track(b'{"__deviceId": "\\u200b"}'),
    _track(b'{"__deviceId": "' + b"d" * 65 + b'"}'),
    _track(b'{"__deviceId": {"a": 1}}'),
    _track(b'{"__insertId": ["x"]}'),
    _track(b'{"__insertId": ""}'),
    _track(b'{"__ip": "999.1.1.1"}'),
    _track(b'{"__ip": 12}'),
    _track(b'{"__path": "http://[oops", "__referrer": "http://[::1"}'),
    _track(b'{"__path": "https://a.example/p?q=%00%ff&x=\\u0000#\\u0000"}'),
    _track(b'{"__path": {"a": 1}, "__referrer": [1]}'),
    _track(b'{"__identify": "not an object"}'),
    _track(b'{"__identify": {"profileId": "u", "email": "not an email", "avatar": "javascript:x"}}'),
    _track(b'{"__os": "' + b"o" * 500 + b'", "__device": 7}'),
    _track(b'"properties that are text"'),
    _track(b"{}", extra=b', "groups": [null, "", 7]'),
    _track(b"{}", extra=b', "groups": "g"'),
    _track(b"{}", extra=b', "profileId": ' + HUGE),
    _track(b"{}", extra=b', "profileId": "' + b"p" * 300 + b'"'),
]
# Nested deeper than the standard library's parser goes (Python's recursion limit): fine in a body
# that orjson reads, while it makes a body that goes to json.loads (HUGE does) invalid as a whole.
ALONE: list[bytes] = [_track(b'{"deep": ' + DEEP_OK + b"}")]
# Lines that are not JSON at all: an NDJSON row (or a replayed file's) of their own, or a 400.
NOT_JSON: list[bytes] = [b"{not json", b"NaN", b'{"a": Infinity}', b"\xff\xfe", DEEP, b'{"type": "track"']


def _json_values():
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
        st.sampled_from(["", " ", "\u200b", "\x00", "\x9b", "2025-01-01T00:00:00Z", "http://[oops", "1e400", "None"]),
    )  # fmt: skip
    return st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=10,
    )  # fmt: skip


SPECIALS = ["__timestamp", "__deviceId", "__ip", "__insertId", "__path", "__referrer", "__revenue", "__identify", "__os"]
FIELDS = ["name", "properties", "profileId", "groups", "firstName", "email", "property", "value", "id", "type", "groupIds"]


def _items():
    values = _json_values()
    properties = st.dictionaries(st.sampled_from([*SPECIALS, "x", "y.z"]), values, max_size=5)
    payload = st.one_of(
        st.fixed_dictionaries({"name": st.text(max_size=12), "properties": properties}),
        st.dictionaries(st.sampled_from(FIELDS), values, max_size=6),
        values,
    )
    kinds = st.sampled_from(["track", "identify", "increment", "decrement", "group", "assign_group", "alias", "batch"])
    return st.fixed_dictionaries({"type": kinds, "payload": payload}) | values




# --- how each entry point is reached ---------------------------------------------------------------------
def _answer(response, count: int | None):
    """Every answer is JSON and never a 5xx; a batch's accounts for each of its `count` items."""
    assert response.status_code < 500, response.content[:500]
    body = orjson.loads(response.content)
    if response.status_code == 202 and "bot" not in body:  # a batch (a single /track may hold one too)
        assert count is None or body["accepted"] + len(body["rejected"]) == count, body
        assert all(row["code"] in CODES and row["reason"] == CODES[row["code"]].reason for row in body["rejected"])
    return body


def _post(client, path: str, raw: bytes, content_type="application/json", zipped=False):
    extra = {"HTTP_CONTENT_ENCODING": "gzip"} if zipped else {}
    return client.generic("POST", path, gzip.compress(raw) if zipped else raw, content_type=content_type, **extra)


def send(client, entry: str, items: list[bytes], lines: list[bytes] = ()) -> int:
    """Send `items` (JSON texts) and, where an entry point can carry them, `lines` that are not JSON.
    Returns the status of a batch's answer (0 for single events)."""
    zipped = entry.startswith("gzip")
    if entry in ("single", "gzip_single"):
        for raw in [*items, *lines]:
            _answer(_post(client, "/track", raw, zipped=zipped), None)
        return 0
    if entry in ("batch", "gzip_batch"):
        response = _post(client, "/track/batch", b'{"events": [' + b", ".join(items) + b"]}", zipped=zipped)
    elif entry == "track_batch":
        response = _post(client, "/track", b'{"type": "batch", "payload": [' + b", ".join(items) + b"]}")
    else:  # ndjson, gzip_ndjson
        items = [*items, *lines]
        response = _post(client, "/track/batch", b"\n".join(items) + b"\n", "application/x-ndjson", zipped=zipped)
    _answer(response, len(items))
    return response.status_code


ENTRIES = ["single", "gzip_single", "batch", "gzip_batch", "track_batch", "ndjson", "gzip_ndjson"]


# --- the check after each -----------------------------------------------------------------------------------
@pytest.fixture
def other(db):
    """Another project, whose normal traffic must still flow."""
    project, secret = create_project(f"Bystander {uuid.uuid4().hex[:8]}")
    client = APIClient()
    client.credentials(HTTP_OPENPANEL_CLIENT_ID=str(project.client_id), HTTP_OPENPANEL_CLIENT_SECRET=secret,
                       HTTP_USER_AGENT=IPHONE_UA)  # fmt: skip
    return project, client


def assert_the_pipeline_moves(other) -> None:
    project, client = other
    marker = uuid.uuid4().hex[:10]
    assert client.post("/track", track(f"normal_{marker}"), format="json").status_code == 200
    identify = {"type": "identify", "payload": {"profileId": f"user_{marker}", "firstName": "Normal"}}
    assert client.post("/track", identify, format="json").status_code == 200
    drain()
    assert stored.count(project.id, f"name = 'normal_{marker}'") == 1
    assert stored.profile(project.id, f"user_{marker}")["first_name"] == "Normal"


@pytest.fixture
def hostile_client(client_for):
    return client_for(user_agent=IPHONE_UA)


@pytest.mark.parametrize("entry", ENTRIES)
def test_hostile_items_leave_the_pipeline_moving(hostile_client, project, other, entry):
    # Identified first, so that increments of "p" and "None" are queued rather than refused.
    identify = b", ".join(_change("identify", b'{"profileId": "%s"}' % name) for name in (b"p", b"None"))
    _answer(_post(hostile_client, "/track/batch", b'{"events": [' + identify + b"]}"), 2)
    assert send(hostile_client, entry, HOSTILE, NOT_JSON) in (0, 202)  # together: each item is a row
    for item in [*HOSTILE, *ALONE]:
        send(hostile_client, entry, [item])  # alone: nothing hides behind a neighbour's error
    drain()
    assert_the_pipeline_moves(other)


@pytest.mark.parametrize("entry", ["batch", "gzip_ndjson", "single"])
def test_generated_items_leave_the_pipeline_moving(hostile_client, project, other, entry):
    """Hypothesis makes items of every type with values of every JSON kind, the blanks and controls
    above among them, and sends them as batches of up to 40."""

    @settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.lists(_items(), min_size=1, max_size=40 if entry != "single" else 8))
    def sends(items):
        send(hostile_client, entry, [json.dumps(item).encode() for item in items])  # ints of any size

    sends()
    drain()
    assert_the_pipeline_moves(other)


# --- replay_events ------------------------------------------------------------------------------------------
def _file(tmp_path, shape: str, zipped: bool):
    if shape == "ndjson":
        rows = [*HOSTILE, *ALONE, *NOT_JSON]
        data = b"\n".join(rows) + b"\n"
    else:  # a JSON array or an envelope can only hold JSON values (a syntax error ends the file)
        rows = [*HOSTILE, *ALONE, DEEP]
        inner = b",\n".join(rows)
        data = b"[\n" + inner + b"\n]\n" if shape == "array" else b'{"events": [\n' + inner + b"\n]}\n"
    path = tmp_path / f"hostile.{shape}{'.gz' if zipped else ''}"
    path.write_bytes(gzip.compress(data) if zipped else data)
    return path, len(rows)


@pytest.mark.parametrize("zipped", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("shape", ["ndjson", "array", "envelope"])
def test_hostile_files_replay_to_the_end_and_leave_the_pipeline_moving(project, other, tmp_path, shape, zipped):
    path, count = _file(tmp_path, shape, zipped)
    out = io.StringIO()
    call_command("replay_events", str(path), project=str(project.client_id), user_agent=IPHONE_UA, stdout=out)
    summary = out.getvalue()
    lines = summary.splitlines()
    numbers = {
        label: int(next(line for line in lines if line.startswith(f"  {label} ")).split()[1].replace(",", ""))
        for label in ("events", "accepted", "rejected")
    }
    assert numbers["events"] == count, summary
    assert numbers["accepted"] + numbers["rejected"] == count, summary
    rejected = [orjson.loads(line) for line in path.with_name(path.name + ".rejected.ndjson").read_bytes().splitlines()]
    assert len(rejected) == numbers["rejected"] and all(row["code"] in CODES for row in rejected)
    drain()
    assert_the_pipeline_moves(other)
