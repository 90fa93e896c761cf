"""Issue 12: the offline client (clients/python, spool-client) against a running Spool (gunicorn,
worker, ClickHouse): days offline, a flaky network, a SIGKILL mid-flush, a clock two days fast and
a malformed event. One live stack and one project serve every test; each test has its own device
and event names."""
import os
import subprocess
import sys
import time

import pytest
from spool_client import SpoolClient

from sessions_app import identity
from storage.clickhouse import client as clickhouse
from tests.support import stored
from tests.support.flaky_proxy import BUSY, CUT, DROP, LOST, PASS, FlakyProxy
from tests.support.live import ROOT, LiveStack
from tests.support.waiting import eventually

DAY = 86_400
DRIVER = ROOT / "clients" / "python" / "tests" / "crash_driver.py"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, django_db_blocker):
    with django_db_blocker.unblock():
        live = LiveStack(tmp_path_factory.mktemp("offline")).start()
    live.credentials = live.create_project("--name", "Offline devices")
    yield live
    live.stop()


@pytest.fixture
def project_id(stack) -> str:
    return stack.credentials["project_id"]


class DeviceClock:
    """The device's clock: a set time (`at`), or the real time shifted by `offset` seconds."""

    def __init__(self, offset: float = 0.0):
        self.at: float | None = None
        self.offset = offset

    def __call__(self) -> float:
        return self.at if self.at is not None else time.time() + self.offset


def client_for(stack, tmp_path, url: str | None = None, **options) -> SpoolClient:
    credentials = stack.credentials
    options.setdefault("path", str(tmp_path / "buffer.db"))
    return SpoolClient(url or stack.url, credentials["client_id"], credentials["client_secret"], **options)


def flush_all(client: SpoolClient, rounds: int = 30) -> None:
    """Flush until the buffer is empty, waiting (really) what the client asks between passes."""
    for _ in range(rounds):
        result = client.flush()
        if client.pending() == 0:
            return
        time.sleep((result.retry_after or 0) + 0.01)
    raise AssertionError(f"still {client.pending()} waiting: {client.status()}")


def once(project_id: str, name: str) -> tuple[int, int]:
    """Rows of this name as a reader sees them (FINAL), and distinct values of their property `i`."""
    return clickhouse.execute(
        f"SELECT count(), uniqExact(properties.value[indexOf(properties.key, 'i')]) "
        f"FROM {clickhouse.database()}.events FINAL WHERE project_id = %(p)s AND name = %(n)s",
        {"p": project_id, "n": name},
    )[0]


def arrived(project_id: str, name: str, expected: int) -> None:
    eventually(lambda: once(project_id, name)[0] >= expected, 60, every=0.2, what=f"{expected} events {name}")
    assert once(project_id, name) == (expected, expected)  # every one, once


def test_three_days_offline_then_a_flush_stores_every_event_once_in_the_session_of_its_time(stack, project_id, tmp_path):
    clock = DeviceClock()
    client = client_for(stack, tmp_path, clock=clock)
    count, step_ms = 10_000, 25_000  # 10,000 events over the last ~70 hours, the newest 1 h old
    start_ms = int((time.time() - 3 * DAY) * 1000)
    times = []
    for i in range(count):
        ms = start_ms + i * step_ms
        if ms % (DAY * 1000) < 6_000:
            # A bucket's 5 s grace reaches past midnight UTC; a start left on the later day waits
            # for the worker's sweep (docs/sessions.md; tests/integration/test_faults.py covers it).
            ms += 6_000
        clock.at = ms / 1000
        client.track("offline_day", {"i": i})
        times.append(ms)
    assert client.pending() == count
    clock.at = None  # back online: the device clock is right
    flush_all(client)
    assert client.status().clock_skew_ms is None and client.status().dead_letters == 0
    arrived(project_id, "offline_day", count)

    rows = stored.events(project_id, "name = 'offline_day'")
    device = client.device_id
    assert {row["device_id"] for row in rows} == {device}
    assert {row["device"] for row in rows} == {"desktop"}  # its User-Agent reads as a device, not a server
    for row in rows:
        assert row["ms"] == times[int(row["properties"]["i"])]

    # Issue 20: the client decided the sessions (contract §6.2 rule 0): never idle for 30 minutes, so
    # a new one each 24 hours, not one per 30-minute window (there were more than 100 before).
    by_session: dict[str, list[int]] = {}
    for row in rows:
        by_session.setdefault(row["session_id"], []).append(times[int(row["properties"]["i"])])
    assert len(by_session) == 3
    spans = sorted((min(found), max(found)) for found in by_session.values())
    assert all(last - first < DAY * 1000 for first, last in spans)
    assert all(spans[n][1] < spans[n + 1][0] for n in range(2))  # each a stretch of the stream
    latest = identity.client_session_id_for(project_id, device, client.status().session_id)
    assert latest in by_session and max(by_session[latest]) == times[-1]
    sessions = set(by_session)

    def one_start_per_session() -> bool:
        starts = clickhouse.execute(
            f"SELECT session_id, count() FROM {clickhouse.database()}.events FINAL "
            "WHERE project_id = %(p)s AND device_id = %(d)s AND name = 'session_start' GROUP BY session_id",
            {"p": project_id, "d": device},
        )
        return dict(starts) == dict.fromkeys(sessions, 1)

    eventually(one_start_per_session, 30, every=0.5, what="one session_start per session")
    client.close()


