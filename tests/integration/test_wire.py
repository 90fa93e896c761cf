"""Spec §1 and §10: paths, bodies, encodings, CORS, and what bad input gets back."""
import gzip

import orjson
import pytest
from django.test import override_settings

from tests.support import stored
from tests.support.agents import GOOGLEBOT_UA
from tests.support.events import track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db


def raw(api, path, body: bytes, content_type="application/json", **extra):
    return api.generic("POST", path, body, content_type=content_type, **extra)


def test_gzip_single_and_batch(api, project):
    single = raw(api, "/track", gzip.compress(orjson.dumps(track("zipped"))), HTTP_CONTENT_ENCODING="gzip")
    assert single.status_code == 200
    body = gzip.compress(orjson.dumps({"events": [track("zipped")] * 3}))
    batch = raw(api, "/track/batch", body, HTTP_CONTENT_ENCODING="gzip")
    assert batch.json() == {"accepted": 3, "rejected": []}
    drain()
    assert stored.count(project.id, "name = 'zipped'") == 4


def test_corrupt_gzip_is_400(api, project):
    for body in (b"not gzip at all", gzip.compress(b'{"events": []}')[:-8]):
        response = raw(api, "/track/batch", body, HTTP_CONTENT_ENCODING="gzip")
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_encoding"


def members(data: bytes, cuts: int = 3) -> bytes:
    """`data` as several gzip members (what `cat a.gz b.gz` makes), cut at arbitrary bytes."""
    size = len(data) // cuts + 1
    return b"".join(gzip.compress(data[i : i + size]) for i in range(0, len(data), size))


def test_every_gzip_member_is_read(api, project):
    """Finding 4: only the first member was read; the rest was lost under a 202."""
    single = raw(api, "/track", members(orjson.dumps(track("zipped", pad="x" * 300))), HTTP_CONTENT_ENCODING="gzip")
    assert single.status_code == 200, single.content
    batch = raw(api, "/track/batch", members(orjson.dumps({"events": [track("zipped")] * 10})), HTTP_CONTENT_ENCODING="gzip")
    assert batch.json() == {"accepted": 10, "rejected": []}
    lines = b"".join(gzip.compress(orjson.dumps(track("zipped")) + b"\n") for _ in range(5))  # a member per line
    ndjson = raw(api, "/track/batch", lines, content_type="application/x-ndjson", HTTP_CONTENT_ENCODING="gzip")
    assert ndjson.json() == {"accepted": 5, "rejected": []}
    drain()
    assert stored.count(project.id, "name = 'zipped'") == 16


# Named: a gzip member's bytes hold the time it was made, and the test processes must collect equal ids.
@pytest.mark.parametrize("tail", [b"garbage", b"\x00" * 16, b"\x1f\x8b", gzip.compress(b"more")[:-4]],
                         ids=["garbage", "zeros", "a member's first bytes", "a member cut short"])  # fmt: skip
