"""Contract §9 (r3): `export_events` → `replay_events` into **another** project stores the same events:
same times, device ids, user-agent fields, geo, paths and properties, and sessions derived again in
that project. Issue 18 finding 9: a move lost OS, browser and device on every browser row (the replay
is a server sender, and overrides are ignored for servers), the geo, and every session row."""
import io

import pytest
from django.core.management import call_command

from projects.services import create_project
from sessions_app.ends import close_historical_sessions
from tests.support import stored
from tests.support.agents import ANDROID_PHONE_UA, DESKTOP_CHROME_UA, IPAD_UA, IPHONE_UA
from tests.support.events import at, now_ms
from tests.support.worker import drain

pytestmark = pytest.mark.django_db
MINUTE = 60_000
SESSION_NAMES = ("session_start", "session_end")
# Everything a row holds that a move keeps; the project's own columns (its id, its session ids, when
# this copy arrived and which program sent it) are the new project's.
OWN = ("project_id", "session_id", "received_at", "sdk_name", "sdk_version", "properties.key", "properties.value")
KEPT = [column for column in stored.EVENT_COLUMNS if column not in OWN] + ["properties"]


def browse(client_for) -> None:
    """An afternoon of browser and app traffic, buffered: four devices (own ids and hashed ones),
    two places, pages, referrers, profiles, groups, revenue, and a backend's server events."""
    start = now_ms() - 5 * 60 * MINUTE
    visits = [
        (IPHONE_UA, "81.2.69.142", "phone-1"), (ANDROID_PHONE_UA, "216.160.83.56", None),
        (DESKTOP_CHROME_UA, "89.160.20.112", "desk-1"), (IPAD_UA, "81.2.69.143", None),
    ]  # fmt: skip
    for number, (user_agent, ip, device) in enumerate(visits):
        base = start + number * 7 * MINUTE
        events = [
            at("screen_view", base, device, __path=f"https://shop.example/p/{number}?utm_source=news#top",
               __referrer="https://www.google.com/search?q=shoes", __title="Shoes"),
            at("add_to_cart", base + MINUTE, device, sku=f"sku-{number}", cart={"items": number + 1, "tags": ["a", "b"]}),
            at("screen_view", base + 2 * MINUTE, device, __path="https://shop.example/cart"),
            # A second visit, an hour later: another session.
            at("screen_view", base + 70 * MINUTE, device, __path="https://shop.example/"),
        ]  # fmt: skip
        events[1]["payload"]["profileId"] = f"user-{number}"
        events[1]["payload"]["groups"] = ["team-a"]
        if number == 0:
            events.append(at("revenue", base + 3 * MINUTE, device, __revenue=4200, currency="EUR"))
        answer = client_for(user_agent=user_agent, ip=ip).post("/track/batch", {"events": events}, format="json")
        assert answer.json() == {"accepted": len(events), "rejected": []}
    backend = client_for(user_agent="python-requests/2.32.3", ip="216.160.83.57")
    backend.post("/track/batch", {"events": [at("invoice_paid", start + 9 * MINUTE, "billing", amount="12")]},
                 format="json")  # fmt: skip
    drain()
    close_historical_sessions(now_ms() + 40 * MINUTE)  # every session has ended: its end row is written


def rows_of(project_id: str) -> tuple[list[dict], list[dict]]:
    rows = sorted(stored.events(project_id), key=lambda row: (row["ms"], row["name"], row["device_id"]))
    return [r for r in rows if r["name"] not in SESSION_NAMES], [r for r in rows if r["name"] in SESSION_NAMES]


def test_a_project_of_browser_traffic_moves_to_another_project_exactly(client_for, project, geoip, tmp_path):
    browse(client_for)
    events, sessions = rows_of(project.id)
    assert {row["device"] for row in events} == {"mobile", "tablet", "desktop", "server"}
    assert {row["country"] for row in events} == {"GB", "US", "SE"}
    assert len([row for row in sessions if row["name"] == "session_start"]) >= 8  # 4 devices, 2 visits each (or more: 30-minute buckets)
    assert len([row for row in sessions if row["name"] == "session_end"]) >= 8

    export = tmp_path / "move.ndjson"
    call_command("export_events", "--project", str(project.client_id), "--output", str(export), stderr=io.StringIO())
    other = create_project("The new home")[0]
    for _ in range(2):  # a re-run of the move stores nothing twice
        call_command("replay_events", str(export), "--project", str(other.client_id), stdout=io.StringIO(),
                     stderr=io.StringIO())  # fmt: skip
        drain()
        close_historical_sessions(now_ms() + 40 * MINUTE)
    moved, moved_sessions = rows_of(other.id)

    assert len(moved) == len(events)
    for old, new in zip(events, moved, strict=True):
        for column in KEPT:
            assert new[column] == old[column], (old["name"], old["device_id"], column)

    # Sessions derived again: the same events share a session in the new project as they did in the
    # old one, and each session has its start and end rows, as it had.
    pairs = {(old["session_id"], new["session_id"]) for old, new in zip(events, moved, strict=True)}
    assert len(pairs) == len({old for old, _ in pairs}) == len({new for _, new in pairs})
    assert len(moved_sessions) == len(sessions)
    for old, new in zip(sessions, moved_sessions, strict=True):
        assert (new["session_id"], new["name"]) in {(n, old["name"]) for o, n in pairs if o == old["session_id"]}
        for column in KEPT:
            if column != "id":  # a session row's id hashes its session id
                assert new[column] == old[column], (old["name"], old["device_id"], column)
