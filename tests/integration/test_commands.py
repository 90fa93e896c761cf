"""Contract §9 (r2): rotate_secret, list_projects, delete_profile (GDPR erasure) and export_events,
whose NDJSON replay_events reads back without storing anything twice."""
import io
import json

import orjson
import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.core.management.base import CommandError

from ingest.enrich import ids
from ingest.models import RejectedSample
from ingest.worker.rejected_samples import store_samples
from projects.services import create_project
from sessions_app.ends import close_historical_sessions
from storage.clickhouse import client as clickhouse
from storage.redis import client as redis
from storage.redis import keys
from tests.support import stored
from tests.support.agents import IPHONE_UA
from tests.support.events import at, iso, now_ms, track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db
MINUTE = 60_000


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def send(client, events):
    answer = client.post("/track/batch", {"events": events}, format="json").json()
    assert answer["rejected"] == [], answer
    drain()


def test_rotate_secret_prints_a_new_one_once_and_the_old_one_stops(api, client_for, project):
    printed = json.loads(run("rotate_secret", "--project", str(project.client_id)))
    assert printed["project_id"] == project.id and printed["client_secret"].startswith("sec_")
    assert api.post("/track", track("old"), format="json").status_code == 401
    fresh = client_for(HTTP_OPENPANEL_CLIENT_SECRET=printed["client_secret"])
    assert fresh.post("/track", track("new"), format="json").status_code == 200
    entry = LogEntry.objects.get(object_id=project.pk)
    assert "Rotated the client secret" in entry.change_message and printed["client_secret"] not in entry.change_message
    with pytest.raises(CommandError, match="no project has the client id"):
        run("rotate_secret", "--project", "00000000-0000-0000-0000-000000000000")


def test_list_projects_as_a_table_and_as_json(api, project):
    api.post("/track/batch", {"events": [track("x")] * 3}, format="json")
    rows = json.loads(run("list_projects", "--json"))
    mine = next(row for row in rows if row["project_id"] == project.id)
    assert mine["client_id"] == str(project.client_id) and mine["secret"] is True
    assert mine["origins"] == ["https://app.example.com", "*.example.org"] and mine["backfill_days"] == 5
    assert (mine["accepted_today"], mine["accepted_7_days"]) == (3, 3)
    table = run("list_projects")
    assert project.id in table and "today" in table.splitlines()[0]


def test_delete_profile_erases_events_profile_groups_redis_state_and_samples(api, project):
    identify = {"type": "identify", "payload": {"profileId": "erase-me", "email": "ada@example.com"}}
    assign = {"type": "assign_group", "payload": {"profileId": "erase-me", "groupIds": ["team-1"]}}
    mine = {"type": "track", "payload": {"name": "private", "profileId": "erase-me"}}
    theirs = {"type": "track", "payload": {"name": "kept", "profileId": "someone-else"}}
    send(api, [identify, assign, mine, mine, theirs])
    api.post("/track", {"type": "track", "payload": {"name": "", "profileId": "erase-me"}}, format="json")  # a sample
    store_samples()
    assert stored.profile(project.id, "erase-me")["groups"] == ["team-1"]
    assert RejectedSample.objects.filter(project_id=project.id).count() == 1

    out = run("delete_profile", "--project", str(project.client_id), "--profile", "erase-me", "--wait", "60")
    assert "ClickHouse has finished the deletion" in out
    assert stored.count(project.id, "profile_id = 'erase-me'", final=False) == 0
    assert stored.profile(project.id, "erase-me") is None
    assert [row["name"] for row in stored.events(project.id, "name = 'kept'")] == ["kept"]
    client = redis.client()
    assert not client.exists(keys.document("profile", project.id, "erase-me"))
    assert not client.sismember(keys.known_profiles(project.id), "erase-me")
    assert RejectedSample.objects.filter(project_id=project.id).count() == 0
    entry = LogEntry.objects.get(object_id=project.pk)
    assert "Erased a profile (GDPR), sha256 " in entry.change_message and "erase-me" not in entry.change_message
    # The profile is unknown again: an increment of it is refused like any unknown profile's.
    increment = {"type": "increment", "payload": {"profileId": "erase-me", "property": "visits"}}
    assert api.post("/track", increment, format="json").status_code == 404


