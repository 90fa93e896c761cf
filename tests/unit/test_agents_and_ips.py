import pytest

from ingest.enrich.ip import client_ip, public_ip
from ingest.enrich.referrers import classify_referrer
from ingest.enrich.ua import parse_agent
from tests.support import agents

HEADERS = ["x-forwarded-for", "x-real-ip", "forwarded"]


@pytest.mark.parametrize(
    "ua, device",
    [
        *[(ua, "server") for ua in agents.SERVER_UAS],
        (agents.DESKTOP_CHROME_UA, "desktop"),
        (agents.IPHONE_UA, "mobile"),
        (agents.IPAD_UA, "tablet"),
        (agents.ANDROID_TABLET_UA, "tablet"),
        (agents.ANDROID_PHONE_UA, "mobile"),
        (agents.IOS_APP_UA, "mobile"),
    ],
)
def test_device_types(ua, device):
    assert parse_agent(ua).device == device


def test_crawler():
    agent = parse_agent(agents.BINGBOT_UA)
    assert agent.bot == "bingbot"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("81.2.69.142", "81.2.69.142"),
        ("10.1.2.3", ""),
        ("127.0.0.1", ""),
        ("169.254.1.1", ""),
        ("::1", ""),
        ("fe80::1", ""),
        ("::ffff:81.2.69.142", "81.2.69.142"),
        ("[2a00:1450:4009:81f::200e]:443", "2a00:1450:4009:81f::200e"),
        ("81.2.69.142:5555", "81.2.69.142"),
        ("garbage", ""),
    ],
)
def test_public_ip(value, expected):
    assert public_ip(value) == expected


def test_client_ip_falls_back_to_a_public_socket_address():
    assert client_ip({"REMOTE_ADDR": "216.160.83.56"}, HEADERS) == "216.160.83.56"
    assert client_ip({"REMOTE_ADDR": "127.0.0.1"}, HEADERS) == ""
    assert client_ip({"HTTP_X_FORWARDED_FOR": "10.0.0.1", "REMOTE_ADDR": "216.160.83.56"}, HEADERS) == "216.160.83.56"


@pytest.mark.parametrize(
    "host, expected",
    [
        ("google.com", ("Google", "search")),
        ("google.co.uk", ("Google", "search")),
        ("m.facebook.com", ("Facebook", "social")),
        ("mail.google.com", ("Gmail", "email")),
        ("t.co", ("Twitter", "social")),
        ("x.example.com", ("x.example.com", "unknown")),
    ],
)
def test_referrers(host, expected):
    assert classify_referrer(host) == expected