def test_a_flaky_network_loses_nothing_and_doubles_nothing(stack, project_id, tmp_path):
    # Connection by connection: batch 1 dropped, then its answer lost, then through; batch 2 half
    # answered, then 503 with Retry-After, then its answer lost, then through; batch 3 through.
    proxy = FlakyProxy(stack.port, [DROP, LOST, PASS, CUT, BUSY, LOST, PASS, PASS])
    client = client_for(stack, tmp_path, url=proxy.url)
    client.backoff_base = client.backoff_floor = 0.05  # real waits, kept short
    try:
        for i in range(5000):
            client.track("flaky", {"i": i})
        flush_all(client)
    finally:
        proxy.close()
        client.close()
    assert proxy.seen == [DROP, LOST, PASS, CUT, BUSY, LOST, PASS, PASS]
    arrived(project_id, "flaky", 5000)


def _driver(stack, path: str, where: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ, "PYTHONPATH": str(ROOT / "clients" / "python"), "CRASH_REAL_CLOCK": "1",
        "CRASH_CLIENT_ID": stack.credentials["client_id"], "CRASH_CLIENT_SECRET": stack.credentials["client_secret"],
    }  # fmt: skip
    return subprocess.run([sys.executable, str(DRIVER), stack.url, path, "flush", where, "2"], env=env, timeout=120)


@pytest.mark.parametrize(
    "name, where, stored_at_kill",
    [
        ("killed_before_send", "urlopen:call", 2000),  # the second batch never left
        ("killed_after_send", "_apply:call", 3000),  # the server took it; the client never learnt
    ],
)
def test_a_process_killed_mid_flush_and_restarted_loses_nothing_and_doubles_nothing(
    stack, project_id, tmp_path, name, where, stored_at_kill
):
    path = str(tmp_path / "buffer.db")
    with client_for(stack, tmp_path, path=path) as client:
        for i in range(3000):  # two batches: 2000 and 1000
            client.track(name, {"i": i})
    assert _driver(stack, path, where).returncode == -9  # SIGKILL, inside its second batch
    arrived(project_id, name, stored_at_kill)
    with client_for(stack, tmp_path, path=path) as client:
        assert client.pending() == 1000  # the first batch was settled; the second was not
        flush_all(client)
        assert client.status().dead_letters == 0
    arrived(project_id, name, 3000)


def test_a_device_clock_two_days_fast_is_corrected_to_the_true_times(stack, project_id, tmp_path):
    clock = DeviceClock(offset=2 * DAY)
    client = client_for(stack, tmp_path, clock=clock)
    true_ms = [int((time.time() - 3 * 3600 + i * 300) * 1000) for i in range(20)]  # 3 h to 1.5 h ago
    for i, ms in enumerate(true_ms):
        clock.at = ms / 1000 + 2 * DAY
        client.track("fast_clock", {"i": i})
    clock.at = None  # still two days fast, now
    flush_all(client)
    skew = client.status().clock_skew_ms
    assert -2 * DAY * 1000 <= skew < -2 * DAY * 1000 + 5_000  # the server's answer, kept by the client
    client.close()
    arrived(project_id, "fast_clock", 20)
    for row in stored.events(project_id, "name = 'fast_clock'"):
        ms = true_ms[int(row["properties"]["i"])]
        assert ms <= row["ms"] < ms + 5_000  # its true time, not clamped to the arrival
        assert row["properties"]["__clock_skew_ms"] == str(skew)


def test_a_malformed_event_is_dead_lettered_with_its_error_and_the_rest_goes_on(stack, project_id, tmp_path):
    client = client_for(stack, tmp_path)
    client.track("malformed_ok", {"i": 0})
    client.track("", {"i": 1})  # no name
    client.track("malformed_ok", {"i": 2, "__timestamp": "yesterday"})
    client.track("malformed_ok", {"i": 3})
    flush_all(client)
    assert client.pending() == 0 and client.status().dead_letters == 2
    dead = sorted(client.dead_letters(), key=lambda letter: letter["seq"])
    assert [(letter["code"], letter["error"]) for letter in dead] == [
        ("invalid_field", "payload.name: this field may not be blank"),
        ("invalid_timestamp", "properties.__timestamp: invalid timestamp"),
    ]
    client.track("malformed_ok", {"i": 4})  # and the client goes on
    flush_all(client)
    client.close()
    arrived(project_id, "malformed_ok", 3)
    values = {row["properties"]["i"] for row in stored.events(project_id, "name = 'malformed_ok'")}
    assert values == {"0", "3", "4"}
