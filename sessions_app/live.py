"""Live session state in Redis (contract §6.2, §7): looked up by the API, merged and ended by the worker.

Per (project, device) a small pointer hash names the current live session with its first and last
event times, so that the API can decide in one pipelined round trip whether an event joins it.
Per session a hash holds what its end row needs. A zset holds every live session's deadline
(last event + timeout), which the periodic sweep reads.
"""
import functools
from dataclasses import dataclass
from pathlib import Path

import orjson

from storage import keys, redis

_LUA = Path(__file__).parent / "lua"


@functools.cache
def _source(name: str) -> str:
    return (_LUA / f"{name}.lua").read_text()


def lua(name: str):
    """The Lua script sessions_app/lua/<name>.lua, registered on the current Redis client."""
    return redis.script(_source(name))


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
    bucket_session_id: str
    first_ms: int
    last_ms: int
    entry_path: str
    exit_path: str
    screen_views: int
    profile_id: str
    snapshot: dict  # the first event's origin, referrer, geo and device fields

    def args(self) -> list:
        return [
            self.api_session_id,
            self.bucket_session_id,
            self.first_ms,
            self.last_ms,
            self.entry_path,
            self.exit_path,
            self.screen_views,
            self.profile_id,
            orjson.dumps(self.snapshot),
        ]


def queue_merge(pipe, project_id: str, device_id: str, runs: list[Run], chunk_id: str, timeout_ms: int, ttl_ms: int):
    args = [
        keys.live_session(project_id, ""),
        keys.live_session_chunks(project_id, ""),
        keys.live_profile(project_id, ""),
        f"{project_id}|",
        keys.session_start(project_id, ""),
        timeout_ms,
        ttl_ms,
        chunk_id,
        device_id,
    ]
    for run in runs:
        args.extend(run.args())
    lua("merge_live")(keys=[keys.live_device(project_id, device_id), keys.LIVE_ENDS], args=args, client=pipe)


def read_merge(reply: list) -> list[tuple[str, bool]]:
    """[(session id, the run holds the session's earliest event so far), ...] in the order of the runs."""
    return [(reply[i].decode(), bool(reply[i + 1])) for i in range(0, len(reply), 2)]


def _decode_state(raw: dict) -> dict | None:
    """A session's state, or None when there is none, or none that can be read."""
    if not raw:
        return None
    try:
        state = {key.decode(): value.decode() for key, value in raw.items()}
        state["first"], state["last"], state["views"] = int(state["first"]), int(state["last"]), int(state["views"])
        state["snapshot"] = orjson.loads(state["snapshot"]) if state.get("snapshot") else {}
    except (KeyError, ValueError):  # UnicodeDecodeError and orjson's errors are ValueErrors
        return None
    return state


def session_states(pairs: list[tuple[str, str]]) -> list[dict | None]:
    """The state of each (project id, session id), None where it is gone. One round trip."""
    with redis.client().pipeline(transaction=False) as pipe:
        for project_id, session_id in pairs:
            pipe.hgetall(keys.live_session(project_id, session_id))
        return [_decode_state(raw) for raw in pipe.execute()]


def sessions_of_profiles(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """(project id, profile id) → the state of that profile's live session, for those that have one."""
    with redis.client().pipeline(transaction=False) as pipe:
        for project_id, profile_id in pairs:
            pipe.get(keys.live_profile(project_id, profile_id))
        sids = pipe.execute()
    found = [(pair, sid.decode()) for pair, sid in zip(pairs, sids) if sid]
    states = session_states([(pair[0], sid) for pair, sid in found])
    return {pair: state for (pair, _), state in zip(found, states) if state is not None}


LATE = ".late"  # the buffered events of an ended live session's bucket form a session of their own


def settle_historical(sessions: list[tuple[str, str, int]], now_ms: int, timeout_ms: int) -> list[tuple[str, bool]]:
    """Give each historical (project, session, bucket) its final id and mark it due to end. Returns
    [(final session id, Redis knows its start so far)] in order."""
    args: list = [now_ms, timeout_ms]
    for project_id, session_id, bucket in sessions:
        args += [
            f"{project_id}|", session_id, bucket,
            keys.session_start(project_id, session_id), keys.historical_ended(project_id, session_id),
            keys.session_start(project_id, session_id + LATE), keys.historical_ended(project_id, session_id + LATE),
        ]  # fmt: skip
    reply = lua("historical")(keys=[keys.HISTORICAL_ENDS], args=args)
    return [(reply[i].decode(), bool(reply[i + 1])) for i in range(0, len(reply), 2)]


# --- ends -----------------------------------------------------------------------------------------
def due_sessions(now_ms: int, limit: int) -> list[tuple[str, str, int]]:
    """(project id, session id, deadline ms) of live sessions whose deadline has passed, oldest first."""
    members = redis.client().zrangebyscore(keys.LIVE_ENDS, "-inf", now_ms, start=0, num=limit, withscores=True)
    return [(*member.decode().split("|", 1), int(score)) for member, score in members]


def queue_forget(pipe, project_id: str, state: dict, keep_ms: int) -> None:
    """Forget an ended session (its end row is stored), on `pipe`, unless an event extended it meanwhile."""
    sid = state["sid"]
    session_key = keys.live_session(project_id, sid)
    profile_key = keys.live_profile(project_id, state["profile"]) if state.get("profile") else session_key
    lua("finish_live")(
        keys=[
            session_key,
            keys.live_session_chunks(project_id, sid),
            keys.LIVE_ENDS,
            keys.live_device(project_id, state["device"]),
            profile_key,
            keys.session_start(project_id, sid),
        ],
        args=[state["last"], f"{project_id}|{sid}", sid, keep_ms],
        client=pipe,
    )


def queue_drop_deadline(pipe, project_id: str, session_id: str) -> None:
    pipe.zrem(keys.LIVE_ENDS, f"{project_id}|{session_id}")


def queue_move_deadline(pipe, project_id: str, session_id: str, deadline_ms: int) -> None:
    """A session an event extended after its deadline was read: its deadline moves (never earlier)."""
    pipe.zadd(keys.LIVE_ENDS, {f"{project_id}|{session_id}": deadline_ms}, gt=True)
