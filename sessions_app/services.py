"""Worker side of sessions (spec §7): the server, historical and live branches, and session starts.

`settle_sessions` runs before a chunk's rows are written. Everything it changes in Redis is
idempotent per chunk id, so a job that dies after this step and runs again decides the same.
"""
from collections import defaultdict

from django.conf import settings

from ingest import keys
from ingest.enrich import ids
from ingest.enrich.ua import SERVER
from ingest.rows import event_row
from sessions_app import identity, live

START_OFFSET_MS = 100
# Where a session came from: kept from its first event, written on its end row, inherited by
# server events of its profile.
REFERRAL = ("origin", "referrer", "referrer_name", "referrer_type")


def timeout_ms() -> int:
    return settings.SESSION_TIMEOUT_SECONDS * 1000


def window_ms() -> int:
    return settings.SESSION_WINDOW_SECONDS * 1000


def state_ttl_ms() -> int:
    # Long enough to outlive a sweep outage; the sweep deletes the state once the end is written.
    return max(timeout_ms(), window_ms()) + 7 * 86_400_000


def settle_sessions(pairs: list[tuple[dict, dict]], chunk_id: str, now_ms: int) -> list[dict]:
    """Give each (ctx, track event) its final session and return the session_start rows to write."""
    server, historical, live_by_device = [], [], defaultdict(list)
    for ctx, event in pairs:
        if ctx["agent"]["device"] == SERVER:
            server.append((ctx, event))
        elif event["ts"] < ctx["received_ms"] - timeout_ms():
            historical.append((ctx, event))
        else:
            live_by_device[(ctx["project_id"], event["device_id"])].append((ctx, event))
    _inherit_live_sessions(server)
    starts = _merge_live(live_by_device, chunk_id) + _historical_starts(historical, chunk_id, now_ms)
    return [_start_row(ctx, event) for ctx, event in starts]


# --- server branch ------------------------------------------------------------------------------
def _inherit_live_sessions(pairs) -> None:
    """A server event whose profile has a live session takes that session's identity and context."""
    wanted = list({(ctx["project_id"], event["profile_id"]) for ctx, event in pairs if event.get("profile_id")})
    if not wanted:
        return
    found = live.sessions_of_profiles(wanted)
    for ctx, event in pairs:
        state = found.get((ctx["project_id"], event.get("profile_id")))
        if state is None:
            continue
        snapshot = state["snapshot"]
        event["device_id"], event["session_id"] = state["device"], state["sid"]
        event["geo"], event["agent"] = snapshot["geo"], snapshot["agent"]
        for column in REFERRAL:
            if snapshot.get(column):
                event[column] = snapshot[column]
        # The page the visitor is on now: the session's latest path.
        event["path"] = state.get("exit") or snapshot.get("path") or event.get("path", "")


# --- live branch --------------------------------------------------------------------------------
def _snapshot(ctx: dict, event: dict) -> dict:
    """What a session keeps of its first event (and its end row shows)."""
    snapshot = {column: event.get(column, "") for column in (*REFERRAL, "path")}
    snapshot["geo"] = event.get("geo") or ctx["geo"]
    snapshot["agent"] = event.get("agent") or ctx["agent"]
    snapshot["sdk_name"], snapshot["sdk_version"] = ctx.get("sdk_name", ""), ctx.get("sdk_version", "")
    return snapshot


def _runs(project_id: str, device_id: str, pairs: list) -> list[tuple[live.Run, list]]:
    """Split one device's live events (sorted by time) where the gap exceeds the timeout."""
    pairs.sort(key=lambda pair: pair[1]["ts"])
    groups, current = [], []
    for pair in pairs:
        if current and pair[1]["ts"] - current[-1][1]["ts"] > timeout_ms():
            groups.append(current)
            current = []
        current.append(pair)
    if current:
        groups.append(current)
    runs = []
    for group in groups:
        events = [event for _, event in group]
        paths = [event["path"] for event in events if event.get("path")]
        profiles = [event["profile_id"] for event in events if event.get("profile_id")]
        first = events[0]
        bucket = identity.bucket_of(first["ts"], window_ms())
        run = live.Run(
            api_session_id=first["session_id"],
            bucket_session_id=identity.session_id_for(project_id, device_id, bucket),
            first_ms=first["ts"],
            last_ms=events[-1]["ts"],
            entry_path=paths[0] if paths else "",
            exit_path=paths[-1] if paths else "",
            screen_views=sum(1 for event in events if event["name"] == "screen_view"),
            profile_id=profiles[-1] if profiles else "",
            snapshot=_snapshot(group[0][0], first),
        )
        runs.append((run, group))
    return runs


def _lock_ms() -> int:
    return max(timeout_ms(), window_ms())


def _merge_live(by_device: dict, chunk_id: str) -> list[tuple[dict, dict]]:
    """Merge each device's runs into its live sessions (one pipelined round trip); return the
    first event of every session this chunk starts."""
    if not by_device:
        return []
    plans = []
    with keys.redis().pipeline(transaction=False) as pipe:
        for (project_id, device_id), pairs in by_device.items():
            runs = _runs(project_id, device_id, pairs)
            merged = [run for run, _ in runs]
            live.queue_merge(pipe, project_id, device_id, merged, chunk_id, timeout_ms(), state_ttl_ms(), _lock_ms())
            plans.append(runs)
        replies = pipe.execute()
    starts = []
    for runs, reply in zip(plans, replies):
        for (_, group), (session_id, started) in zip(runs, live.read_merge(reply)):
            for _, event in group:
                event["session_id"] = session_id
            if started:
                starts.append(group[0])
    return starts


# --- historical branch --------------------------------------------------------------------------
def _historical_starts(pairs, chunk_id: str, now_ms: int) -> list[tuple[dict, dict]]:
    """Each bucket session in the chunk is due to end later, and starts if this chunk holds its lock."""
    first_of: dict[tuple[str, str], tuple[dict, dict]] = {}
    for ctx, event in pairs:
        if event.get("live"):
            continue  # it joined a live session, which has its own start and end
        key = (ctx["project_id"], event["session_id"])
        if key not in first_of or event["ts"] < first_of[key][1]["ts"]:
            first_of[key] = (ctx, event)
    if not first_of:
        return []
    sessions = [
        (project_id, session_id, identity.bucket_of(event["ts"], window_ms()))
        for (project_id, session_id), (_, event) in first_of.items()
    ]
    won = live.settle_historical(sessions, chunk_id, now_ms, timeout_ms(), _lock_ms())
    return [first for first, ok in zip(first_of.values(), won) if ok]


def _start_row(ctx: dict, event: dict) -> dict:
    start = dict(event, name="session_start", ts=event["ts"] - START_OFFSET_MS, revenue=0)
    start["id"] = ids.session_row_id(ctx["project_id"], event["session_id"], "session_start")
    return event_row(ctx, start)
