"""One flush at a time per buffer, across processes (an app's flusher and `python -m spool_client
flush` on the same file): two flushes would send the same rows at once, and an increment sent
twice counts twice. An OS file lock, so a killed process never leaves it held."""
from __future__ import annotations

import os
import sys

from spool_client.buffer import private_file

if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class FlushLock:
    """`with lock as held:` held is False when another process flushes this buffer now."""

    def __init__(self, path: str):
        self._path = path + "-flush.lock"
        self._fd: int | None = None

    def __enter__(self) -> bool:
        private_file(self._path)  # 0600 whatever the umask, and for a lock file an older client made
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _try_lock(fd)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def __exit__(self, *exc_info) -> None:
        if self._fd is None:
            return
        try:
            _unlock(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None
