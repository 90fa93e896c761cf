"""`__path` and `__referrer`: where the event happened and where the visitor came from."""
from dataclasses import dataclass, field
from urllib.parse import SplitResult, parse_qsl, urlsplit

from ingest.enrich.referrers import classify_referrer
from ingest.enrich.text import clean


@dataclass(slots=True)
class Location:
    origin: str = ""
    path: str = ""
    host: str = ""
    # Extra properties: `__hash` and `__query.<key>`.
    properties: dict[str, str] = field(default_factory=dict)


def _split(text: str) -> SplitResult | None:
    """urlsplit, or None for what it refuses ("http://[oops": an unclosed IPv6 host)."""
    try:
        return urlsplit(text)
    except ValueError:
        return None


def parse_location(value: object) -> Location:
    text = str(value).strip()
    if text.isprintable() and not text.startswith("//") and ":" not in text and "?" not in text and "#" not in text:
        return Location(path=text)  # a plain path or screen name: urlsplit would return it unchanged
    parts = _split(text)
    if not text or parts is None:
        return Location(path=text)
    if "://" not in text:
        # A bare path or a screen name ("/settings?tab=2", "HomeScreen").
        location = Location(path=parts.path or text)
    else:
        host = (parts.hostname or "").lower()
        origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
        location = Location(origin=origin, path=parts.path or "/", host=host)
    if parts.fragment:
        location.properties["__hash"] = parts.fragment
    for key, item in parse_qsl(parts.query, keep_blank_values=False):
        item = clean(item).strip()  # "%00" decodes to a control character (contract §3 r2)
        if key and item:
            location.properties[f"__query.{clean(key)}"] = item
    return location


@dataclass(slots=True)
class Referrer:
    url: str = ""
    name: str = ""
    type: str = ""


def parse_referrer(value: object, page_host: str = "") -> Referrer:
    text = str(value).strip()
    if not text:
        return Referrer()
    parts = _split(text if "://" in text else f"https://{text}")
    host = (parts.hostname or "").lower() if parts else ""
    if not host:
        return Referrer()
    bare = host[4:] if host.startswith("www.") else host
    page = page_host[4:] if page_host.startswith("www.") else page_host
    if page and bare == page:
        # Navigation inside the same site is not a referral.
        return Referrer()
    name, kind = classify_referrer(bare)
    return Referrer(url=text, name=name, type=kind)
