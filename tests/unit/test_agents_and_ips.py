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
        # A stock HTTP client (contract §6.4 r3: CFNetwork is named there), so a server sender.
        (agents.IOS_APP_UA, "server"),
    ],
)
def test_device_types(ua, device):
    assert parse_agent(ua).device == device


@pytest.mark.parametrize(
    "platform, os",
    [
        ("Linux x86_64", "Linux"),
        ("Linux aarch64", "Linux"),
        ("Mac OS X 14_1 arm64", "Mac OS X"),
        ("Windows AMD64", "Windows"),
        # Platforms ua-parser does not know: still the offline client on a device (issue 12).
        ("Haiku BePC", "Haiku"),
        ("Emscripten wasm32", "Emscripten"),
        ("unknown", "unknown"),
    ],
)
def test_the_offline_client_is_a_device_not_a_server(platform, os):
    agent = parse_agent(f"spool-client/0.1.0 ({platform}; Python 3.9)")
    assert (agent.device, agent.os, agent.bot) == ("desktop", os, "")


def test_the_offline_clients_own_user_agent_on_this_machine_is_a_device():
    from spool_client.agent import default_user_agent

    agent = parse_agent(default_user_agent())
    assert not agent.is_server and not agent.bot


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
