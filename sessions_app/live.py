"""Live session state in Redis (contract §6.2, §7): looked up by the API, merged and ended by the worker.

Per (project, device) a small pointer hash names the current live session with its first and last
event times, so that the API can decide in one pipelined round trip whether an event joins it.
Per session a hash holds what its end row needs, bounded (sessions_app/bounds.py). A zset holds
every live session's deadline (last event + timeout), which the periodic sweep reads; an ended
session leaves its id in its day's hash of ended sessions. Each script is called through one
function here; docs/sessions.md, "What a session keeps in Redis", lists the keys.
"""
from dataclasses import dataclass

import orjson

from sessions_app import bounds, identity
from storage.queue import queues
from storage.redis import client as redis
from storage.redis import keys

# A chunk's decisions outlive every retry of its job and its stay in the failed registry (then a
# requeue decides the same); they are deleted as soon as the chunk is written.
CHUNK_MS = (queues.FAILED_JOB_TTL + 86_400) * 1000


@dataclass(frozen=True, slots=True)
class LiveSession:
    session_id: str
    first_ms: int
    last_ms: int


# --- the API's lookup ---------------------------------------------------------------------------
def queue_lookup(pipe, project_id: str, device_ids: list[str]) -> None:
    for device in device_ids:
        pipe.hmget(keys.live_device(project_id, device), "sid", "first", "last")


def read_lookup(device_ids: list[str], replies: list) -> dict[str, LiveSession]:
    found = {}
    for device, (sid, first, last) in zip(device_ids, replies):
        if sid and first and last:
            found[device] = LiveSession(sid.decode(), int(first), int(last))
    return found


# --- the worker's merge -------------------------------------------------------------------------
@dataclass(slots=True)
class Run:
    """Consecutive live events of one device with no gap longer than the timeout."""

    api_session_id: str
    bucket: int  # the bucket of its first event (the session id it would create comes from it)
    bucket_session_id: str
    first_ms: int
    last_ms: int
    exit_path: str  # the path of its latest event that has one, whole
    screen_view_ids: bytes  # the fingerprints of its screen_view events, in time order
    profile_id: str  # its latest profile id, whole
    # A client's own session (sessions_app/client.py): the ended-sessions hashes where its id may be
    # marked ended ("" for any other run), and the earliest its session may end (0: last + timeout).
    client_hashes: str = ""
    due_ms: int = 0

    @property
    def screen_views(self) -> int:
        return len(self.screen_view_ids) // bounds.FINGERPRINT_BYTES

    @classmethod
    def of(cls, events: list, api_session_id: str, bucket: int, bucket_session_id: str, **client) -> "Run":
        """The run of `events` (in time order): its times, exit path, screen views, latest profile."""
        paths = [event["path"] for event in events if event.get("path")]
        profiles = [event["profile_id"] for event in events if event.get("profile_id")]
        views = [bounds.fingerprint(event["id"]) for event in events if event["name"] == "screen_view"]
        return cls(
            api_session_id=api_session_id,
            bucket=bucket,
            bucket_session_id=bucket_session_id,
            first_ms=events[0]["ts"],
            last_ms=events[-1]["ts"],
            exit_path=paths[-1] if paths else "",
            screen_view_ids=b"".join(views),
            profile_id=profiles[-1] if profiles else "",
            **client,
        )


@dataclass(frozen=True, slots=True)
class Merged:
    """Where a run went: its session, whether it holds the session's earliest event so far (then
    the chunk offers the session's start), and the session's ended marker (keys.ended_sessions)."""

    session_id: str
    holds_first: bool
    ended_key: str


@dataclass(frozen=True, slots=True)
class Rules:
    window_ms: int
    timeout_ms: int
    backfill_days: int


def _run_args(project_id: str, run: Run, rules: Rules) -> list:
    profile = keys.profile_ref(run.profile_id) if run.profile_id else ""
    mark = bounds.mark(run.bucket, rules.window_ms, rules.timeout_ms, rules.backfill_days)
    ended = keys.ended_sessions(project_id, bounds.day_of(run.bucket, rules.window_ms))
    return [run.api_session_id, run.bucket_session_id, ended, run.first_ms, run.last_ms, bounds.cut(run.exit_path),
            run.screen_view_ids, profile, keys.live_profile(project_id, profile), mark, run.client_hashes,
            run.due_ms]  # fmt: skip


