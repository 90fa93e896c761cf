"""The User-Agent: the client and the device's platform, so that Spool reads a device (with
sessions) and not a server (contract §6.4): `spool-client/0.1.0 (Linux x86_64; Python 3.11)`."""
from __future__ import annotations

import platform
import sys

PRODUCT = "spool-client"
VERSION = "0.1.0"  # the one place; pyproject.toml reads it


def platform_name(system: str, machine: str, mac_version: str = "") -> str:
    """`Linux x86_64`; macOS as user agents spell it (`Mac OS X 14_1 arm64`): ua-parser does
    not know `Darwin`. An unknown platform still reads as a device: Spool knows this product."""
    if system == "Darwin":
        system = f"Mac OS X {mac_version.replace('.', '_')}".rstrip()
    return " ".join(part for part in (system or "unknown", machine) if part)


def default_user_agent() -> str:
    mac_version = platform.mac_ver()[0] if platform.system() == "Darwin" else ""
    where = platform_name(platform.system(), platform.machine(), mac_version)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"{PRODUCT}/{VERSION} ({where}; Python {python})"
