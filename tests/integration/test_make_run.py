"""`make run` that explains itself, and `make stop` (issue 18, deliverable 2), on a copy of the
checkout with a Redis of its own (never the machine's shared ones): it says what it does, ends with
the admin URL, the superuser step, the docs URL and the curl line, is quiet when idle, and `make
stop` stops what it started and nothing else. `make run` installs the runtime requirements only."""
import os
import re
import signal
import subprocess
import time

import pytest
import redis
import requests
from django.conf import settings

from tests.support.checkout import copy_checkout
from tests.support.live import free_port
from tests.support.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)
IDLE_SECONDS = 15


@pytest.fixture
def clone(tmp_path):
    return copy_checkout(tmp_path / "spool", with_venv=True)


def _settled(log) -> str:
    """The log once it has not grown for 3 s."""
    seen = [log.read_text(), None]

    def still() -> bool:
        time.sleep(3)
        seen[1], seen[0] = seen[0], log.read_text()
        return seen[0] == seen[1]

    eventually(still, 60, every=0, what="make run to settle")
    return seen[0]


def test_make_run_says_where_everything_is_stays_quiet_and_make_stop_stops_it(clone, tmp_path):
    redis_port, web_port = free_port(), free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SPOOL_REDIS_PORT": str(redis_port)}
    subprocess.run(["scripts/services.sh", "redis"], cwd=clone, env=env, check=True, capture_output=True)
    log = tmp_path / "run.log"
    run_env = {**env, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "CLICKHOUSE_URL": settings.CLICKHOUSE_URL,
               "SPOOL_WEB_PORT": str(web_port)}  # fmt: skip
    with open(log, "wb") as out:
        run = subprocess.Popen(["scripts/run.sh"], cwd=clone, env=run_env, stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True)  # fmt: skip
    try:
        eventually(lambda: "Spool is running at" in log.read_text(), 90, every=0.5, what="make run's summary")
        text = log.read_text()
        url = f"http://127.0.0.1:{web_port}"
        for step in ("==> database", "==> ClickHouse", "==> starting the worker", "==> starting the web server"):
            assert step in text, step
        assert f"the admin      {url}/admin/" in text and "manage.py createsuperuser" in text
        assert f"the API docs   {url}/api/docs/" in text
        curl = re.search(r"^curl -s (\S+)/track .*-H 'openpanel-client-id: ([^']+)' -H 'openpanel-client-secret: ([^']+)'",
                         text, re.M)  # fmt: skip
        assert curl and curl.group(1) == url
        sent = requests.post(f"{url}/track", json={"type": "track", "payload": {"name": "hello"}}, timeout=10,
                             headers={"openpanel-client-id": curl.group(2), "openpanel-client-secret": curl.group(3)})
        assert sent.status_code == 200, sent.text
        assert requests.get(f"{url}/", timeout=10).status_code == 200

        settled = _settled(log)  # the requests above add their lines, the worker its start-up jobs'
        time.sleep(IDLE_SECONDS)
        assert log.read_text() == settled, "an idle make run printed more"

        stopped = subprocess.run(["scripts/stop.sh"], cwd=clone, env=env, capture_output=True, text=True, timeout=60)
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout.splitlines() == ["stopped the web server", "stopped the worker", "stopped Redis"]
        assert run.wait(timeout=30) is not None
        with pytest.raises(redis.ConnectionError):
            redis.Redis(port=redis_port).ping()
        assert redis.Redis.from_url(settings.TEST_REDIS_URL).ping()  # what it did not start is left alone
        assert "Traceback" not in log.read_text()
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGTERM)
        subprocess.run(["scripts/stop.sh"], cwd=clone, env=env, capture_output=True)


def test_make_run_installs_the_runtime_requirements_and_make_clean_stops_first(clone):
    dry = {target: subprocess.run(["make", "-n", target, "VENV=.fresh-venv"], cwd=clone, capture_output=True,
                                  text=True).stdout for target in ("run", "test", "clean")}  # fmt: skip
    assert "requirements/base.txt" in dry["run"] and "requirements/dev.txt" not in dry["run"]
    assert "requirements/dev.txt" in dry["test"]
    assert dry["clean"].index("scripts/stop.sh") < dry["clean"].index("rm -rf")