def queue_merge(pipe, project_id: str, device_id: str, runs: list[Run], chunk_id: str, rules: Rules) -> None:
    """Merge a device's runs into its live sessions (sessions_app/lua/merge_live.lua), on `pipe`."""
    args = [
        keys.live_session(project_id, ""),
        f"{project_id}|",
        keys.session_start(project_id, ""),
        rules.timeout_ms,
        bounds.state_ttl_ms(rules.timeout_ms, rules.backfill_days),
        CHUNK_MS,
        keys.key_ref(device_id),
        f"{project_id}|{device_id}",
        bounds.SEEN * bounds.FINGERPRINT_BYTES,
        bounds.FINGERPRINT_BYTES,
    ]
    for run in runs:
        args.extend(_run_args(project_id, run, rules))
    script_keys = [keys.live_device(project_id, device_id), keys.LIVE_ENDS, keys.chunk_sessions(chunk_id)]
    MERGE_LIVE.on(pipe, script_keys, args)


def read_merge(project_id: str, reply: list) -> list[Merged]:
    """The script's reply, in the order of the runs."""
    merged = []
    for i in range(0, len(reply), 3):
        day, _ = bounds.read_mark(reply[i + 2].decode())
        merged.append(Merged(reply[i].decode(), bool(int(reply[i + 1])), keys.ended_sessions(project_id, day)))
    return merged


def forget_chunk(chunk_id: str) -> None:
    """The chunk is written: a job run again after this merges its events anew (docs/sessions.md)."""
    redis.client().delete(keys.chunk_sessions(chunk_id))


# --- reading a session's state --------------------------------------------------------------------
_NUMBERS = ("first", "last", "views")
_REQUIRED = ("device", *_NUMBERS)


def _decode_state(session_id: str, raw: dict) -> dict | None:
    """A session's state, or None when there is none, or none that can be read. `snapshot` is the
    context the release before kept (an object), else None; `start` the start claimed so far."""
    if not raw:
        return None
    try:
        state: dict = {key.decode(): value.decode() for key, value in raw.items() if key != b"seen"}
        if any(name not in state for name in _REQUIRED):
            return None
        for name in _NUMBERS:
            state[name] = int(state[name])
        snapshot = orjson.loads(state["snapshot"]) if "snapshot" in state else None
    except ValueError:  # UnicodeDecodeError and orjson's errors are ValueErrors
        return None
    if snapshot is not None and not isinstance(snapshot, dict):
        return None
    state["sid"], state["snapshot"] = session_id, snapshot
    state["start"] = int(state["ms"]) if state.get("ms", "").isdigit() else None
    state["due"] = int(state["due"]) if state.get("due", "").isdigit() else 0
    return state


def session_states(pairs: list[tuple[str, str]]) -> list[dict | None]:
    """The state of each (project id, session id), None where it is gone. One round trip."""
    with redis.client().pipeline(transaction=False) as pipe:
        for project_id, session_id in pairs:
            pipe.hgetall(keys.live_session(project_id, session_id))
        return [_decode_state(sid, raw) for (_, sid), raw in zip(pairs, pipe.execute())]


