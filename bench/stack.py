"""What a benchmark runs against: the real server under gunicorn (bench settings: Spool + floor views),
RQ workers and a private Redis; ClickHouse is the run's own (bench/__main__.py).
"""
import http.client
import shutil
import tempfile
import time
from pathlib import Path

from contract.tables import EVENTS
from storage.clickhouse import client as clickhouse
from tests.support.geoip import build_city_database
from tests.support.live import LiveStack
from tests.support.servers import PrivateRedis

BROWSER_UA = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
CLIENT_IP = "81.2.69.142"


class BenchStack:
    def __init__(self, web_workers: int = 2, workers: int = 0, **env):
        self.web_workers, self.workers, self.extra_env = web_workers, workers, env
        self.workdir = Path(tempfile.mkdtemp(prefix="spool-bench-"))
        self.redis = PrivateRedis(self.workdir / "redis")

    def __enter__(self) -> "BenchStack":
        (self.workdir / "redis").mkdir()
        self.redis.start()
        self.live = LiveStack(
            self.workdir,
            redis_url=self.redis.url(),
            DJANGO_SETTINGS_MODULE="bench.settings",
            GEOIP_PATH=build_city_database(self.workdir / "city.mmdb"),
            **self.extra_env,
        )
        self.live.manage("clickhouse_migrate")
        self.live.start(workers=self.workers, web_workers=self.web_workers)
        # The project id comes from its name: one per stack, as they share the ClickHouse database.
        self.project = self.live.create_project("--name", f"bench {self.workdir.name}")
        self.host, self.port = "127.0.0.1", self.live.port
        return self

    def __exit__(self, *exc) -> None:
        self.live.stop()
        self.redis.remove()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def headers(self, content_type: str = "application/json") -> dict:
        return {
            "content-type": content_type,
            "openpanel-client-id": self.project["client_id"],
            "openpanel-client-secret": self.project["client_secret"],
            "user-agent": BROWSER_UA,
            "x-forwarded-for": CLIENT_IP,
        }

    def post(self, path: str, body: bytes, **headers: str) -> tuple[float, int, bytes]:
        """One request on a new connection (sync workers close each one): (ms until the answer, status, body).
        `headers` replace the standard ones of the same name."""
        started = time.perf_counter()
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        connection.request("POST", path, body, {**self.headers(), **headers})
        response = connection.getresponse()
        answer = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        connection.close()
        return elapsed, response.status, answer

    def count_events(self, final: bool = True) -> int:
        """Rows of this project in ClickHouse, session rows left out."""
        return clickhouse.execute(
            f"SELECT count() FROM {clickhouse.database()}.{EVENTS.name} {'FINAL' if final else ''} "
            "WHERE project_id = %(p)s AND name NOT IN ('session_start', 'session_end')",
            {"p": self.project["project_id"]},
        )[0][0]