def test_bytes_after_the_last_gzip_member_are_400_and_nothing_is_stored(api, project, tail):
    body = gzip.compress(orjson.dumps({"events": [track("zipped")] * 3})) + tail
    response = raw(api, "/track/batch", body, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_encoding"
    drain()
    assert stored.count(project.id) == 0


def test_the_limit_holds_across_gzip_members(api, project):
    member = gzip.compress(b" " * (1024 * 1024))
    body = gzip.compress(b'{"events": [') + member * 11 + gzip.compress(b"]}")
    assert len(body) < 200_000
    assert raw(api, "/track/batch", body, HTTP_CONTENT_ENCODING="gzip").status_code == 413


def test_ndjson_batch_with_blank_and_bad_lines(api, project):
    lines = [orjson.dumps(track("line", n=1)), b"", b"   ", b"{broken", orjson.dumps(track("line", n=2)), b"[]"]
    response = raw(api, "/track/batch", b"\n".join(lines) + b"\n", content_type="application/x-ndjson")
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    assert [row["index"] for row in body["rejected"]] == [1, 3]
    assert body["rejected"][0]["error"].startswith("line 4: invalid JSON")
    drain()
    assert stored.count(project.id, "name = 'line'") == 2


def test_ndjson_gzip(api, project):
    body = gzip.compress(b"\n".join(orjson.dumps(track("nd")) for _ in range(5)))
    response = raw(api, "/track/batch", body, content_type="application/x-ndjson", HTTP_CONTENT_ENCODING="gzip")
    assert response.json()["accepted"] == 5


# The test client would read "//track" as a host name, so the doubled slash goes in PATH_INFO,
# where a real server puts the request line's path.
@pytest.mark.parametrize("path", ["/api/track", "//track", "//api/track", "/track"])
def test_track_paths(api, project, path):
    response = api.post("/track", track("p"), format="json", PATH_INFO=path)
    assert response.status_code == 200, path


@pytest.mark.parametrize("path", ["/api/track/batch", "//track/batch"])
def test_batch_paths(api, project, path):
    assert api.post("/track", {"events": [track("p")]}, format="json", PATH_INFO=path).status_code == 202


def test_cors_preflight(api):
    for path in ("/track", "/track/batch", "/api/track"):
        response = api.options(
            path,
            HTTP_ORIGIN="https://shop.example.com",
            HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,openpanel-client-id",
        )
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert response["Access-Control-Allow-Origin"] == "https://shop.example.com"
        assert response["Access-Control-Allow-Methods"] == "POST, OPTIONS"
        allowed = {item.strip() for item in response["Access-Control-Allow-Headers"].split(",")}
        assert {"content-type", "content-encoding", "openpanel-client-id", "openpanel-client-secret",
                "openpanel-sdk-name", "openpanel-sdk-version"} <= allowed  # fmt: skip
        assert response["Access-Control-Max-Age"] == "604800"


def test_cors_headers_on_answers_and_errors(api, client_for):
    ok = api.post("/track", track("c"), format="json", HTTP_ORIGIN="https://app.example.com")
    assert ok["Access-Control-Allow-Origin"] == "https://app.example.com"
    refused = client_for(secret=False).post("/track", track("c"), format="json")
    assert refused.status_code == 401
    assert refused["Access-Control-Allow-Origin"] == "*"


def test_invalid_json_is_400(api, project):
    for body in (b"{nope", b"", b"null", b"[1, 2]", b'"text"', b"NaN", b'{"a": NaN}'):
        response = raw(api, "/track", body)
        assert response.status_code == 400, body
        assert response.json()["error"] == "invalid_json"


def test_wrong_content_type_is_415(api):
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        response = raw(api, "/track", orjson.dumps(track("x")), content_type=content_type)
        assert response.status_code == 415
        assert response.json()["error"] == "unsupported_media_type"
    assert raw(api, "/track", orjson.dumps(track("x")), content_type="application/x-ndjson").status_code == 415


def test_a_batch_over_1_mib_is_read_leniently_from_its_text(api, project):
    """Bodies over 1 MiB are parsed from their text alone, the bytes dropped first (issue 13, B4):
    invalid UTF-8 and lone surrogates are still repaired, and a blank one is still "empty"."""
    bulky = [track("big", blob="z" * 1000)] * 1100
    body = orjson.dumps({"events": [*bulky, track("odd", a="PLACEHOLDER")]})
    body = body.replace(b"PLACEHOLDER", b"ok\\ud800 \xff!")
    assert len(body) > 1024 * 1024
    assert raw(api, "/track/batch", body).json() == {"accepted": 1101, "rejected": []}
    drain()
    [odd] = stored.events(project.id, "name = 'odd'")
    assert odd["properties"]["a"] == "ok \ufffd!"
    blank = raw(api, "/track/batch", b" " * (1024 * 1024 + 1))
    assert blank.status_code == 400 and "empty" in blank.json()["message"]


def test_json_charset_parameter_is_fine(api):
    response = raw(api, "/track", orjson.dumps(track("x")), content_type="application/json; charset=utf-8")
    assert response.status_code == 200


def test_single_event_over_1_mib_is_413(api):
    response = raw(api, "/track", orjson.dumps(track("x", blob="y" * (1024 * 1024 + 10))))
    assert response.status_code == 413


def test_bad_single_event_names_the_field(api):
    response = api.post("/track", {"type": "track", "payload": {"name": ""}}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "error": "validation", "message": "payload.name: this field may not be blank", "code": "invalid_field"
    }


@pytest.mark.parametrize("kind", ["alias", "replay"])
def test_unsupported_types(api, kind):
    response = api.post("/track", {"type": kind, "payload": {"profileId": "a", "alias": "b"}}, format="json")
    assert response.status_code == 400
    assert f"{kind} is not supported" in response.json()["message"]


def test_other_types_are_accepted(api):
    for body in (
        {"type": "identify", "payload": {"profileId": "u1", "firstName": "Ada", "email": "ada@example.com"}},
        {"type": "increment", "payload": {"profileId": "u1", "property": "logins"}},
        {"type": "decrement", "payload": {"profileId": "u1", "property": "credits", "value": 2}},
        {"type": "group", "payload": {"id": "g1", "type": "company", "name": "Acme"}},
        {"type": "assign_group", "payload": {"groupIds": ["g1"], "profileId": "u1"}},
    ):
        response = api.post("/track", body, format="json")
        assert response.status_code == 200, (body, response.content)
        assert set(response.json()) == {"deviceId", "sessionId"}


def test_bad_identify_names_the_field(api):
    response = api.post("/track", {"type": "identify", "payload": {"profileId": "u", "email": "nope"}}, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("payload.email:")


def test_duplicate_browser_request_within_100_ms(api, project):
    body = orjson.dumps(track("click"))
    first = raw(api, "/track", body, HTTP_ORIGIN="https://app.example.com")
    second = raw(api, "/track", body, HTTP_ORIGIN="https://app.example.com")
    assert first.status_code == second.status_code == 200
    assert "duplicate" not in first.json()
    assert second.json()["duplicate"] is True
    assert second.json()["deviceId"] == first.json()["deviceId"]
    drain()
    assert stored.count(project.id, "name = 'click'") == 1


def test_batches_are_never_deduplicated_by_body(api, project):
    body = {"events": [track("tap")]}
    for _ in range(2):
        api.post("/track/batch", body, format="json", HTTP_ORIGIN="https://app.example.com")
    drain()
    assert stored.count(project.id, "name = 'tap'") == 2


@pytest.mark.parametrize(
    "user_agent, name",
    [
        (GOOGLEBOT_UA, "Googlebot"),
        # Finding 10: bare name/version crawlers were taken for servers, and stored.
        ("Googlebot/2.1", "Googlebot"),
        ("bingbot/2.0", "bingbot"),
        ("facebookexternalhit/1.1", "FacebookBot"),
        ("Twitterbot/1.0", "Twitterbot"),
        ("LinkedInBot/1.0", "LinkedInBot"),
        ("GPTBot/1.0", "GPTBot"),
    ],
)
def test_crawlers_are_answered_and_not_stored(client_for, project, user_agent, name):
    bot = client_for(user_agent=user_agent)
    response = bot.post("/track", track("crawl"), format="json")
    assert response.status_code == 202
    assert response.json() == {"bot": {"name": name}}
    assert bot.post("/track/batch", {"events": [track("crawl")]}, format="json").status_code == 202
    drain()
    assert stored.count(project.id) == 0


@pytest.mark.parametrize("user_agent", ["python-requests/2.32.3", "Go-http-client/1.1", "node", "okhttp/4.12.0"])
def test_bare_names_that_are_not_crawlers_are_servers(client_for, project, user_agent):
    response = client_for(user_agent=user_agent).post("/track", track("backend"), format="json")
    assert response.status_code == 200
    drain()
    [row] = stored.events(project.id)
    assert row["device"] == "server"


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x80", "\x85", "\x9b", "\x9f"])
def test_control_characters_never_reach_a_column(client_for, project, char):
    """Finding 13 (contract §3 r2): C0 and C1 controls reject an event name, and are removed from
    property values, keys, special properties and header text; a line break becomes a space."""
    client = client_for(HTTP_OPENPANEL_SDK_NAME=f"web{char}", HTTP_OPENPANEL_SDK_VERSION=f"1.{char}0")
    named = client.post("/track/batch", {"events": [track(f"bad{char}name"), {"type": "group", "payload": {
        "id": f"g{char}h", "type": "company", "name": "n"}}]}, format="json").json()  # fmt: skip
    assert [(row["index"], row["code"]) for row in named["rejected"]] == [(0, "invalid_field"), (1, "invalid_field")]
    assert "control characters" in named["rejected"][0]["error"]
    properties = {
        "plain": f"a{char}b", f"ke{char}y": "v", "nested": {"list": [f"{char}x{char}"]}, "lines": "one\ntwo\r\nthree",
        "__path": f"https://app.example.com/p{char}ath?utm_source=a%00b&q{char}=1", "__os": f"i{char}OS",
    }  # fmt: skip
    assert client.post("/track", track("clean", **properties), format="json").status_code == 200
    drain()
    [row] = stored.events(project.id, "name = 'clean'")
    gap = " " if char == "\x85" else ""  # NEL is a line break: a space, like \n
    assert row["properties"]["plain"] == f"a{gap}b" and row["properties"][f"ke{gap}y"] == "v"
    assert row["properties"]["nested.list.0"] == "x"
    assert row["properties"]["lines"] == "one two three"
    assert row["properties"]["__query.utm_source"] == "ab" and row["properties"][f"__query.q{gap}"] == "1"
    assert row["path"] == f"/p{gap}ath" and row["os"] == f"i{gap}OS"
    assert (row["sdk_name"], row["sdk_version"]) == ("web", f"1.{gap}0")
    texts = [*row["properties"], *row["properties"].values(), *(v for v in row.values() if isinstance(v, str))]
    assert not [text for text in texts if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text)]


def test_redis_unreachable_is_503_with_retry_after(api, project, settings):
    unreachable = {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    with override_settings(CACHES={"default": unreachable}):
        for path, body in (("/track", track("lost")), ("/track/batch", {"events": [track("lost")]})):
            response = api.post(path, body, format="json")
            assert response.status_code == 503
            assert response["Retry-After"]
            assert response.json()["error"] == "unavailable"
    drain()
    assert stored.count(project.id) == 0


def test_2xx_answers_are_json(api):
    for response in (
        api.post("/track", track("j"), format="json"),
        api.post("/track/batch", {"events": [track("j")]}, format="json"),
    ):
        assert response["Content-Type"] == "application/json"
        assert response.content and orjson.loads(response.content)


def test_unknown_track_routes_answer_json(api):
    response = api.post("/track/nope", {"a": 1}, format="json")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    wrong_method = api.get("/track")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"
