"""Session decisions as tables: the worker's branch, runs of live events, and where the API places
each item (contract §6.2, §7). Pure functions; no Redis."""
import pytest

from sessions_app import bounds, identity, live
from sessions_app.assign import Placement, SessionRules, devices_to_look_up, place
from sessions_app.settle import HISTORICAL, LIVE, SERVER, branch, build_runs

MINUTE = 60_000
TIMEOUT = 30 * MINUTE
WINDOW = 30 * MINUTE
NOW = 1_000 * WINDOW + 10 * MINUTE  # 10 minutes into a window
RULES = SessionRules(window_ms=WINDOW, timeout_ms=TIMEOUT)
AGENT = {"device": "mobile"}


@pytest.mark.parametrize(
    "device, event_ms, expected",
    [
        ("server", NOW, SERVER),
        ("server", NOW - 10 * 86_400_000, SERVER),  # a server event is never historical
        ("mobile", NOW, LIVE),
        ("desktop", NOW - TIMEOUT, LIVE),  # exactly the timeout: still live
        ("desktop", NOW - TIMEOUT - 1, HISTORICAL),
        ("tablet", NOW + 59_000, LIVE),  # a little ahead (clamped at the API beyond 60 s)
    ],
)
def test_branch(device, event_ms, expected):
    assert branch(device, event_ms, NOW, TIMEOUT) == expected


def _event(ms, name="screen_view", path="", profile="", session="api-sid"):
    event = {"type": "track", "name": name, "ts": ms, "properties": {}, "id": f"id-{ms}", "device_id": "d",
             "session_id": session, "path": path}  # fmt: skip
    if profile:
        event["profile_id"] = profile
    return event


def _ctx():
    return {"project_id": "p", "received_ms": NOW, "geo": {"country": "GB"}, "agent": AGENT, "sdk_name": "web",
            "sdk_version": "1", "backfill_days": 5, "ip": ""}  # fmt: skip


def test_runs_split_where_the_gap_exceeds_the_timeout_and_keep_event_indexes():
    ctx = _ctx()
    items = [
        (0, ctx, _event(NOW + 40 * MINUTE, path="/c")),
        (1, ctx, _event(NOW, path="/a", profile="u1")),
        (2, ctx, _event(NOW + 5 * MINUTE, name="click", path="/b")),  # 35 min before the next: a new run
    ]
    runs = build_runs("p", "d", items, TIMEOUT, WINDOW)
    assert [indexes for _, indexes in runs] == [[1, 2], [0]]
    first, second = (run for run, _ in runs)
    assert (first.first_ms, first.last_ms, first.exit_path) == (NOW, NOW + 5 * MINUTE, "/b")
    assert first.screen_views == 1 and first.profile_id == "u1"
    assert first.screen_view_ids == bounds.fingerprint(f"id-{NOW}")  # the click is no screen view
    assert first.bucket == identity.bucket_of(NOW, WINDOW)
    assert first.bucket_session_id == identity.session_id_for("p", "d", first.bucket)
    assert second.first_ms == second.last_ms == NOW + 40 * MINUTE and second.profile_id == ""


def test_a_gap_of_exactly_the_timeout_stays_in_one_run():
    ctx = _ctx()
    runs = build_runs("p", "d", [(0, ctx, _event(NOW)), (1, ctx, _event(NOW + TIMEOUT))], TIMEOUT, WINDOW)
    assert [indexes for _, indexes in runs] == [[0, 1]]


class Item:
    def __init__(self, ms, candidates=("cur", "prev"), kind="track", server=False, client_session=""):
        self.ms, self.candidates, self.kind, self.server = ms, candidates, kind, server
        self.client_session = client_session


def _bucket_sid(device, ms):
    return identity.session_id_for("p", device, identity.bucket_of(ms, WINDOW))


@pytest.mark.parametrize(
    "live_sessions, item, expected",
    [
        # no live session: the bucket of the event's own time, on the current device id
        ({}, Item(NOW), Placement("cur", _bucket_sid("cur", NOW), live=False)),
        # inside a live session of the current device id
        ({"cur": live.LiveSession("L1", NOW - MINUTE, NOW)}, Item(NOW + MINUTE), Placement("cur", "L1", live=True)),
        # the previous salt's device id holds the live session: the event keeps that device
        ({"prev": live.LiveSession("L2", NOW - MINUTE, NOW)}, Item(NOW), Placement("prev", "L2", live=True)),
        # the current one wins over the previous one
        (
            {"cur": live.LiveSession("L1", NOW, NOW), "prev": live.LiveSession("L2", NOW, NOW)},
            Item(NOW),
            Placement("cur", "L1", live=True),
        ),
        # outside the live session (more than the timeout after its last event): a bucket
        (
            {"cur": live.LiveSession("L1", NOW - 2 * TIMEOUT, NOW - TIMEOUT - 1)},
            Item(NOW),
            Placement("cur", _bucket_sid("cur", NOW), live=False),
        ),
        # a server event never joins a live session
        ({"cur": live.LiveSession("L1", NOW, NOW)}, Item(NOW, server=True), Placement("cur", _bucket_sid("cur", NOW), False)),
        # the bucket's id belongs to a live session the event is outside of: a distinct id
        (
            {"cur": live.LiveSession(_bucket_sid("cur", NOW), NOW + 3 * TIMEOUT, NOW + 3 * TIMEOUT)},
            Item(NOW),
            Placement("cur", f"{_bucket_sid('cur', NOW)}.{NOW}", live=False),
        ),
    ],
)
def test_place(live_sessions, item, expected):
    assert place([item], "p", live_sessions, RULES) == [expected]


def test_devices_of_every_item_but_server_ones_are_looked_up():
    """Profile changes too: their answers give the ids of the caller's live session (contract §6.2 r2)."""
    items = [Item(NOW, ("a", "b")), Item(NOW, ("c", "d"), server=True), Item(NOW, ("e", "f"), kind="identify"),
             Item(NOW, ("a", "g"))]  # fmt: skip
    assert devices_to_look_up(items) == ["a", "b", "e", "f", "g"]


def test_reading_the_lookup_and_merge_replies():
    replies = [[b"sid1", b"100", b"200"], [None, None, None], [b"sid3", b"", b"5"]]
    assert live.read_lookup(["d1", "d2", "d3"], replies) == {"d1": live.LiveSession("sid1", 100, 200)}
    assert live.read_merge("p", [b"s1", 1, b"20400:7230", b"s2", 0, b"20401:7230"]) == [
        live.Merged("s1", True, "spool:ended:p:20400"), live.Merged("s2", False, "spool:ended:p:20401")
    ]


@pytest.mark.parametrize("server", [False, True])
def test_a_client_session_is_placed_whatever_redis_holds(server):
    """Contract §6.2 rule 0: the client's session on the current device id, not the live one nor a bucket."""
    live_sessions = {"cur": live.LiveSession("L1", NOW, NOW), "prev": live.LiveSession("L2", NOW, NOW)}
    [placement] = place([Item(NOW, server=server, client_session="s-1")], "p", live_sessions, RULES)
    assert placement == Placement("cur", identity.client_session_id_for("p", "cur", "s-1"), live=False, client=True)
