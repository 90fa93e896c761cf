"""The worker's side of sessions (contract §7): the server, historical and live branches, and
session starts.

`settle_sessions` runs before a chunk's rows are written. Everything it changes in Redis is
idempotent per chunk id, so a job that dies after this step and runs again decides the same. It
changes no event: it returns what it decided (new field values per event, and the session_start
rows), and the caller merges that once (ingest/worker/write.py).
"""
from collections import defaultdict
from dataclasses import dataclass, field

from sessions_app import identity, live, rules
from storage import redis
from storage.messages import SERVER_DEVICE, JobContext, QueuedEvent
from storage.rows import event_row

SERVER, HISTORICAL, LIVE = "server", "historical", "live"
START_OFFSET_MS = 100

Pair = tuple[JobContext, QueuedEvent]


def branch(device: str, event_ms: int, received_ms: int, timeout_ms: int) -> str:
    """Which branch of contract §7 an event takes: SERVER (a server sender), HISTORICAL (older than
    the timeout when it was received), or LIVE."""
    if device == SERVER_DEVICE:
        return SERVER
    if event_ms < received_ms - timeout_ms:
        return HISTORICAL
    return LIVE


@dataclass
class Settled:
    updates: dict[int, dict] = field(default_factory=dict)  # index in the chunk → fields that change
    starts: list[dict] = field(default_factory=list)  # session_start rows to write


def settle_sessions(pairs: list[Pair], chunk_id: str, now_ms: int) -> Settled:
    """Settle the session of each (ctx, track event) of a chunk."""
    timeout = rules.timeout_ms()
    server, historical, live_by_device = [], [], defaultdict(list)
    for index, (ctx, event) in enumerate(pairs):
        kind = branch(ctx["agent"]["device"], event["ts"], ctx["received_ms"], timeout)
        if kind == SERVER:
            server.append(index)
        elif kind == HISTORICAL:
            historical.append(index)
        else:
            live_by_device[(ctx["project_id"], event["device_id"])].append(index)
    settled = Settled(updates=_inherit_live_sessions(pairs, server))
    live_updates, live_starts = _merge_live(pairs, live_by_device, chunk_id)
    settled.updates.update(live_updates)
    for index in live_starts + _historical_starts(pairs, historical, chunk_id, now_ms):
        ctx, event = pairs[index]
        settled.starts.append(_start_row(ctx, {**event, **settled.updates.get(index, {})}))
    return settled


# --- server branch ------------------------------------------------------------------------------
def _inherit_live_sessions(pairs: list[Pair], indexes: list[int]) -> dict[int, dict]:
    """A server event whose profile has a live session takes that session's identity and context."""
    wanted = list({(pairs[i][0]["project_id"], pairs[i][1].get("profile_id", "")) for i in indexes})
    wanted = [pair for pair in wanted if pair[1]]
    if not wanted:
        return {}
    found = live.sessions_of_profiles(wanted)
    updates = {}
    for index in indexes:
        ctx, event = pairs[index]
        state = found.get((ctx["project_id"], event.get("profile_id", "")))
        if state is None:
            continue
        snapshot = state["snapshot"]
        update = {"device_id": state["device"], "session_id": state["sid"]}
        update["geo"], update["agent"] = snapshot["geo"], snapshot["agent"]
        for column in rules.REFERRAL:
            if snapshot.get(column):
                update[column] = snapshot[column]
        # The page the visitor is on now: the session's latest path.
        update["path"] = state.get("exit") or snapshot.get("path") or event.get("path", "")
        updates[index] = update
    return updates


# --- live branch --------------------------------------------------------------------------------
def _snapshot(ctx: JobContext, event: QueuedEvent) -> dict:
    """What a session keeps of its first event (and its end row shows)."""
    snapshot: dict = {column: event.get(column, "") for column in (*rules.REFERRAL, "path")}
    snapshot["geo"] = event.get("geo") or ctx["geo"]
    snapshot["agent"] = event.get("agent") or ctx["agent"]
    snapshot["sdk_name"], snapshot["sdk_version"] = ctx.get("sdk_name", ""), ctx.get("sdk_version", "")
    return snapshot


