"""Spec §3.1 and §6.4: properties, paths, referrers, user agents, client IP and geo."""
import pytest

from tests.support import stored
from tests.support.agents import IPHONE_UA
from tests.support.events import track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db


def ingested(client, project, *events, name=None):
    response = client.post("/track/batch", {"events": list(events)}, format="json")
    assert response.json()["rejected"] == [], response.json()
    drain()
    where = f"name = '{name}'" if name else "name != 'session_start'"
    return stored.events(project.id, where)


def test_geo_from_the_request_ip(client_for, project, geoip):
    [row] = ingested(client_for(ip="81.2.69.142"), project, track("g"))
    assert (row["country"], row["city"], row["region"]) == ("GB", "London", "England")
    assert row["latitude"] == pytest.approx(51.5142, abs=1e-3)
    assert row["longitude"] == pytest.approx(-0.0931, abs=1e-3)


def test_ip_override_gets_its_own_geo_and_device(client_for, project, geoip):
    client = client_for(ip="81.2.69.142")
    rows = ingested(client, project, track("here"), track("there", __ip="216.160.83.56"))
    here, there = sorted(rows, key=lambda row: row["name"])
    assert (here["country"], here["city"]) == ("GB", "London")
    assert (there["country"], there["city"]) == ("US", "Milton")
    assert here["device_id"] != there["device_id"]
    assert "__ip" not in there["properties"]


def test_no_match_and_no_database_leave_geo_empty(client_for, project, geoip, settings):
    [row] = ingested(client_for(ip="8.8.8.8"), project, track("far"))
    assert (row["country"], row["city"], row["latitude"]) == ("", "", None)
    settings.GEOIP_PATH = ""
    [row] = ingested(client_for(ip="81.2.69.142"), project, track("none"), name="none")
    assert row["country"] == ""


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"HTTP_X_FORWARDED_FOR": "10.0.0.1, 81.2.69.142"}, ""),  # only the first item counts
        ({"HTTP_X_FORWARDED_FOR": "81.2.69.142, 10.0.0.1"}, "GB"),
        ({"HTTP_X_REAL_IP": "216.160.83.56", "HTTP_X_FORWARDED_FOR": "192.168.1.1"}, "US"),
        ({"HTTP_CF_CONNECTING_IP": "::ffff:81.2.69.142"}, "GB"),
        ({"HTTP_FORWARDED": 'for="[2001:db8::1]", for=81.2.69.142'}, ""),
        ({"HTTP_FORWARDED": "for=216.160.83.56;proto=https"}, "US"),
        ({"HTTP_OPENPANEL_CLIENT_IP": "81.2.69.142", "HTTP_X_REAL_IP": "216.160.83.56"}, "GB"),
    ],
)
def test_client_ip_headers(client_for, project, geoip, headers, expected):
    [row] = ingested(client_for(ip=None, **headers), project, track("ip"))
    assert row["country"] == expected


def test_user_agent_fields(client_for, project):
    [row] = ingested(client_for(user_agent=IPHONE_UA), project, track("ua"))
    assert (row["os"], row["os_version"], row["browser"], row["device"], row["brand"], row["model"]) == (
        "iOS", "17.1", "Mobile Safari", "mobile", "Apple", "iPhone"
    )  # fmt: skip


def test_user_agent_overrides(client_for, project):
    event = track("ua", __os="Android", __osVersion="14", __device="tablet", __brand="Acme", __model="T1")
    [row] = ingested(client_for(user_agent=IPHONE_UA), project, event)
    assert (row["os"], row["os_version"], row["device"], row["brand"], row["model"]) == (
        "Android", "14", "tablet", "Acme", "T1"
    )  # fmt: skip
    assert not any(key.startswith("__") for key in row["properties"])


def test_server_user_agent_ignores_overrides(client_for, project):
    [row] = ingested(client_for(user_agent="node"), project, track("ua", __os="Android"))
    assert (row["device"], row["os"]) == ("server", "")


