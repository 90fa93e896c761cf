"""User-agent parsing with ua-parser (its fast `regex` backend), cached per distinct string."""
import functools
import re
from dataclasses import dataclass
from typing import Any, cast

from ua_parser import parse

from contract.messages import AGENT, SERVER_DEVICE, AgentFields

# "Go-http-client/1.1", "node", "python-requests/2.32": a library, not a person's device.
_BARE_NAME_VERSION = re.compile(r"^[\w.\-]+(/[\w.\-]+)?$")
_TABLET = re.compile(r"ipad|tablet|kindle|silk|playbook|nexus (7|9|10)|sm-t|sm-x|tab", re.I)
_MOBILE_OS = {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Firefox OS", "HarmonyOS"}

SERVER = SERVER_DEVICE
# Spool's own offline client (clients/python): `spool-client/0.1.0 (Linux x86_64; Python 3.11)`.
OFFLINE_CLIENT = "spool-client/"
_PLATFORM = re.compile(r"\(\s*([^;)\s]+)")

# Stock HTTP clients (contract §6.4 r3): apps, devices and servers send with them, so they are server
# UAs whatever ua-parser's device family says (it calls `Python-urllib/3.11` and `Java/17` spiders,
# which dropped whole batches behind a 202). Matched as a whole token, anywhere in the UA
# (`Python/3.11 aiohttp/3.9.5`, `MyApp/1.4 CFNetwork/1494.0.7 Darwin/23.4.0`).
STOCK_HTTP_CLIENTS = (
    "Python-urllib", "python-urllib3", "urllib3", "Java", "Java-http-client", "Dalvik", "okhttp",
    "Go-http-client", "curl", "libcurl", "Wget", "python-requests", "python-httpx", "aiohttp", "axios",
    "node-fetch", "undici", "node", "CFNetwork", "Apache-HttpClient", "Dart", "reqwest", "libwww-perl",
    "http.rb", "PostmanRuntime", "HTTPie", "GuzzleHttp", "Alamofire", "RestSharp", "Deno", "Bun",
)  # fmt: skip
_STOCK_CLIENT = re.compile(
    r"(?:^|[\s(;])(?:" + "|".join(re.escape(name) for name in STOCK_HTTP_CLIENTS) + r")(?=[/\s;)]|$)", re.I
)
# A crawler names itself as one; such a UA stays a crawler even when it also names its HTTP library.
_CRAWLER_WORD = re.compile(r"(?:bot|crawler|spider)\b", re.I)


@dataclass(frozen=True, slots=True)
class Agent:
    os: str = ""
    os_version: str = ""
    browser: str = ""
    browser_version: str = ""
    device: str = SERVER
    brand: str = ""
    model: str = ""
    bot: str = ""  # crawler name; such requests are answered but not stored

    @property
    def is_server(self) -> bool:
        return self.device == SERVER

    def fields(self) -> AgentFields:
        return cast(AgentFields, {name: getattr(self, name) for name in AGENT})


SERVER_AGENT = Agent()


def _offline_client(ua: str) -> Agent:
    """Spool's offline client on a platform ua-parser does not know (`Haiku`, `Emscripten`): it
    runs on a device, so its events get sessions; the platform's first word is the os."""
    platform = _PLATFORM.search(ua)
    return Agent(os=platform.group(1)[:64] if platform else "", device="desktop")


def _version(part: Any) -> str:
    numbers = [part.major, part.minor, part.patch]
    return ".".join(n for n in numbers if n)


def _device_type(ua: str, os_family: str, device_family: str, brand: str) -> str:
    if device_family == "iPad" or "Tablet" in brand or _TABLET.search(device_family):
        return "tablet"
    if os_family == "Android" and "Mobile" not in ua:
        return "tablet"
    if os_family in _MOBILE_OS or "Mobile" in ua or device_family == "iPhone":
        return "mobile"
    return "desktop"


@functools.lru_cache(maxsize=4096)
def parse_agent(ua: str) -> Agent:
    ua = (ua or "").strip()
    if not ua:
        return SERVER_AGENT
    if _STOCK_CLIENT.search(ua) and not _CRAWLER_WORD.search(ua):
        return SERVER_AGENT
    result = parse(ua)
    browser, os, device = result.user_agent, result.os, result.device
    # Crawlers first: "Googlebot/2.1" is a bare name/version too, and a crawler, not a server (contract §6.4 r2).
    if device is not None and device.family == "Spider":
        return Agent(bot=(browser.family if browser else "") or "crawler")
    if _BARE_NAME_VERSION.match(ua) or (browser is None and os is None and device is None):
        return _offline_client(ua) if ua.startswith(OFFLINE_CLIENT) else SERVER_AGENT
    os_family = os.family if os else ""
    device_family = device.family if device else ""
    brand = (device.brand or "") if device else ""
    if brand.startswith(("Generic", "generic")):
        brand = ""
    model = (device.model or "") if device else ""
    return Agent(
        os=os_family,
        os_version=_version(os) if os else "",
        browser=browser.family if browser else "",
        browser_version=_version(browser) if browser else "",
        device=_device_type(ua, os_family, device_family, device.brand or "" if device else ""),
        brand=brand,
        model=model,
    )
