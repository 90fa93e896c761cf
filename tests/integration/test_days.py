"""Issue 17, finding 4: an event sent again on another day is stored once (contract §6.3).

The row id hashes the time as sent (or the insert id), but a clock-ahead event is stored at each
send's arrival time and a skew-corrected one at each send's correction, and the events table
collapses rows only within one day of its sorting key. So these tests send the same batch to two
web processes of one stack: the stack's own, and one whose clock is a day ahead (libfaketime),
which is the same device retrying the next day. Then they count the rows with FINAL and after
OPTIMIZE ... FINAL.
"""
import uuid

import orjson
import pytest
import redis
import requests

from storage.clickhouse import client as clickhouse
from tests.support import stored
from tests.support.agents import IPHONE_UA
from tests.support.events import iso, now_ms, track
from tests.support.live import LiveStack
from tests.support.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)

HOUR, DAY = 3_600_000, 86_400_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """One stack (web, worker) and a second web process a day ahead, on the same stores."""
    live = LiveStack(tmp_path_factory.mktemp("days"))
    live.start(workers=1, web_workers=1)
    try:
        live.ahead = live.start_web_ahead(DAY // 1000)
        yield live
    finally:
        live.stop()


@pytest.fixture
def project(stack):
    return stack.create_project("--name", f"days {uuid.uuid4().hex[:8]}")


def send(url: str, project: dict, body: dict, path: str = "/track/batch") -> dict:
    headers = {"openpanel-client-id": project["client_id"], "openpanel-client-secret": project["client_secret"],
               "user-agent": IPHONE_UA, "x-forwarded-for": "81.2.69.142", "content-type": "application/json"}  # fmt: skip
    answer = requests.post(f"{url}{path}", data=orjson.dumps(body), headers=headers, timeout=30)
    assert answer.status_code == (200 if path == "/track" else 202), answer.text
    return answer.json()


def settled(stack, project: dict) -> None:
    """Wait until the worker has handled everything sent so far: a marker sent after it is stored
    (one worker takes the queue in order)."""
    name = f"marker_{uuid.uuid4().hex[:8]}"
    send(stack.url, project, {"events": [track(name)]})
    eventually(lambda: stored.count(project["project_id"], f"name = '{name}'") == 1, 60, every=0.25,
               what=f"the marker {name}")  # fmt: skip


def copies(project: dict, name: str) -> tuple[int, int]:
    """(rows FINAL shows, rows left once ClickHouse has merged everything)."""
    final = stored.count(project["project_id"], f"name = '{name}'")
    clickhouse.execute(f"OPTIMIZE TABLE {clickhouse.database()}.events FINAL")
    return final, stored.count(project["project_id"], f"name = '{name}'", final=False)


def next_midnight() -> int:
    return (now_ms() // DAY + 1) * DAY


# A device whose clock is ahead: its events are stamped in the next UTC day, so that the stack
# stores them at their arrival today and the process a day ahead stores them on another day.
SHAPES = {
    "insert id and device": lambda name, ms: track(name, __timestamp=iso(ms), __deviceId="kiosk-1", __insertId="i-1"),
    "insert id alone": lambda name, ms: track(name, __timestamp=iso(ms), __insertId=str(uuid.uuid4())),
    "time and device": lambda name, ms: track(name, __timestamp=iso(ms), __deviceId="kiosk-1", step="1"),
    "time alone": lambda name, ms: track(name, __timestamp=iso(ms), step="1"),
}


@pytest.mark.parametrize("order", ["today first", "next day first"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_clock_ahead_event_sent_on_two_days_is_stored_once(stack, project, shape, order):
    name = f"ahead_{uuid.uuid4().hex[:6]}"
    batch = {"events": [SHAPES[shape](name, next_midnight() + HOUR)]}
    urls = [stack.url, stack.ahead] if order == "today first" else [stack.ahead, stack.url]
    for url in urls:
        assert send(url, project, batch) == {"accepted": 1, "rejected": []}
        settled(stack, project)
    assert copies(project, name) == (1, 1)


def test_a_single_event_sent_on_two_days_is_stored_once(stack, project):
    """`POST /track` (the SDKs' endpoint), buffered and drained into chunks like any other."""
    name = f"single_{uuid.uuid4().hex[:6]}"
    event = SHAPES["insert id and device"](name, next_midnight() + HOUR)
    for url in (stack.url, stack.ahead):
        send(url, project, event, "/track")
        settled(stack, project)
    assert copies(project, name) == (1, 1)


def test_copies_waiting_together_are_stored_once(stack, project):
    """Both sends wait in the queue when the worker takes them (ClickHouse was away, say): they may
    be written in one block."""
    name = f"together_{uuid.uuid4().hex[:6]}"
    batch = {"events": [SHAPES["insert id and device"](name, next_midnight() + HOUR)]}
    stack.kill_workers()
    send(stack.url, project, batch)
    send(stack.ahead, project, batch)
    stack.start_worker()
    settled(stack, project)
    assert copies(project, name) == (1, 1)


def test_a_retry_after_redis_lost_its_data_is_stored_once(stack, project):
    name = f"lost_{uuid.uuid4().hex[:6]}"
    batch = {"events": [SHAPES["insert id and device"](name, next_midnight() + HOUR)]}
    send(stack.url, project, batch)
    settled(stack, project)
    redis.Redis.from_url(stack.env["REDIS_URL"]).flushdb()  # everything was stored; nothing waits
    send(stack.ahead, project, batch)
    settled(stack, project)
    assert copies(project, name) == (1, 1)


def skewed(name: str, sent_ms: int, device_sent_at: int) -> dict:
    return {"sentAt": iso(device_sent_at), "events": [track(name, __timestamp=iso(sent_ms), __deviceId="kiosk-2")]}


@pytest.mark.parametrize("retry", ["same process", "a day later"])
def test_a_skew_correction_across_midnight_is_stored_once(stack, project, retry):
    """A device clock 3 hours slow: its event is corrected to 2 s before a midnight; the retry's
    device clock has drifted 4 s more (or network delay differs), so it is corrected to 2 s after."""
    name = f"skewed_{uuid.uuid4().hex[:6]}"
    midnight = now_ms() // DAY * DAY - (DAY if now_ms() % DAY < HOUR else 0)  # in the past by an hour or more
    slow = 3 * HOUR
    event_ms = midnight - 2_000 - slow  # by the device's clock
    first = send(stack.url, project, skewed(name, event_ms, now_ms() - slow))
    assert first["accepted"] == 1 and abs(first["clockSkewMs"] - slow) < 1_000
    settled(stack, project)
    url, offset = (stack.url, 0) if retry == "same process" else (stack.ahead, DAY)
    second = send(url, project, skewed(name, event_ms, now_ms() + offset - slow - 4_000))
    assert second["accepted"] == 1 and abs(second["clockSkewMs"] - slow - 4_000) < 1_000
    settled(stack, project)
    [row] = stored.events(project["project_id"], f"name = '{name}'")
    assert min(abs(row["ms"] - (midnight - 2_000)), abs(row["ms"] - (midnight + 2_000))) < 1_000  # one of the two
    assert copies(project, name) == (1, 1)
