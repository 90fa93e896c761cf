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


def _script(name: str):
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


def queue_merge(
    pipe, project_id: str, device_id: str, runs: list[Run], chunk_id: str, timeout_ms: int, ttl_ms: int, lock_ms: int
):
    args = [
        keys.live_session(project_id, ""),
        keys.live_session_chunks(project_id, ""),
        keys.live_profile(project_id, ""),
        f"{project_id}|",
        keys.session_start_lock(project_id, ""),
        lock_ms,
        timeout_ms,
        ttl_ms,
        chunk_id,
        device_id,
    ]
    for run in runs:
        args.extend(run.args())
    _script("merge_live")(keys=[keys.live_device(project_id, device_id), keys.LIVE_ENDS], args=args, client=pipe)


def read_merge(reply: list) -> list[tuple[str, bool]]:
    """[(session id, this chunk writes its start), ...] in the order of the runs."""
    return [(reply[i].decode(), bool(reply[i + 1])) for i in range(0, len(reply), 2)]


def _decode_state(raw: dict) -> dict | None:
    if not raw:
        return None
    state = {key.decode(): value.decode() for key, value in raw.items()}
    state["first"], state["last"], state["views"] = int(state["first"]), int(state["last"]), int(state["views"])
    state["snapshot"] = orjson.loads(state["snapshot"]) if state.get("snapshot") else {}
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


def settle_historical(sessions: list[tuple[str, str, int]], chunk_id: str, now_ms: int, timeout_ms: int, lock_ms: int):
    """Mark (project, session, bucket) as due to end and try their start locks; one flag each."""
    args = [now_ms, timeout_ms, lock_ms, chunk_id]
    for project_id, session_id, bucket in sessions:
        args += [
            f"{project_id}|{session_id}|{bucket}",
            keys.session_start_lock(project_id, session_id),
            keys.historical_ended(project_id, session_id),
        ]
    return [bool(flag) for flag in _script("historical")(keys=[keys.HISTORICAL_ENDS], args=args)]


# --- ends -----------------------------------------------------------------------------------------
def due_sessions(now_ms: int, limit: int = 1000) -> list[tuple[str, str]]:
    """(project id, session id) of live sessions whose deadline has passed."""
    members = redis.client().zrangebyscore(keys.LIVE_ENDS, "-inf", now_ms, start=0, num=limit)
    return [tuple(member.decode().split("|", 1)) for member in members]


def forget_session(project_id: str, state: dict) -> bool:
    sid = state["sid"]
    session_key = keys.live_session(project_id, sid)
    profile_key = keys.live_profile(project_id, state["profile"]) if state.get("profile") else session_key
    return bool(
        _script("finish_live")(
            keys=[
                session_key,
                keys.live_session_chunks(project_id, sid),
                keys.LIVE_ENDS,
                keys.live_device(project_id, state["device"]),
                profile_key,
            ],
            args=[state["last"], f"{project_id}|{sid}", sid],
        )
    )


def drop_deadline(project_id: str, session_id: str) -> None:
    redis.client().zrem(keys.LIVE_ENDS, f"{project_id}|{session_id}")
