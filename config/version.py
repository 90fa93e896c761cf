"""Spool's version, defined once in pyproject.toml and read from there (the landing page shows it)."""
import tomllib

from config.env import BASE_DIR


def _read() -> str:
    try:
        with open(BASE_DIR / "pyproject.toml", "rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


VERSION = _read()
