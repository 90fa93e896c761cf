"""The client's IP address (contract §6.4): the first public address among the trusted headers.

Forwarded-IP headers are the caller's word. They count only from a caller that sent the project's
secret (a server forwarding its user's address) and from the proxies named in TRUSTED_PROXIES; from
anyone else (a browser) the address is the socket's (issue 10, finding 7).
"""
import ipaddress
from functools import lru_cache
from typing import Any


def public_ip(value: str) -> str:
    """The address in `value` when it is a public one, else ""."""
    text = value.strip().strip('"')
    if text.startswith("["):  # "[2001:db8::1]:4711"
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # "203.0.113.9:4711"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return ""
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    if (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    ):
        return ""
    return str(address)


def _forwarded_for(value: str) -> str:
    for element in value.split(","):
        for pair in element.split(";"):
            name, _, item = pair.strip().partition("=")
            if name.lower() == "for":
                return item
    return ""


def client_ip(meta: dict, header_order: list[str]) -> str:
    for header in header_order:
        raw = meta.get("HTTP_" + header.upper().replace("-", "_"))
        if not raw:
            continue
        if header == "x-forwarded-for":
            raw = raw.split(",", 1)[0]
        elif header == "forwarded":
            raw = _forwarded_for(raw)
        found = public_ip(raw)
        if found:
            return found
    return public_ip(meta.get("REMOTE_ADDR", "") or "")


@lru_cache(maxsize=32)
def _networks(cidrs: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(value.strip().strip('"').strip("[]"))
    except ValueError:
        return None
    return address.ipv4_mapped or address if address.version == 6 else address


def in_networks(value: str, cidrs: tuple[str, ...]) -> bool:
    address = _address(value or "")
    return address is not None and any(address in network for network in _networks(cidrs))


def _last_untrusted(items: list[str], cidrs: tuple[str, ...]) -> str:
    """Proxies append to x-forwarded-for: the client is the last hop that is not one of ours."""
    for item in reversed(items):
        if not in_networks(item, cidrs):
            return public_ip(item)
    return ""


def proxied_ip(meta: dict, headers: list[str], cidrs: tuple[str, ...]) -> str:
    """The client's address as our trusted proxies report it."""
    for header in headers:
        raw = meta.get("HTTP_" + header.upper().replace("-", "_"))
        if not raw:
            continue
        if header == "x-forwarded-for":
            found = _last_untrusted(raw.split(","), cidrs)
        elif header == "forwarded":
            found = _last_untrusted([_forwarded_for(element) for element in raw.split(",")], cidrs)
        else:
            found = public_ip(raw)
        if found:
            return found
    return ""


def sender_ip(meta: dict, with_secret: bool, settings: Any) -> str:
    """The address a request counts as coming from: headers from a server caller (contract §6.4),
    from our proxies, or the socket's address."""
    if with_secret:
        return client_ip(meta, settings.CLIENT_IP_HEADERS)
    cidrs = tuple(settings.TRUSTED_PROXIES)
    socket = meta.get("REMOTE_ADDR", "") or ""
    if in_networks(socket, cidrs):
        return proxied_ip(meta, settings.PROXY_IP_HEADERS, cidrs) or public_ip(socket)
    return public_ip(socket)


def login_ip(request: Any) -> str:  # Django's HttpRequest (this module imports no Django)
    """django-axes' view of a login's address (AXES_CLIENT_IP_CALLABLE): the proxies' word or the
    socket's, private addresses included (a login from the office network is still somebody)."""
    from django.conf import settings

    cidrs = tuple(settings.TRUSTED_PROXIES)
    socket = request.META.get("REMOTE_ADDR", "") or ""
    if in_networks(socket, cidrs):
        forwarded = (request.META.get("HTTP_X_FORWARDED_FOR") or "").split(",")
        for item in reversed(forwarded):
            if item.strip() and not in_networks(item, cidrs):
                return item.strip()
    return socket


def valid_ip(value: object) -> str:
    """Normalise an `__ip` override; raise ValueError when it is not an address."""
    address = ipaddress.ip_address(str(value).strip())
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)
