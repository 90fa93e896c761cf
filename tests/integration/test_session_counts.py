"""A live session's counts survive retries (issue 17, finding 6): screen views and bounce count each
event once, whatever is sent again (a retried batch, a single event, a replayed file, a job run
twice). And a server event joins its profile's live session only when its time falls inside it
(finding 12, contract §6.2 rule 1)."""
import pytest

from sessions_app.ends import close_live_sessions
from storage.queue import queues
from tests.support import stored
from tests.support.agents import IPHONE_UA
from tests.support.events import at, iso, now_ms
from tests.support.worker import drain

pytestmark = pytest.mark.django_db
MINUTE = 60_000
TIMEOUT = 30 * MINUTE
DAY = 86_400_000


def send(client, events: list[dict]) -> None:
    response = client.post("/track/batch", {"events": events}, format="json")
    assert response.status_code == 202 and response.json()["rejected"] == [], response.content
    drain()


def the_end(project) -> dict:
    close_live_sessions(now_ms() + TIMEOUT)
    [end] = stored.events(project.id, "name = 'session_end'")
    return end


def counts(end: dict) -> tuple[str, str]:
    return end["properties"]["__screen_views"], end["properties"]["__bounce"]


@pytest.fixture
def phone(client_for):
    return client_for(user_agent=IPHONE_UA)


def test_a_batch_sent_again_counts_its_screen_view_once(phone, project):
    batch = [at("screen_view", now_ms() - MINUTE, device="phone-1", __path="/only")]
    send(phone, batch)
    send(phone, batch)  # the client did not see the answer: a new chunk, the same event ids
    assert counts(the_end(project)) == ("1", "1")


def test_a_single_event_sent_again_counts_once(phone, project):
    event = at("screen_view", now_ms() - MINUTE, device="phone-2", __path="/only")
    for _ in range(2):
        assert phone.post("/track", event, format="json").status_code == 200
        drain()
    assert counts(the_end(project)) == ("1", "1")


def test_an_event_sent_again_with_its_insert_id_counts_once(phone, project):
    """An `__insertId` without `__timestamp`: each send has its own time, the row id is the same."""
    event = {"type": "track", "payload": {"name": "screen_view", "properties": {"__deviceId": "phone-3",
             "__insertId": "5b3c8a52-3d6e-4d0c-9f41-0f3c2a1d9e77"}}}  # fmt: skip
    for _ in range(2):
        send(phone, [event])
    assert counts(the_end(project)) == ("1", "1")


def test_a_long_visit_replayed_whole_counts_each_screen_view_once(phone, project):
    """More screen views than a session remembers ids of: its end counts them from the stored rows."""
    t0 = now_ms() - 20 * MINUTE
    visit = [at("screen_view", t0 + i * 30_000, device="phone-4", __path=f"/p{i}") for i in range(25)]
    send(phone, visit[:10])
    send(phone, visit)  # the whole file replayed
    send(phone, visit[20:])  # and its end again
    end = the_end(project)
    assert counts(end) == ("25", "0")
    assert end["path"] == "/p24"


def test_a_job_run_twice_counts_nothing_twice(phone, project):
    """A worker killed after settling a chunk's sessions: the job runs again with the same chunk."""
    from ingest.worker.write import process_chunk

    t0 = now_ms() - MINUTE
    phone.post("/track/batch", {"events": [at("screen_view", t0 - i, device="phone-5") for i in range(3)]},
               format="json")  # fmt: skip
    [job] = queues.queue().get_jobs()
    queues.queue().empty()
    for _ in range(2):
        process_chunk(job.args[0], now_ms())
    assert counts(the_end(project)) == ("3", "0")


# --- server events and their profile's live session ---------------------------------------------
def server_event(name: str, profile: str, ms: int) -> dict:
    return {"type": "track", "payload": {"name": name, "profileId": profile, "properties": {"__timestamp": iso(ms)}}}


@pytest.mark.parametrize(
    "offset, joins",
    [
        (-4 * DAY, False),  # four days before the session: its own device and bucket
        (-TIMEOUT - MINUTE, False),  # before the session's start minus the timeout
        (-TIMEOUT + MINUTE, True),
        (0, True),
        (10 * MINUTE, True),
    ],
)
def test_a_server_event_joins_its_profile_s_live_session_only_inside_it(client_for, project, offset, joins):
    phone = client_for(user_agent=IPHONE_UA)
    t0 = now_ms() - 10 * MINUTE
    send(phone, [at("screen_view", t0, device="phone-6", __path="/cart"),
                 {"type": "track", "payload": {"name": "tap", "profileId": "buyer", "properties": {
                  "__timestamp": iso(t0 + 10 * MINUTE), "__deviceId": "phone-6"}}}])  # fmt: skip
    [start] = stored.events(project.id, "name = 'session_start'")
    server = client_for(user_agent="Go-http-client/1.1")
    send(server, [server_event("paid", "buyer", t0 + offset)])
    [paid] = stored.events(project.id, "name = 'paid'")
    assert (paid["session_id"] == start["session_id"]) is joins
    assert (paid["device_id"] == "phone-6") is joins
    assert (paid["path"] == "/cart") is joins
    if not joins:
        assert paid["device"] == "server"


def test_a_server_event_after_its_profile_s_session_plus_the_timeout_keeps_its_own_ids(client_for, project, settings):
    settings.SESSION_TIMEOUT_SECONDS = 60
    t0 = now_ms() - 40_000
    send(client_for(user_agent=IPHONE_UA), [{"type": "track", "payload": {"name": "tap", "profileId": "buyer",
         "properties": {"__timestamp": iso(t0), "__deviceId": "phone-7"}}}])  # fmt: skip
    settings.SESSION_TIMEOUT_SECONDS = 30  # the session is still in Redis, but 40 s idle is past its timeout now
    server = client_for(user_agent="Go-http-client/1.1")
    send(server, [server_event("late", "buyer", t0 + 35_000), server_event("inside", "buyer", t0 + 25_000)])
    rows = {row["name"]: row for row in stored.events(project.id, "name IN ('late', 'inside')")}
    assert rows["inside"]["device_id"] == "phone-7"
    assert rows["late"]["device_id"] != "phone-7" and rows["late"]["device"] == "server"