def sessions_of_profiles(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """(project id, profile id) → the state of that profile's live session, for those that have one."""
    with redis.client().pipeline(transaction=False) as pipe:
        for project_id, profile_id in pairs:
            pipe.get(keys.live_profile(project_id, profile_id))
        sids = pipe.execute()
    found = [(pair, sid.decode()) for pair, sid in zip(pairs, sids) if sid]
    states = session_states([(pair[0], sid) for pair, sid in found])
    return {pair: state for (pair, _), state in zip(found, states) if state is not None}


def ended_marker(project_id: str, state: dict, rules: Rules) -> tuple[str, int]:
    """(the ended-sessions hash, keep until ms) of a session. A state of the release before has no
    mark: its first event's bucket and the longest backfill window stand in."""
    if "mark" in state:
        day, keep = bounds.read_mark(state["mark"])
    else:
        bucket = identity.bucket_of(state["first"], rules.window_ms)
        day, keep = bounds.read_mark(bounds.mark(bucket, rules.window_ms, rules.timeout_ms, rules.backfill_days))
    return keys.ended_sessions(project_id, day), keep


LATE = ".late"  # the buffered events of an ended live session's bucket form a session of their own


@dataclass(frozen=True, slots=True)
class Historical:
    session_id: str  # its final id
    known: bool  # Redis knows its start so far

    @classmethod
    def each(cls, reply: list) -> "list[Historical]":
        """historical.lua's reply: {sid, has_record, ...}, one pair per session."""
        return [cls(reply[i].decode(), bool(reply[i + 1])) for i in range(0, len(reply), 2)]


# Each script once, with the reader of its reply (the merge's needs the project: read_merge).
MERGE_LIVE = redis.Script(__file__, "merge_live", list)
HISTORICAL = redis.Script(__file__, "historical", Historical.each)
FORGET_HISTORICAL = redis.Script(__file__, "forget_historical", bool)  # whether the deadline was forgotten
FINISH_LIVE = redis.Script(__file__, "finish_live", bool)  # whether the session was forgotten


def settle_historical(sessions: list[tuple[str, str, int]], now_ms: int, rules: Rules) -> list[Historical]:
    """Give each historical (project, session, bucket) its final id and mark it due to end
    (sessions_app/lua/historical.lua), in order."""
    args: list = [now_ms, rules.timeout_ms]
    for project_id, session_id, bucket in sessions:
        day = bounds.day_of(bucket, rules.window_ms)
        args += [
            f"{project_id}|", session_id, bucket,
            keys.session_start(project_id, session_id), keys.historical_ended(project_id, session_id),
            keys.session_start(project_id, session_id + LATE), keys.historical_ended(project_id, session_id + LATE),
            keys.live_session(project_id, session_id), keys.ended_sessions(project_id, day),
        ]  # fmt: skip
    return HISTORICAL([keys.HISTORICAL_ENDS], args)


def queue_forget_historical(
    pipe, project_id: str, session_id: str, member: bytes, deadline: float, marker_seconds: int | None
) -> None:
    """Take an ended historical session off the deadlines, on `pipe`, unless an event moved its
    deadline meanwhile, and mark it ended for `marker_seconds` (None: no end row was written, no
    marker). One script that deletes first, so that a full Redis still runs it to its end
    (sessions_app/lua/forget_historical.lua)."""
    FORGET_HISTORICAL.on(
        pipe,
        [keys.HISTORICAL_ENDS, keys.historical_ended(project_id, session_id)],
        [member, repr(deadline), "" if marker_seconds is None else marker_seconds],
    )


# --- ends -----------------------------------------------------------------------------------------
def due_sessions(now_ms: int, limit: int) -> list[tuple[str, str, int]]:
    """(project id, session id, deadline ms) of live sessions whose deadline has passed, oldest first."""
    members = redis.client().zrangebyscore(keys.LIVE_ENDS, "-inf", now_ms, start=0, num=limit, withscores=True)
    return [(*member.decode().split("|", 1), int(score)) for member, score in members]


def queue_forget(pipe, project_id: str, state: dict, ended: tuple[str, int]) -> None:
    """Forget an ended session (its end row is stored), on `pipe`, unless an event extended it
    meanwhile: it leaves its id and start in `ended` (the hash, and how long it must last)."""
    sid = state["sid"]
    session_key = keys.live_session(project_id, sid)
    profile_key = keys.live_profile(project_id, state["profile"]) if state.get("profile") else session_key
    FINISH_LIVE.on(
        pipe,
        [session_key, keys.LIVE_ENDS, keys.live_device(project_id, state["device"]), profile_key, ended[0],
         keys.session_start(project_id, sid), keys.live_session_chunks(project_id, sid)],
        [state["last"], f"{project_id}|{sid}", sid, ended[1], state.get("due", 0)],
    )  # fmt: skip


def queue_drop_deadline(pipe, project_id: str, session_id: str) -> None:
    pipe.zrem(keys.LIVE_ENDS, f"{project_id}|{session_id}")


def queue_move_deadline(pipe, project_id: str, session_id: str, deadline_ms: int) -> None:
    """A session an event extended after its deadline was read: its deadline moves (never earlier)."""
    pipe.zadd(keys.LIVE_ENDS, {f"{project_id}|{session_id}": deadline_ms}, gt=True)
