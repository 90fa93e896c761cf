"""The client's IP address (contract §6.4): the first public address among the trusted headers."""
import ipaddress


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


def valid_ip(value) -> str:
    """Normalise an `__ip` override; raise ValueError when it is not an address."""
    address = ipaddress.ip_address(str(value).strip())
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)
