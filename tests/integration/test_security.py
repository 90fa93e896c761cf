"""Issue 17, finding 11: security. The admin's set-aside page scoped per project, the queue pages
gated whatever URL prefix reaches them, /metrics closed by default with bounded labels, and what
Sentry is sent."""
import pytest
from django.contrib.auth import get_user_model

from projects.services import create_project
from storage import buffers
from tests.support.events import now_ms
from tests.support.worker import drain

pytestmark = pytest.mark.django_db

SET_ASIDE = "/admin/ingest/rejectedsample/set-aside/"


def _context(project_id: str) -> dict:
    """A request context as the API queues it."""
    agent = {"os": "", "os_version": "", "browser": "", "browser_version": "", "device": "server", "brand": "",
             "model": ""}  # fmt: skip
    geo = {"country": "", "city": "", "region": "", "latitude": None, "longitude": None}
    return {"project_id": project_id, "backfill_days": 5, "received_ms": now_ms(), "ip": "", "geo": geo,
            "agent": agent, "sdk_name": "", "sdk_version": ""}  # fmt: skip


def _set_aside_a_change_of(project_id: str, marker: str) -> None:
    """A change the worker cannot apply (a blank profile id, as the release before queued it), set
    aside under its project by the real drain."""
    change = {"type": "identify", "profile_id": None, "properties": {"marker": marker}}
    buffers.push(_context(project_id), [], [change])


@pytest.fixture
def two_projects(db, project):
    other, _ = create_project("Other shop", origins=["https://other.example"])
    users = get_user_model().objects
    alice = users.create_user("alice", password="pw-alice-long-1", is_staff=True)
    project.members.add(alice)
    return project, other, alice


# --- the set-aside page -------------------------------------------------------------------------------
def test_a_project_admin_sees_only_what_was_set_aside_from_their_projects(client, admin_client, two_projects):
    mine, theirs, alice = two_projects
    _set_aside_a_change_of(mine.id, "mine-marker")
    _set_aside_a_change_of(theirs.id, "theirs-marker")
    from storage import redis

    redis.client().rpush(buffers.EVENT_BUFFER.key, b"{unreadable, of no project}")
    buffers.move_events_to_queue()  # sets it aside, under no project
    drain()

    client.force_login(alice)
    page = client.get(SET_ASIDE)
    assert page.status_code == 200
    text = page.content.decode()
    assert "mine-marker" in text
    assert "theirs-marker" not in text and theirs.id not in text
    assert "unreadable, of no project" not in text  # no project: an operator's
    assert "profiles: <strong>1</strong>" in text and "events: <strong>0</strong>" in text  # their counts only
    notice = client.get("/admin/ingest/rejectedsample/").content.decode()
    assert "1 item set aside" in notice

    everything = admin_client.get(SET_ASIDE).content.decode()  # a superuser sees all of it
    assert "mine-marker" in everything and "theirs-marker" in everything and "of no project" in everything
    assert "profiles: <strong>2</strong>" in everything and "events: <strong>1</strong>" in everything


def test_a_project_admins_view_reads_a_bounded_part_of_a_long_list():
    from storage import poison

    # 250 items, every third one of project "a".
    poison.put([poison.entry("events", {"n": n}, ValueError("bad"), "a" if n % 3 == 0 else "b") for n in range(250)])
    found, count, complete = poison.listed_from("events", {"a"}, limit=10, scan=120)
    assert (len(found), count, complete) == (10, 40, False)  # n = 0, 3, ... 117 among the first 120
    assert [orjson_item(entry) for entry in found] == [{"n": n} for n in range(0, 30, 3)]
    assert poison.listed_from("events", {"a"}, limit=1000, scan=1000)[1:] == (84, True)
    assert poison.listed_from("events", {"a"}, limit=10, scan=250)[1:] == (84, True)
    assert poison.listed_from("events", set(), limit=10, scan=1000) == ([], 0, True)


def orjson_item(entry) -> dict:
    import orjson

    return orjson.loads(entry["item"])


def test_a_staff_user_in_no_project_cannot_open_the_set_aside_page(client, two_projects):
    _, theirs, _ = two_projects
    _set_aside_a_change_of(theirs.id, "theirs-marker")
    drain()
    nobody = get_user_model().objects.create_user("nobody", password="pw-nobody-long-1", is_staff=True)
    client.force_login(nobody)
    page = client.get(SET_ASIDE)
    assert page.status_code == 403 and b"theirs-marker" not in page.content
