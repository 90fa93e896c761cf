"""The API's side of contract §6.2: the device id and session id of each item of a request.

An event that names its client's session (`__sessionId`, rule 0) is in that session, whatever
Redis holds. Any other event joins a live session of its device (current salt first, then the previous one) when its
time falls inside it; otherwise it gets the deterministic bucket of its own time. Pure: the live
sessions were looked up before (sessions_app.live), and the caller applies the placements.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sessions_app import identity
from sessions_app.live import LiveSession

# `place` for one event, restated in Lua for the single-event script (ingest/pipeline/lua/single.lua).
PLACE_LUA = Path(__file__).parent / "lua" / "place.lua"


@dataclass(frozen=True, slots=True)
class SessionRules:
    window_ms: int
    timeout_ms: int


@dataclass(frozen=True, slots=True)
class Placement:
    device_id: str
    session_id: str
    live: bool  # it joined a live session
    client: bool = False  # the client's own session (contract §6.2 rule 0)


class Placeable(Protocol):
    """What placing an item needs to know of it."""

    kind: str  # "track", or a profile change's type
    ms: int  # its time
    candidates: tuple[str, str]  # device ids under the current and the previous salt
    server: bool  # sent by a server: it never joins a live session
    client_session: str  # the `__sessionId` it names, or ""


def devices_to_look_up(items: list) -> list[str]:
    """Distinct device ids whose live state matters: those of every item, profile changes too, since
    every answer gives the ids of the caller's live session (contract §6.2 r2). Server senders never
    join a live session."""
    wanted: dict[str, None] = {}
    for item in items:
        if not item.server:
            wanted[item.candidates[0]] = None
            wanted[item.candidates[1]] = None
    return list(wanted)


def _inside(session: LiveSession, ms: int, timeout_ms: int) -> bool:
    return session.first_ms - timeout_ms <= ms <= session.last_ms + timeout_ms


def place(items: list, project_id: str, live: dict[str, LiveSession], rules: SessionRules) -> list[Placement]:
    """One placement per item, in order."""
    buckets: dict[tuple[str, int], str] = {}
    placements = []
    for item in items:
        ms = item.ms
        if item.client_session:
            # The current salt's device id: a client that sends no __deviceId keeps its session
            # across the daily salt rotation only while it stays live (docs/sessions.md).
            device = item.candidates[0]
            session = identity.client_session_id_for(project_id, device, item.client_session)
            placements.append(Placement(device, session, live=False, client=True))
        elif not item.server:
            for candidate in item.candidates:
                state = live.get(candidate)
                if state is not None and _inside(state, ms, rules.timeout_ms):
                    placements.append(Placement(candidate, state.session_id, live=True))
                    break
            else:
                placements.append(_in_bucket(item, ms, project_id, live, rules, buckets))
        else:
            placements.append(_in_bucket(item, ms, project_id, live, rules, buckets))
    return placements


def _in_bucket(item: Placeable, ms: int, project_id: str, live: dict, rules: SessionRules, buckets: dict) -> Placement:
    device = item.candidates[0]
    bucket = identity.bucket_of(ms, rules.window_ms)
    session = buckets.get((device, bucket))
    if session is None:
        session = buckets[(device, bucket)] = identity.session_id_for(project_id, device, bucket)
    state = live.get(device)
    if state is not None and state.session_id == session:
        # The bucket's id belongs to a live session this event is outside of (timeout < window).
        session = f"{session}.{ms}"
    return Placement(device, session, live=False)