def test_export_then_replay_into_the_same_project_stores_nothing_twice(client_for, project, tmp_path):
    phone = client_for(user_agent=IPHONE_UA)
    t0 = now_ms() - 3 * 60 * MINUTE
    send(phone, [
        at("screen_view", t0, device="dev-1", __path="https://shop.example/a?x=1#top", __referrer="https://www.google.com/"),
        {"type": "track", "payload": {"name": "revenue", "profileId": "user-1", "groups": ["g1"],
                                      "properties": {"__revenue": 1999, "__timestamp": iso(t0 + MINUTE), "__deviceId": "dev-1",
                                                     "cart": {"items": 2}}}},
        track("live_now", plan="pro"),
        {"type": "identify", "payload": {"profileId": "user-1", "email": "ada@example.com"}},
    ])  # fmt: skip
    phone.post("/track", track("single", n=1), format="json")
    drain()
    close_historical_sessions(now_ms() + 40 * MINUTE)
    before = stored.events(project.id)
    assert {"session_start", "session_end", "revenue", "live_now", "single"} <= {row["name"] for row in before}

    export = tmp_path / "export.ndjson"
    call_command("export_events", "--project", str(project.client_id), "--output", str(export), stderr=io.StringIO())
    lines = [orjson.loads(line) for line in export.read_bytes().splitlines()]
    assert len(lines) == len([row for row in before if row["name"] not in ("session_start", "session_end")])
    revenue = next(line for line in lines if line["payload"]["name"] == "revenue")["payload"]
    assert revenue["profileId"] == "user-1" and revenue["groups"] == ["g1"]
    assert revenue["properties"]["__revenue"] == 1999 and revenue["properties"]["cart.items"] == "2"

    for _ in range(2):  # once, and again
        out = io.StringIO()
        call_command("replay_events", str(export), "--project", str(project.client_id), stdout=out, stderr=io.StringIO())
        assert f"stored    {len(lines)} (exported rows already stored: skipped)" in out.getvalue()
        drain()
        close_historical_sessions(now_ms() + 40 * MINUTE)
        assert stored.events(project.id) == before  # every row, every column, as it was
    clickhouse.execute(f"OPTIMIZE TABLE {clickhouse.database()}.events FINAL")
    assert stored.count(project.id, final=False) == len(before)

    # Into another project (a move, or a restore after a loss), the same file stores each row once,
    # under its own id, with what the export carries.
    other = create_project("Restored")[0]
    for _ in range(2):
        call_command("replay_events", str(export), "--project", str(other.client_id), stdout=io.StringIO(),
                     stderr=io.StringIO())  # fmt: skip
        drain()
    moved = [row for row in stored.events(other.id) if row["name"] not in ("session_start", "session_end")]
    originals = {row["id"]: row for row in before}
    assert sorted(row["id"] for row in moved) == sorted(row["id"] for row in before if row["id"] in originals
                                                        and row["name"] not in ("session_start", "session_end"))  # fmt: skip
    for row in moved:
        old = originals[row["id"]]
        for column in ("name", "ms", "device_id", "profile_id", "groups", "revenue", "path", "origin", "referrer"):
            assert row[column] == old[column], (old["name"], column)
        assert row["properties"] == old["properties"]


def test_export_filters_by_time_and_profile(api, project, tmp_path):
    t0 = now_ms() - 2 * 86_400_000
    send(api, [at("old", t0, device="d"), {"type": "track", "payload": {"name": "mine", "profileId": "p-1"}},
               track("now")])  # fmt: skip
    out = tmp_path / "part.ndjson.gz"
    day = iso(t0)[:10]
    call_command("export_events", "--project", project.id, "--since", day, "--until", iso(t0 + 1000),
                 "--output", str(out), stderr=io.StringIO())  # fmt: skip
    import gzip

    assert [orjson.loads(line)["payload"]["name"] for line in gzip.decompress(out.read_bytes()).splitlines()] == ["old"]
    buffer = io.StringIO()
    call_command("export_events", "--project", project.id, "--profile", "p-1", "--output", str(tmp_path / "p"),
                 stderr=buffer)  # fmt: skip
    assert [orjson.loads(line)["payload"]["name"] for line in (tmp_path / "p").read_bytes().splitlines()] == ["mine"]
    assert "exported 1 events" in buffer.getvalue()
    with pytest.raises(CommandError, match="not an ISO date"):
        call_command("export_events", "--project", project.id, "--since", "last week")


@pytest.mark.parametrize("path", ["/track/batch", "/track", "ndjson"])
def test_a_client_cannot_choose_a_row_id(api, project, path):
    """Issue 17, finding 11: `__insertId: "spool:<row id>"` is how export_events names a row. From the
    HTTP API it is an ordinary insert id, hashed as any other, so a client that knows (or guesses) a
    stored row's id cannot overwrite that row."""
    when = now_ms() - 60 * MINUTE
    send(api, [at("purchase", when, device="dev-1", amount="10")])
    [row] = stored.events(project.id, "name = 'purchase'")
    forged = at("purchase", when, device="dev-1", amount="0", __insertId=f"spool:{row['id']}")
    if path == "/track":
        assert api.post("/track", forged, format="json").status_code == 200
    elif path == "ndjson":
        answer = api.generic("POST", "/track/batch", orjson.dumps(forged), content_type="application/x-ndjson")
        assert answer.json() == {"accepted": 1, "rejected": []}
    else:
        assert api.post("/track/batch", {"events": [forged]}, format="json").json() == {"accepted": 1, "rejected": []}
    drain()
    rows = stored.events(project.id, "name = 'purchase'")
    assert [stored_row for stored_row in rows if stored_row["id"] == row["id"]] == [row]  # untouched
    [theirs] = [stored_row for stored_row in rows if stored_row["id"] != row["id"]]  # stored as an event of its own
    assert theirs["id"] == ids.insert_id_event_id(project.id, "dev-1", "purchase", f"spool:{row['id']}")
    assert theirs["properties"] == {"amount": "0"}
