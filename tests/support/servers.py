"""Private Redis and ClickHouse servers on free ports, for tests and benchmarks that break or load them.

The shared servers on the default ports serve everyone on the machine; these belong to one caller,
who may stop, restart or starve them.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.support.live import ROOT, free_port
from tests.support.waiting import eventually


class PrivateRedis:
    def __init__(self, workdir: Path | None = None):
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="spool-redis-"))
        self.port = free_port()
        self.pidfile = self.workdir / "redis.pid"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis.from_url(self.url(db))

    def start(self, *options: str) -> "PrivateRedis":
        subprocess.run(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--daemonize", "yes", "--pidfile", str(self.pidfile), "--dir", str(self.workdir),
             "--logfile", str(self.workdir / "redis.log"), *options],
            check=True,
        )  # fmt: skip
        eventually(lambda: self.client().ping(), 10, every=0.02,
                   what=f"redis on port {self.port} (see {self.workdir / 'redis.log'})", ignoring=(redis.ConnectionError,))
        return self

    def start_as_make_run(self) -> "PrivateRedis":
        """Start it with the command `make run` uses (scripts/services.sh), on this port and folder."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "SPOOL_REDIS_PORT": str(self.port), "SPOOL_REDIS_DIR": str(self.workdir)}
        subprocess.run([str(ROOT / "scripts" / "services.sh"), "redis"], env=env, check=True, capture_output=True)
        return self

    def stop(self) -> None:
        """Stop the server the hard way (no save, no goodbye to its clients) and wait until it is gone."""
        try:
            pid = int(self.pidfile.read_text())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        while _alive(pid):
            time.sleep(0.02)
        self.pidfile.unlink(missing_ok=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class PrivateClickHouse:
    """A ClickHouse server of its own (scripts/clickhouse.sh), in a folder the clickhouse user can enter."""

    def __init__(self):
        # Not under pytest's tmp folders: those are private to root, and the server runs as `clickhouse`.
        self.workdir = Path(tempfile.mkdtemp(prefix="spool-ch-"))
        self.port = free_port()
        self.env = {
            **os.environ,
            "CH_TCP_PORT": str(self.port),
            "CH_HTTP_PORT": str(free_port()),
            "CH_INTERSERVER_PORT": str(free_port()),
        }

    def url(self, database: str) -> str:
        return f"clickhouse://default:@127.0.0.1:{self.port}/{database}"

    def _script(self, command: str) -> None:
        subprocess.run([str(ROOT / "scripts" / "clickhouse.sh"), command, str(self.workdir)], env=self.env,
                       check=True, capture_output=True)  # fmt: skip

    def start(self) -> "PrivateClickHouse":
        self._script("start")
        return self

    def stop(self) -> None:
        self._script("stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (our own child, not yet reaped) is gone for every purpose here.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][:1] != "Z"
    except OSError:
        return False
