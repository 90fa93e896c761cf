"""Spec §7 and issue 3: profiles that add up, and groups."""
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from storage.redis import client as redis
from storage.redis import keys
from tests.support import stored
from tests.support.agents import IPHONE_UA
from tests.support.events import track
from tests.support.waiting import eventually
from tests.support.worker import drain

pytestmark = pytest.mark.django_db


def identify(client, profile_id, **fields):
    response = client.post("/track", {"type": "identify", "payload": {"profileId": profile_id, **fields}}, format="json")
    assert response.status_code == 200, response.content
    return response


def change(client, kind, profile_id, prop, value=None):
    payload = {"profileId": profile_id, "property": prop}
    if value is not None:
        payload["value"] = value
    return client.post("/track", {"type": kind, "payload": payload}, format="json")


def test_identify_is_readable_right_after_its_job(client_for, project, geoip):
    client = client_for(user_agent=IPHONE_UA, ip="81.2.69.142")
    identify(client, "u1", firstName="Ada", lastName="Lovelace", email="ada@example.com",
             avatar="https://example.com/ada.png", properties={"plan": "pro", "address": {"city": "Paris"}})  # fmt: skip
    drain()
    profile = stored.profile(project.id, "u1")
    assert (profile["first_name"], profile["last_name"], profile["email"]) == ("Ada", "Lovelace", "ada@example.com")
    assert profile["avatar"] == "https://example.com/ada.png"
    assert profile["properties"]["plan"] == "pro"
    assert profile["properties"]["address.city"] == "Paris"
    assert profile["properties"]["country"] == "GB" and profile["properties"]["city"] == "London"
    assert profile["properties"]["os"] == "iOS" and profile["properties"]["device"] == "mobile"


def test_identify_merge_rules(api, project):
    identify(api, "u2", firstName="Ada", email="ada@example.com", properties={"plan": "free", "team": "a"})
    drain()
    first = stored.profile(project.id, "u2")
    time.sleep(1.1)  # created_at has second precision; a later identify must not move it
    identify(api, "u2", firstName="", lastName="King", email=None, properties={"plan": "pro", "team": ""})
    drain()
    merged = stored.profile(project.id, "u2")
    assert merged["first_name"] == "Ada"  # empty does not erase
    assert merged["last_name"] == "King"  # new non-empty wins
    assert merged["email"] == "ada@example.com"
    assert merged["properties"]["plan"] == "pro" and merged["properties"]["team"] == "a"
    assert merged["created_at"] == first["created_at"]
    assert merged["version"] > first["version"]


def test_increment_and_decrement(api, project):
    identify(api, "u3", properties={"credits": 10, "ratio": 1.5})
    assert change(api, "increment", "u3", "credits", 5).status_code == 200
    assert change(api, "decrement", "u3", "credits").status_code == 200
    assert change(api, "increment", "u3", "ratio", 1).status_code == 200
    assert change(api, "increment", "u3", "visits", 0.5).status_code == 200
    drain()
    properties = stored.profile(project.id, "u3")["properties"]
    assert properties["credits"] == "14"
    assert properties["ratio"] == "2.5"  # a float stays a float
    assert properties["visits"] == "0.5"


def test_unknown_profile_is_404_alone_and_a_validation_row_in_a_batch(api, project):
    response = change(api, "increment", "nobody", "visits")
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_profile"
    batch = {
        "events": [
            {"type": "increment", "payload": {"profileId": "nobody", "property": "x"}},
            {"type": "identify", "payload": {"profileId": "born", "firstName": "B"}},
            {"type": "increment", "payload": {"profileId": "born", "property": "x"}},
        ]
    }
    body = api.post("/track/batch", batch, format="json").json()
    assert body["accepted"] == 2
    assert body["rejected"] == [
        {"index": 0, "reason": "validation", "code": "unknown_profile", "error": "payload.profileId: unknown profile"}
    ]
    drain()
    assert stored.profile(project.id, "born")["properties"]["x"] == "1"
    assert stored.profile(project.id, "nobody") is None


def test_a_profile_redis_forgot_is_known_again_once_loaded_from_clickhouse(api, project):
    from django.core.management import call_command

    identify(api, "u4", firstName="Old")
    drain()
    redis.client().flushdb()  # Redis lost its data (the documented recovery: load_known_profiles)
    call_command("load_known_profiles")
    assert change(api, "increment", "u4", "logins").status_code == 200
    drain()
    profile = stored.profile(project.id, "u4")
    assert profile["properties"]["logins"] == "1" and profile["first_name"] == "Old"


def _increment_over_http(url, headers):
    body = {"type": "increment", "payload": {"profileId": "busy", "property": "clicks", "value": 1}}
    assert requests.post(url, json=body, headers=headers, timeout=30).status_code == 200


def test_50_concurrent_increments_add_50(tmp_path, django_db_blocker):
    from tests.support.live import LiveStack

    with django_db_blocker.unblock():
        stack = LiveStack(tmp_path).start(workers=2, web_workers=4)
    try:
        credentials = stack.create_project("--name", "Counters")
        headers = {"openpanel-client-id": credentials["client_id"], "openpanel-client-secret": credentials["client_secret"]}
        identify_body = {"type": "identify", "payload": {"profileId": "busy", "properties": {"clicks": 100}}}
        assert requests.post(f"{stack.url}/track", json=identify_body, headers=headers, timeout=10).status_code == 200
        # Threads, not a fork of this multi-threaded process (a forked pool's child once waited forever
        # on a queue lock held at the fork, and CI hung until its deadline).
        with ThreadPoolExecutor(25) as pool:
            list(pool.map(lambda _: _increment_over_http(f"{stack.url}/track", headers), range(50)))

        def clicks():
            profile = stored.profile(credentials["project_id"], "busy")
            return profile and profile["properties"].get("clicks")

        eventually(lambda: clicks() == "150", what="clicks = 150")
    finally:
        stack.stop()


