"""Spec §4: batches. The envelope is checked whole; each item is validated and stored on its own."""
import gzip

import orjson
import pytest

from tests.support import stored
from tests.support.events import at, now_ms, track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db


def post_batch(api, body, path="/track/batch", **extra):
    return api.post(path, body, format="json", **extra)


@pytest.mark.parametrize(
    "path, body",
    [
        *(("/track/batch", body) for body in [{}, {"events": []}, {"events": "nope"}, {"events": {"a": 1}}, [], [{"type": "track"}], 7]),
        *(("/track", {"type": "batch", "payload": payload}) for payload in [None, [], "nope", {"a": 1}]),
    ],
)
def test_bad_envelope_is_400_invalid_batch_and_stores_nothing(api, project, path, body):
    """Valid JSON with a wrong envelope has its own code: `invalid_json` is for what is not JSON (finding 13)."""
    response = post_batch(api, body, path)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_batch"
    drain()
    assert stored.count(project.id) == 0



def test_2001_events_is_400_and_stores_nothing(api, project):
    response = post_batch(api, {"events": [track("e")] * 2001})
    assert response.status_code == 400
    assert "2001" in response.json()["message"]
    drain()
    assert stored.count(project.id) == 0


def test_2000_events_are_accepted(api, project):
    base = now_ms() - 3_600_000
    body = {"events": [at("e", base + i, device=f"d{i % 20}") for i in range(2000)]}
    response = post_batch(api, body)
    assert response.status_code == 202
    assert response.json() == {"accepted": 2000, "rejected": []}
    drain()
    assert stored.count(project.id, "name = 'e'") == 2000


def test_body_over_10_mib_is_413(api, project):
    filler = "x" * 6000
    events = [track("e", blob=filler)] * 1800  # ~11 MB of JSON
    response = api.generic(
        "POST", "/track/batch", orjson.dumps({"events": events}), content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_gzip_bomb_is_413_while_decompressing(api, project):
    bomb = gzip.compress(b'{"events": [' + b" " * (50 * 1024 * 1024) + b"]}")
    assert len(bomb) < 200_000
    response = api.generic(
        "POST", "/track/batch", bomb, content_type="application/json", HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 413


BAD_INDICES = (0, 50, 99, 100, 149, 199)


def test_bad_rows_are_rejected_by_index_and_the_rest_stored(api, project):
    base = now_ms() - 600_000
    events = [at("good", base + i, device=f"dev-{i % 7}", n=i) for i in range(200)]
    bad_items = [
        {"type": "track", "payload": {"name": ""}},
        {"type": "nope", "payload": {}},
        {"type": "alias", "payload": {"profileId": "a", "alias": "b"}},
        {"type": "batch", "payload": [track("inner")]},
        "not an object",
        at("old", base - 30 * 86_400_000),
    ]
    for index, item in zip(BAD_INDICES, bad_items):
        events[index] = item
    response = post_batch(api, {"events": events})
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 194
    assert [row["index"] for row in body["rejected"]] == list(BAD_INDICES)
    assert {row["reason"] for row in body["rejected"]} == {"validation"}
    codes = [row["code"] for row in body["rejected"]]
    assert codes == ["invalid_field", "unsupported_type", "unsupported_type", "invalid_event", "invalid_event", "too_old"]
    errors = [row["error"] for row in body["rejected"]]
    assert errors[0] == "payload.name: this field may not be blank"
    assert "unknown event type" in errors[1]
    assert "alias is not supported" in errors[2]
    assert "nested" in errors[3]
    assert "object" in errors[4]
    assert "older than 5 days" in errors[5]
    drain()
    rows = stored.events(project.id, "name = 'good'")
    assert len(rows) == 194
    kept = {int(row["properties"]["n"]) for row in rows}
    assert kept == set(range(200)) - set(BAD_INDICES)


def test_batch_spelled_as_track_type_batch(api, project):
    response = api.post("/track", {"type": "batch", "payload": [track("one"), {"type": "track"}]}, format="json")
    assert response.status_code == 202
    assert response.json()["accepted"] == 1
    assert response.json()["rejected"][0]["index"] == 1
    assert response.json()["rejected"][0]["error"].startswith("payload:")
    drain()
    assert stored.count(project.id, "name = 'one'") == 1


def test_unknown_keys_are_ignored_and_null_means_absent(api, project):
    item = {"type": "track", "payload": {"name": "n", "profileId": None, "groups": None, "properties": None, "x": 1}}
    response = post_batch(api, {"events": [item], "extra": True})
    assert response.json() == {"accepted": 1, "rejected": []}


def test_name_rules(api, project):
    events = [
        track("x" * 80),
        track("x" * 81),
        track("bad\nname"),
        track("session_start"),
        {"type": "track", "payload": {"name": 5}},
    ]
    body = post_batch(api, {"events": events}).json()
    assert body["accepted"] == 1
    assert [row["index"] for row in body["rejected"]] == [1, 2, 3, 4]
    assert "80" in body["rejected"][0]["error"]


def test_event_over_64_kib_is_rejected_alone(api, project):
    body = post_batch(api, {"events": [track("big", blob="x" * 70_000), track("small")]}).json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["index"] == 0
    assert "event too large" in body["rejected"][0]["error"]


def test_more_than_500_property_keys_is_rejected(api, project):
    wide = {f"k{i}": i for i in range(501)}
    body = post_batch(api, {"events": [track("wide", **wide), track("ok", **{f"k{i}": i for i in range(500)})]}).json()
    assert body["accepted"] == 1
    assert "500" in body["rejected"][0]["error"]


def test_same_batch_twice_stores_each_event_once(api, project):
    base = now_ms() - 7_200_000
    body = {"events": [at("buffered", base + i * 1000, device="sensor-1", i=i) for i in range(50)]}
    assert post_batch(api, body).json()["accepted"] == 50
    assert post_batch(api, body).json()["accepted"] == 50
    drain()
    assert stored.count(project.id, "name = 'buffered'") == 50