def test_sdk_name_and_version(client_for, project):
    client = client_for(HTTP_OPENPANEL_SDK_NAME="web", HTTP_OPENPANEL_SDK_VERSION="1.0.5")
    [row] = ingested(client, project, track("sdk"))
    assert (row["sdk_name"], row["sdk_version"]) == ("web", "1.0.5")


def test_path_and_referrer(api, project):
    event = track(
        "screen_view",
        __path="https://shop.example.com/cart?step=2&coupon=#summary",
        __referrer="https://www.google.co.uk/search?q=shoes",
        __title="Cart",
    )
    [row] = ingested(api, project, event)
    assert (row["origin"], row["path"]) == ("https://shop.example.com", "/cart")
    assert row["referrer"] == "https://www.google.co.uk/search?q=shoes"
    assert (row["referrer_name"], row["referrer_type"]) == ("Google", "search")
    assert row["properties"] == {"__title": "Cart", "__query.step": "2", "__hash": "summary"}


def test_same_site_referrer_is_ignored(api, project):
    [row] = ingested(api, project, track("nav", __path="https://www.shop.example.com/b", __referrer="https://shop.example.com/a"))
    assert row["referrer"] == row["referrer_name"] == ""


def test_screen_name_as_path(api, project):
    [row] = ingested(api, project, track("screen_view", __path="SettingsScreen"))
    assert (row["origin"], row["path"]) == ("", "SettingsScreen")


def test_properties_are_flattened(api, project):
    properties = {
        "plan": " pro ",
        "count": 3,
        "ratio": 0.25,
        "whole": 2.0,
        "on": True,
        "empty": "",
        "nothing": None,
        "nested": {"a": {"b": 1}, "list": ["x", {"y": 2}]},
        "__screen": "Home",
    }
    [row] = ingested(api, project, track("flat", **properties))
    assert row["properties"] == {
        "plan": "pro",
        "count": "3",
        "ratio": "0.25",
        "whole": "2",
        "on": "true",
        "nested.a.b": "1",
        "nested.list.0": "x",
        "nested.list.1.y": "2",
        "__screen": "Home",
    }


def test_revenue(api, project):
    rows = ingested(api, project, track("revenue", __revenue=1999), track("other", __revenue=5))
    by_name = {row["name"]: row for row in rows}
    assert by_name["revenue"]["revenue"] == 1999
    assert by_name["other"]["revenue"] == 0
    bad = api.post("/track/batch", {"events": [track("revenue", __revenue=-1)]}, format="json").json()
    assert "__revenue" in bad["rejected"][0]["error"]


def test_profile_and_groups(api, project):
    event = {"type": "track", "payload": {"name": "p", "profileId": 12345, "groups": ["g1", "g2"]}}
    [row] = ingested(api, project, event)
    assert row["profile_id"] == "12345"
    assert row["groups"] == ["g1", "g2"]


def test_identify_property_sets_the_profile(api, project):
    [row] = ingested(api, project, track("login", __identify={"profileId": "user-9", "email": "u9@example.com"}))
    assert row["profile_id"] == "user-9"


@pytest.mark.parametrize(
    "properties, fragment",
    [
        ({"__deviceId": ""}, "__deviceId"),
        ({"__deviceId": "x" * 65}, "__deviceId"),
        ({"__insertId": ""}, "__insertId"),
        ({"__ip": "not-an-ip"}, "__ip"),
        ({"__identify": "user"}, "__identify"),
        ({"__identify": {"email": "a@b.c"}}, "__identify.profileId"),
    ],
)
def test_bad_special_properties(api, project, properties, fragment):
    body = api.post("/track/batch", {"events": [track("s", **properties)]}, format="json").json()
    assert body["accepted"] == 0
    assert fragment in body["rejected"][0]["error"]


def test_insert_id_makes_a_retry_collapse(api, project):
    events = [track("pay", __insertId="order-1", amount=5), track("pay", __insertId="order-1", amount=5)]
    rows = ingested(api, project, *events)
    assert len(rows) == 1
    assert "__insertId" not in rows[0]["properties"]
