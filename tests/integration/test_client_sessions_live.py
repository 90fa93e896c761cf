"""Issue 20, live: offline clients that decide their sessions (`__sessionId`, contract §6.2 rule 0)
against a running Spool (gunicorn, the worker and its sweep, ClickHouse). The server's timeout is 6 s
here, so that the sessions end within the test; the client's own rule (30 minutes idle, 24 hours at
most) decides what is one session."""
import time

import pytest
from spool_client import SpoolClient

from sessions_app import identity
from storage.clickhouse import client as clickhouse
from tests.support import stored
from tests.support.live import LiveStack
from tests.support.waiting import eventually

HOUR = 3_600


@pytest.fixture(scope="module")
def stack(tmp_path_factory, django_db_blocker):
    with django_db_blocker.unblock():
        live = LiveStack(tmp_path_factory.mktemp("client-sessions"), SESSION_TIMEOUT_SECONDS=6,
                         SESSION_SWEEP_SECONDS=2).start()  # fmt: skip
    live.credentials = live.create_project("--name", "Kiosks")
    yield live
    live.stop()


class DeviceClock:
    def __init__(self) -> None:
        self.at: float | None = None

    def __call__(self) -> float:
        return self.at if self.at is not None else time.time()


def session_rows(project_id: str, device: str) -> dict[str, list[dict]]:
    rows = stored.events(project_id, "device_id = %(d)s", {"d": device})
    found: dict[str, list[dict]] = {}
    for row in rows:
        found.setdefault(row["name"], []).append(row)
    return found


def test_the_forty_hour_kiosk_stream_is_stored_as_its_two_sessions(stack, tmp_path):
    """An event every 4 minutes for 40 hours, offline, then one flush: 2 sessions (24 h and 16 h),
    not the 81 of 30-minute buckets; each with one start at its first event and one end."""
    credentials = stack.credentials
    project_id = credentials["project_id"]
    clock = DeviceClock()
    client = SpoolClient(stack.url, credentials["client_id"], credentials["client_secret"],
                         path=str(tmp_path / "kiosk.db"), clock=clock, device_id="kiosk-40h")  # fmt: skip
    start = int(time.time() - 41 * HOUR)
    times = []
    for n in range(40 * 15):
        clock.at = start + n * 240
        client.track("tick", {"n": n})
        times.append((start + n * 240) * 1000)
    clock.at = None  # back online
    while client.pending():
        result = client.flush()
        assert result.error is None, result.error
    assert client.status().dead_letters == 0 and client.status().last_error is None

    def settled() -> bool:
        found = session_rows(project_id, "kiosk-40h")
        return len(found.get("tick", [])) == 600 and len(found.get("session_end", [])) == 2

    eventually(settled, 90, every=0.5, what="600 events and 2 session ends")
    time.sleep(5)  # more sweeps pass: none may add an end
    found = session_rows(project_id, "kiosk-40h")
    ticks = found["tick"]
    assert sorted(row["ms"] for row in ticks) == times  # every event once, with its own time
    by_session: dict[str, list[int]] = {}
    for row in ticks:
        by_session.setdefault(row["session_id"], []).append(row["ms"])
    assert sorted(len(found_times) for found_times in by_session.values()) == [240, 360]
    latest = identity.client_session_id_for(project_id, "kiosk-40h", client.status().session_id)
    assert min(by_session[latest]) == times[360]

    starts = {row["session_id"]: row["ms"] for row in found["session_start"]}
    ends = {row["session_id"]: row for row in found["session_end"]}
    assert set(starts) == set(ends) == set(by_session)
    for session_id, session_times in by_session.items():
        assert starts[session_id] == min(session_times) - 100
        assert ends[session_id]["duration"] == max(session_times) - min(session_times)
        assert ends[session_id]["ms"] == max(session_times) + 1_000
    raw = clickhouse.execute(
        f"SELECT name, count() FROM {clickhouse.database()}.events FINAL WHERE project_id = %(p)s "
        "AND device_id = 'kiosk-40h' AND name IN ('session_start', 'session_end') GROUP BY name",
        {"p": project_id},
    )
    assert dict(raw) == {"session_start": 2, "session_end": 2}
    client.close()
