"""Issue 11 §6: LOG_FORMAT=json gives one JSON object per line, with the request id and project id on
every record of a request and the job id on every record of a job; Sentry only when SENTRY_DSN is set."""
import gzip
import http.server
import io
import logging.config
import threading

import orjson
import pytest
from django.conf import settings as django_settings

from contract import messages
from ingest.observe.logs import logging_config
from ingest.worker import registry
from storage.queue import queues
from tests.support.events import now_ms
from tests.support.live import LiveStack
from tests.support.waiting import eventually
from tests.support.worker import drain

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_logs():
    """Logging as LOG_FORMAT=json configures it, its console handler writing into a buffer."""
    logging.config.dictConfig(logging_config("INFO", "json"))
    buffer = io.StringIO()
    for handler in logging.getLogger().handlers:
        handler.setStream(buffer)

    def lines() -> list[dict]:
        return [orjson.loads(line) for line in buffer.getvalue().splitlines()]  # every line is one object

    yield lines
    logging.config.dictConfig(django_settings.LOGGING)


def test_records_of_a_request_carry_its_request_and_project_ids(api, project, json_logs):
    from storage.queue import buffers
    from storage.redis import client as redis

    redis.client().set(buffers.REJECTED_BUFFER.key, "not a list")  # recording a rejection logs a warning
    batch = {"events": [{"type": "track", "payload": {"name": ""}}]}
    response = api.post("/track/batch", batch, format="json", HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 202
    records = [line for line in json_logs() if line["logger"] == "ingest.pipeline.rejections"]
    assert records and records[0]["level"] == "WARNING" and "could not record" in records[0]["message"]
    assert records[0]["request_id"] == "req-42" and records[0]["project_id"] == project.id
    assert set(records[0]) >= {"time", "level", "logger", "message"}


def test_records_of_a_job_carry_its_job_id(project, json_logs):
    ctx = {"project_id": project.id, "backfill_days": 1, "received_ms": now_ms(), "ip": "", "sdk_name": "",
           "sdk_version": "", "geo": {"country": "", "city": "", "region": "", "latitude": None, "longitude": None},
           "agent": {"os": "", "os_version": "", "browser": "", "browser_version": "", "device": "server", "brand": "",
                     "model": ""}}  # fmt: skip
    too_old = {"type": "track", "name": "late", "ts": now_ms() - 3 * 86_400_000, "properties": {},
               "id": "00000000-0000-4000-8000-000000000001", "device_id": "d", "session_id": "s"}  # fmt: skip
    job = queues.enqueue_chunk([messages.event_packet(ctx, [too_old])])
    drain()
    records = [line for line in json_logs() if line["logger"] == "ingest.worker.write"]
    assert records and "fell outside" in records[0]["message"] and records[0]["job_id"] == job.id
    assert "request_id" not in records[0]


class _Collector(http.server.BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers["content-length"]))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_a_failed_job_is_reported_to_sentry_when_a_dsn_is_set(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack = LiveStack(tmp_path, SENTRY_DSN=f"http://public@127.0.0.1:{server.server_port}/1")
    try:
        stack.start(workers=1, web_workers=1)
        import redis
        from rq import Queue

        connection = redis.Redis.from_url(stack.env["REDIS_URL"])
        bad = {**messages.chunk([]), "v": 99}  # a newer release's message: the job fails
        Queue(queues.EVENTS, connection=connection, serializer=queues.JobSerializer).enqueue_call(
            registry.PROCESS_EVENTS, args=(bad,), failure_ttl=600)  # fmt: skip
        report = eventually(lambda: [body for body in _Collector.received if b"UnknownFormat" in body], 30,
                            what="an error report at the fake Sentry")  # fmt: skip
        assert b'"job_id"' in report[0]
    finally:
        stack.stop()
        server.shutdown()


def test_no_sentry_without_a_dsn():
    import sentry_sdk

    assert django_settings.DEBUG is False and not sentry_sdk.get_client().is_active()


@pytest.mark.django_db(transaction=True)
def test_every_line_of_the_web_and_worker_processes_is_json(tmp_path):
    """Issue 18 finding 11: with LOG_FORMAT=json, gunicorn's access and error lines stayed plain text in
    the same stream, django.request's 4xx records had no request id, and with DEBUG on each was
    printed twice."""
    import signal
    import subprocess
    import sys

    import requests

    from tests.support.live import ROOT, free_port

    stack = LiveStack(tmp_path, LOG_FORMAT="json", DEBUG="1")
    stack.manage("migrate", "--noinput", "-v0")
    port = free_port()
    log = tmp_path / "web.log"
    with open(log, "wb") as out:
        web = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
                                f"127.0.0.1:{port}", "--access-logfile", "-"], cwd=ROOT, env=stack.env,
                               stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        eventually(lambda: requests.get(f"{url}/livez", timeout=1).ok, 30, every=0.2,
                   ignoring=(requests.RequestException,), what="gunicorn")  # fmt: skip
        assert requests.get(f"{url}/no-such-page", headers={"X-Request-ID": "req-404"}, timeout=5).status_code == 404
        refused = requests.post(f"{url}/track", json={"type": "track", "payload": {"name": "x"}}, timeout=5,
                                headers={"X-Request-ID": "req-401", "openpanel-client-id": "not-a-uuid"})
        assert refused.status_code == 401 and refused.headers["X-Request-ID"] == "req-401"
        eventually(lambda: "req-401" in log.read_text(), 10, what="the access line")
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(timeout=30)
    worker = subprocess.run([sys.executable, "manage.py", "runworker", "--burst", "--no-scheduler"], cwd=ROOT,
                            env=stack.env, capture_output=True, text=True, timeout=120)  # fmt: skip

    lines = [line for line in log.read_text().splitlines() if line.strip()]
    lines += [line for line in (worker.stdout + worker.stderr).splitlines() if line.strip()]
    records = [orjson.loads(line) for line in lines]  # every line is one JSON object
    loggers = {record["logger"] for record in records}
    assert {"gunicorn.error", "gunicorn.access", "django.request"} <= loggers
    access = [r for r in records if r["logger"] == "gunicorn.access" and r.get("path") == "/no-such-page"]
    assert len(access) == 1 and access[0]["status"] == 404 and access[0]["request_id"] == "req-404"
    for request_id, words in (("req-404", "Not Found: /no-such-page"), ("req-401", "Unauthorized: /track")):
        found = [r for r in records if r["logger"] == "django.request" and r.get("request_id") == request_id]
        assert len(found) == 1, (request_id, found)  # once, with its request id, even with DEBUG on
        assert found[0]["message"] == words
