"""The development signing key of a machine that is not in production mode: made once, kept in
`.local/secret-key` (mode 0600), so every command typed in a fresh shell signs with the same key and
an admin login survives a restart (contract §8 r3; docs/operations.md, "Settings")."""
import os
import secrets
from pathlib import Path

from config import SettingError

FILE_NAME = "secret-key"


def local_secret_key(folder: Path) -> str:
    """The key in `folder/secret-key`, made now if there is none. Two processes starting at once
    (`make run` starts the worker beside gunicorn) agree: the file appears whole or not at all."""
    path = folder / FILE_NAME
    try:
        return _read(path) or _create(path)
    except OSError as error:
        raise SettingError(
            f"DJANGO_SECRET_KEY is not set and the development key {path} cannot be kept ({error.strerror}); "
            "set DJANGO_SECRET_KEY (50 or more random characters)"
        ) from None


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def _create(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{FILE_NAME}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_urlsafe(50) + "\n")
    try:
        os.link(draft, path)  # atomic, and refuses to replace a key another process made first
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return _read(path)
