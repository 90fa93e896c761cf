"""A real Spool stack in subprocesses: gunicorn serving the API and an RQ worker beside it.

Used where the outside view matters: the published SDKs, fault injection, the schema fuzzer.
It gets its own SQLite file and Redis database, and shares this run's ClickHouse database.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests
from django.conf import settings

from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveStack:
    def __init__(self, workdir: Path, redis_url: str | None = None, **env):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base_redis = redis_url or settings.TEST_LIVE_REDIS_URL  # not the tests' own: they flush theirs
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DEBUG": "0",
            "DJANGO_SECRET_KEY": "live-test-secret-" + "0123456789abcdef" * 3,  # production mode: 50+ chars
            "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
            "REDIS_URL": base_redis,
            "CLICKHOUSE_URL": settings.CLICKHOUSE_URL,
            "GEOIP_PATH": settings.GEOIP_PATH,
            "PYTHONUNBUFFERED": "1",
            # Tests and benchmarks of the live stack send far more than a project's default quota
            # allows; the quota itself is tested in tests/integration/test_admission.py.
            "QUOTA_EVENTS_PER_MINUTE": "1000000000",
            "QUOTA_BURST": "1000000000",
            **{key: str(value) for key, value in env.items()},
        }
        self.web = None
        self.workers: list[subprocess.Popen] = []
        self.other_webs: list[subprocess.Popen] = []

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, check=True
        )
        return result.stdout

    def create_project(self, *args: str) -> dict:
        return json.loads(self.manage("create_project", *args).strip().splitlines()[-1])

    def start(self, workers: int = 1, web_workers: int = 2) -> "LiveStack":
        self.manage("migrate", "--noinput", "-v0")
        import redis

        redis.Redis.from_url(self.env["REDIS_URL"]).flushdb()
        self.web = self._gunicorn(self.port, web_workers, "web.log")
        try:
            for _ in range(workers):
                self.start_worker()
            self.wait_until_up()
        except BaseException:
            self.stop()  # never leave a server or worker behind
            raise
        return self

    def _gunicorn(self, port: int, web_workers: int, log: str, prefix: tuple[str, ...] = ()) -> subprocess.Popen:
        # The shipped gunicorn.conf.py (worker class, threads, limits), read from ROOT as `make run` does;
        # only the number of processes is this server's, through the variable the config reads.
        return subprocess.Popen(
            [*prefix, sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--log-level", "warning"],
            cwd=ROOT, env={**self.env, "WEB_CONCURRENCY": str(web_workers)}, stdout=open(self.workdir / log, "ab"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def start_web_ahead(self, seconds: int, web_workers: int = 1) -> str:
        """Another web server on the same database, Redis and ClickHouse whose clock is `seconds`
        ahead of the machine's (libfaketime: `apt-get install faketime`): a request sent to it
        arrives, as far as Spool can tell, that much later. Returns its URL; stop() stops it."""
        if shutil.which("faketime") is None:
            raise RuntimeError("these tests need libfaketime: apt-get install -y faketime")
        port = free_port()
        self.other_webs.append(self._gunicorn(port, web_workers, f"web-ahead-{seconds}.log", ("faketime", "-f", f"+{seconds}s")))
        url = f"http://127.0.0.1:{port}"
        eventually(lambda: requests.options(f"{url}/track", timeout=1), 30, every=0.1,
                   what=f"the web server {seconds} s ahead", ignoring=(requests.RequestException,))  # fmt: skip
        return url

    def web_worker_pids(self) -> list[int]:
        """The gunicorn worker processes (children of the master)."""
        children = Path(f"/proc/{self.web.pid}/task/{self.web.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def start_worker(self, *options: str) -> subprocess.Popen:
        """A `manage.py runworker` with these options (`--worker-class`, ...)."""
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "runworker", *options],
            cwd=ROOT, env=self.env, stdout=open(self.workdir / "worker.log", "ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.workers.append(worker)
        return worker

    def wait_until_up(self, timeout: float = 30) -> None:
        eventually(lambda: requests.options(f"{self.url}/track", timeout=1), timeout, every=0.1,
                   what=f"the web server (see {self.workdir / 'web.log'})", ignoring=(requests.RequestException,))

    @staticmethod
    def _stop(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    def kill_workers(self, sig=signal.SIGKILL) -> None:
        for worker in self.workers:
            self._stop(worker, sig)
        self.workers = []

    def stop(self) -> None:
        self.kill_workers(signal.SIGTERM)
        for web in [self.web, *self.other_webs]:
            if web is not None:
                self._stop(web)
        self.web, self.other_webs = None, []