def test_a_rerun_drain_does_not_increment_twice(api, project):
    """A drain that dies after applying, before trimming the buffer, sees the same packets again."""
    from ingest.profiles.apply import apply_packets

    identify(api, "u5", properties={"n": 1})
    drain()

    next_sequence = int(redis.client().get(keys.buffer_trimmed("profiles"))) + 1
    packet = {"ctx": {"project_id": project.id, "geo": {}, "agent": {}},
              "changes": [{"type": "increment", "profile_id": "u5", "property": "n", "value": 1}]}  # fmt: skip
    apply_packets([(next_sequence, packet)], now_ms=int(time.time() * 1000))
    apply_packets([(next_sequence, packet)], now_ms=int(time.time() * 1000))  # the same drain, run again
    assert stored.profile(project.id, "u5")["properties"]["n"] == "2"


def test_groups(api, project):
    identify(api, "u6")
    group = {"type": "group", "payload": {"id": "acme", "type": "company", "name": "Acme", "properties": {"plan": "ent"}}}
    assert api.post("/track", group, format="json").status_code == 200
    for ids in (["acme"], ["acme", "beta"]):
        body = {"type": "assign_group", "payload": {"groupIds": ids, "profileId": "u6"}}
        assert api.post("/track", body, format="json").status_code == 200
    drain()
    assert stored.group(project.id, "acme") == {"type": "company", "name": "Acme", "properties": {"plan": "ent"}}
    assert stored.profile(project.id, "u6")["groups"] == ["acme", "beta"]


def test_identify_property_on_a_track_event_runs_an_identify(api, project):
    event = track("signup", __identify={"profileId": "u7", "firstName": "Grace", "email": "grace@example.com"})
    assert api.post("/track", event, format="json").status_code == 200
    assert change(api, "increment", "u7", "logins").status_code == 200  # known at once
    drain()
    [row] = stored.events(project.id, "name = 'signup'")
    assert row["profile_id"] == "u7"
    profile = stored.profile(project.id, "u7")
    assert profile["first_name"] == "Grace" and profile["properties"]["logins"] == "1"


def _rejected_today(project_id: str) -> dict:
    from datetime import UTC, datetime

    from storage.redis import counters

    return dict(counters.rejected_by_day(project_id, datetime.now(UTC).date(), days=1))[datetime.now(UTC).date().isoformat()]


def test_a_profile_holds_at_most_1000_keys_and_100_groups_and_the_rest_is_counted(api, project):
    """Issue 9, finding 11: documents stay bounded; what did not fit is a rejection the admin shows."""
    for part in range(3):  # 3 x 400 keys (an event holds at most 500)
        identify(api, "hoarder", properties={f"k{part}_{i}": "v" for i in range(400)})
    for part in range(2):
        body = {"type": "assign_group", "payload": {"profileId": "hoarder", "groupIds": [f"g{part}_{i}" for i in range(60)]}}
        assert api.post("/track", body, format="json").status_code == 200
    assert change(api, "increment", "hoarder", "k0_0", 1).status_code == 200  # a key it has: applied
    assert change(api, "increment", "hoarder", "brand_new", 1).status_code == 200  # no room left
    drain()
    profile = stored.profile(project.id, "hoarder")
    assert len(profile["properties"]) == 1000
    assert profile["properties"]["k0_0"] == "1"  # "v" is not a number: restarts from zero
    assert "brand_new" not in profile["properties"]
    assert len(profile["groups"]) == 100 and profile["groups"][:2] == ["g0_0", "g0_1"]
    # The request context (country, os, ...) took its keys first; whatever did not fit is counted.
    refused_keys = 3 * 400 + 1 - (1000 - len([k for k in profile["properties"] if not k.startswith("k")]))
    assert _rejected_today(project.id) == {"profile_limit": refused_keys + 20}  # the admin's per-day counts


def test_a_group_holds_at_most_1000_keys(api, project, settings):
    settings.MAX_PROFILE_PROPERTIES = 10
    body = {"type": "group", "payload": {"id": "big", "type": "t", "name": "Big", "properties": {f"p{i}": "x" for i in range(25)}}}
    assert api.post("/track", body, format="json").status_code == 200
    drain()
    assert len(stored.group(project.id, "big")["properties"]) == 10
    assert _rejected_today(project.id) == {"profile_limit": 15}


def test_an_increment_past_the_float_range_is_refused_and_counted_not_stored_as_inf(api, project):
    """Issue 17, finding 12: two increments of 1e308 stored "inf"; every later one kept it there."""
    identify(api, "big-spender")
    for _ in range(2):
        assert change(api, "increment", "big-spender", "spent", 1e308).status_code == 200
    assert change(api, "decrement", "big-spender", "debt", 1e308).status_code == 200
    assert change(api, "decrement", "big-spender", "debt", 1e308).status_code == 200
    assert change(api, "increment", "big-spender", "visits", 1).status_code == 200  # the rest still applies
    drain()
    properties = stored.profile(project.id, "big-spender")["properties"]
    assert (properties["spent"], properties["debt"], properties["visits"]) == ("1e+308", "-1e+308", "1")
    assert _rejected_today(project.id) == {"profile_limit": 2}