def build_runs(
    project_id: str, device_id: str, items: list[tuple[int, JobContext, QueuedEvent]], timeout_ms: int, window_ms: int
) -> list[tuple[live.Run, list[int]]]:
    """Split one device's live events, in time order, where the gap exceeds the timeout: each run
    with the indexes of its events. Pure."""
    items = sorted(items, key=lambda item: item[2]["ts"])
    groups: list[list] = []
    current: list = []
    for item in items:
        if current and item[2]["ts"] - current[-1][2]["ts"] > timeout_ms:
            groups.append(current)
            current = []
        current.append(item)
    if current:
        groups.append(current)
    runs = []
    for group in groups:
        events = [event for _, _, event in group]
        paths = [event["path"] for event in events if event.get("path")]
        profiles = [event["profile_id"] for event in events if event.get("profile_id")]
        first = events[0]
        bucket = identity.bucket_of(first["ts"], window_ms)
        run = live.Run(
            api_session_id=first["session_id"],
            bucket_session_id=identity.session_id_for(project_id, device_id, bucket),
            first_ms=first["ts"],
            last_ms=events[-1]["ts"],
            entry_path=paths[0] if paths else "",
            exit_path=paths[-1] if paths else "",
            screen_views=sum(1 for event in events if event["name"] == "screen_view"),
            profile_id=profiles[-1] if profiles else "",
            snapshot=_snapshot(group[0][1], first),
        )
        runs.append((run, [index for index, _, _ in group]))
    return runs


def _merge_live(pairs: list[Pair], by_device: dict, chunk_id: str) -> tuple[dict[int, dict], list[int]]:
    """Merge each device's runs into its live sessions (one pipelined round trip). Returns the
    session ids that differ from the API's, and the first event of every session this chunk starts."""
    if not by_device:
        return {}, []
    timeout, window = rules.timeout_ms(), rules.window_ms()
    plans = []
    with redis.client().pipeline(transaction=False) as pipe:
        for (project_id, device_id), indexes in by_device.items():
            runs = build_runs(project_id, device_id, [(i, *pairs[i]) for i in indexes], timeout, window)
            merged = [run for run, _ in runs]
            live.queue_merge(
                pipe, project_id, device_id, merged, chunk_id, timeout, rules.state_ttl_ms(), rules.start_lock_ms()
            )
            plans.append(runs)
        replies = pipe.execute()
    updates: dict[int, dict] = {}
    starts = []
    for runs, reply in zip(plans, replies):
        for (_, indexes), (session_id, started) in zip(runs, live.read_merge(reply)):
            for index in indexes:
                if pairs[index][1]["session_id"] != session_id:
                    updates[index] = {"session_id": session_id}
            if started:
                starts.append(indexes[0])
    return updates, starts


# --- historical branch --------------------------------------------------------------------------
def _historical_starts(pairs: list[Pair], indexes: list[int], chunk_id: str, now_ms: int) -> list[int]:
    """Each bucket session in the chunk is due to end later, and starts if this chunk holds its lock."""
    first_of: dict[tuple[str, str], int] = {}
    for index in indexes:
        ctx, event = pairs[index]
        if event.get("live"):
            continue  # it joined a live session, which has its own start and end
        key = (ctx["project_id"], event["session_id"])
        if key not in first_of or event["ts"] < pairs[first_of[key]][1]["ts"]:
            first_of[key] = index
    if not first_of:
        return []
    window = rules.window_ms()
    sessions = [
        (project_id, session_id, identity.bucket_of(pairs[index][1]["ts"], window))
        for (project_id, session_id), index in first_of.items()
    ]
    won = live.settle_historical(sessions, chunk_id, now_ms, rules.timeout_ms(), rules.start_lock_ms())
    return [index for index, ok in zip(first_of.values(), won) if ok]


def _start_row(ctx: JobContext, event: dict) -> dict:
    start = dict(event, name="session_start", ts=event["ts"] - START_OFFSET_MS, revenue=0)
    start["id"] = identity.session_row_id(ctx["project_id"], event["session_id"], "session_start")
    return event_row(ctx, start)  # type: ignore[arg-type]


def confirm_starts(settled: Settled) -> list[dict]:
    return []
