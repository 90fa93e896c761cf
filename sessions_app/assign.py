"""API side of spec §6.2: give each event its device id and session id, then its row id.

An event joins a live session of its device (current salt first, then the previous one) when its
time falls inside it; otherwise it gets the deterministic 30-minute bucket of its own time.
"""
from dataclasses import dataclass

from ingest.enrich import ids
from sessions_app import identity
from sessions_app.live import LiveSession


@dataclass(slots=True)
class SessionRules:
    window_ms: int
    timeout_ms: int


def devices_to_look_up(prepared) -> list[str]:
    """Distinct device ids whose live state matters (server events never join a live session)."""
    wanted = {}
    for item in prepared:
        if item.kind == "track" and not item.server:
            wanted[item.candidates[0]] = None
            wanted[item.candidates[1]] = None
    return list(wanted)


def _inside(session: LiveSession, ms: int, timeout_ms: int) -> bool:
    return session.first_ms - timeout_ms <= ms <= session.last_ms + timeout_ms


def assign_ids(prepared, project_id: str, live: dict[str, LiveSession], rules: SessionRules) -> None:
    """Set `device_id` and `session_id` on every prepared item, and the row id on track events."""
    buckets: dict[tuple[str, int], str] = {}
    for item in prepared:
        ms = item.event["ts"]
        device = session = None
        if not item.server:
            for candidate in item.candidates:
                state = live.get(candidate)
                if state is not None and _inside(state, ms, rules.timeout_ms):
                    device, session = candidate, state.session_id
                    break
        joined_live = device is not None
        if not joined_live:
            device = item.candidates[0]
            bucket = identity.bucket_of(ms, rules.window_ms)
            session = buckets.get((device, bucket))
            if session is None:
                session = buckets[(device, bucket)] = identity.session_id_for(project_id, device, bucket)
            state = live.get(device)
            if state is not None and state.session_id == session:
                # The bucket's id belongs to a live session this event is outside of (timeout < window).
                session = f"{session}.{ms}"
        item.device_id, item.session_id = device, session
        if item.kind == "track":
            event = item.event
            event["device_id"], event["session_id"] = device, session
            if joined_live:
                event["live"] = 1
            event["id"] = _row_id(item, project_id)


def _row_id(item, project_id: str) -> str:
    event = item.event
    if item.insert_id:
        return ids.insert_id_event_id(project_id, item.insert_id)
    if item.timed:
        profile = event.get("profile_id") or event["device_id"]
        return ids.timed_event_id(
            project_id, event["device_id"], event["name"], event["ts"], profile, event["properties"]
        )
    return ids.random_event_id()
