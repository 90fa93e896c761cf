"""What waits in Redis for the worker, named: job payloads, buffer packets, profile changes and
rejected-row samples.

All of it is JSON and may wait for hours (a ClickHouse outage), so the worker of the next release
must read what this release wrote. Packets and chunks carry a format version `v`: each message is
built by one function here and read by one function here. Version 1 is the first versioned format;
its shape is the same as the unversioned messages of the releases before, so those read as version 1.
"""
import uuid
from typing import Literal, NotRequired, TypedDict

FORMAT = 1  # what this release writes; it reads this and every version before it
SERVER_DEVICE = "server"  # the `device` of a server sender's agent: its events never start a session


class UnknownFormat(ValueError):
    """A message written by a newer release. It is set aside rather than misread (storage/poison.py),
    and taken back by the first worker that reads its format."""

    def __init__(self, version):
        super().__init__(f"message format {version!r}; this release reads up to {FORMAT}")
        self.version = version if isinstance(version, int) else 0


class GeoFields(TypedDict):
    country: str
    city: str
    region: str
    latitude: float | None
    longitude: float | None


class AgentFields(TypedDict):
    os: str
    os_version: str
    browser: str
    browser_version: str
    device: str  # "mobile" | "tablet" | "desktop" | SERVER_DEVICE
    brand: str
    model: str


class JobContext(TypedDict):
    """What the request said about its sender, shared by all its events (read once per request)."""

    project_id: str
    backfill_days: int
    received_ms: int
    ip: str
    geo: GeoFields
    agent: AgentFields
    sdk_name: str
    sdk_version: str


class QueuedEvent(TypedDict):
    """A track event as the API settled it: validated, timed, flattened, with its ids."""

    type: Literal["track"]
    name: str
    ts: int  # event time, ms
    properties: dict[str, str]
    id: str  # the row id (contract §6.3)
    device_id: str
    session_id: str
    live: NotRequired[int]  # 1: it joined a live session at the API
    profile_id: NotRequired[str]
    groups: NotRequired[list[str]]
    geo: NotRequired[GeoFields]  # its own `__ip` located elsewhere than the request's
    agent: NotRequired[AgentFields]  # `__os`, `__browser`, ... overrides
    origin: NotRequired[str]
    path: NotRequired[str]
    referrer: NotRequired[str]
    referrer_name: NotRequired[str]
    referrer_type: NotRequired[str]
    revenue: NotRequired[int]
    duration: NotRequired[int]  # session_end rows only


class EventPacket(TypedDict):
    """Events of one request, with its context."""

    v: NotRequired[int]
    ctx: JobContext
    events: list[QueuedEvent]


class Chunk(TypedDict):
    """The argument of a `process_events` job: up to EVENTS_PER_JOB events, with an id that its
    retries keep (session decisions are idempotent per chunk id)."""

    v: NotRequired[int]
    chunk_id: str
    packets: list[EventPacket]


class IdentifyChange(TypedDict):
    type: Literal["identify"]
    profile_id: str
    ts: NotRequired[int]
    first_name: NotRequired[str]
    last_name: NotRequired[str]
    email: NotRequired[str]
    avatar: NotRequired[str]
    properties: NotRequired[dict[str, str]]


class IncrementChange(TypedDict):
    type: Literal["increment", "decrement"]
    profile_id: str
    property: str
    value: int | float
    ts: NotRequired[int]


class GroupChange(TypedDict):
    type: Literal["group"]
    id: str
    group_type: str
    name: str
    properties: dict[str, str]
    ts: NotRequired[int]


class AssignGroupChange(TypedDict):
    type: Literal["assign_group"]
    group_ids: list[str]
    profile_id: str
    ts: NotRequired[int]


ProfileChange = IdentifyChange | IncrementChange | GroupChange | AssignGroupChange


class ChangePacket(TypedDict):
    """Profile and group changes of one request, in the order they were sent."""

    v: NotRequired[int]
    ctx: JobContext
    changes: list[ProfileChange]


class RejectedSample(TypedDict):
    """A rejected row offered for the admin's sample list (moved into the database by a job)."""

    id: str
    project_id: str
    received_ms: int
    index: int
    reason: str
    code: NotRequired[str]  # the row code (contract §4 r2); samples queued before codes have none
    error: str
    item: str  # the row as sent, cut at 8 KiB
    truncated: bool
    sdk_name: str
    sdk_version: str


class SetAside(TypedDict):
    """An item the worker could not process, kept with its error for operators (storage/poison.py)."""

    v: int
    id: str
    source: str  # the buffer or queue it came from: "events" | "profiles" | "rejected" | "chunks"
    at_ms: int
    error: str
    project_id: str  # "" when the item does not say
    item: str  # the item as JSON text (as it waited in Redis, for a buffer packet)
    format: NotRequired[int]  # set when the item is of a newer format: a newer worker takes it back


# --- building ---------------------------------------------------------------------------------------
def event_packet(ctx: JobContext, events: list[QueuedEvent]) -> EventPacket:
    return {"v": FORMAT, "ctx": ctx, "events": events}


def change_packet(ctx: JobContext, changes: list[ProfileChange]) -> ChangePacket:
    return {"v": FORMAT, "ctx": ctx, "changes": changes}


def chunk(packets: list[EventPacket]) -> Chunk:
    return {"v": FORMAT, "chunk_id": uuid.uuid4().hex, "packets": packets}


def set_aside(source: str, item: str, error: str, project_id: str, at_ms: int, newer_format: int = 0) -> SetAside:
    entry: SetAside = {
        "v": FORMAT, "id": uuid.uuid4().hex, "source": source, "at_ms": at_ms, "error": error,
        "project_id": project_id, "item": item,
    }  # fmt: skip
    if newer_format:
        entry["format"] = newer_format
    return entry


# --- reading ----------------------------------------------------------------------------------------
class Malformed(ValueError):
    """A message of a format this release reads, but not of its shape (a bug, or a hand-made item)."""


def _check(message, lists: str) -> None:
    """A message of a version this release reads, with its context and its list `lists`."""
    if not isinstance(message, dict):
        raise Malformed(f"expected an object, not {type(message).__name__}")
    version = message.get("v", 1)
    if not isinstance(version, int) or version > FORMAT:
        raise UnknownFormat(version)
    if lists == "packets" and not isinstance(message.get("chunk_id"), str):
        raise Malformed("no chunk id")
    if lists != "packets" and not isinstance(message.get("ctx"), dict):
        raise Malformed("no request context")
    if not isinstance(message.get(lists), list) or not all(isinstance(item, dict) for item in message[lists]):
        raise Malformed(f"{lists}: expected a list of objects")


def read_chunk(payload) -> Chunk:
    """A job's chunk, checked: every packet in it is of a format this release reads."""
    _check(payload, "packets")
    for packet in payload["packets"]:
        _check(packet, "events")
    return payload


def read_event_packet(packet) -> EventPacket:
    _check(packet, "events")
    return packet


def read_change_packet(packet) -> ChangePacket:
    _check(packet, "changes")
    return packet


_SAMPLE_FIELDS = {"id", "project_id", "received_ms", "reason", "error", "item"}


def read_rejected_sample(sample) -> RejectedSample:
    if not isinstance(sample, dict) or not _SAMPLE_FIELDS <= set(sample):
        raise Malformed("not a rejected-row sample")
    return sample  # type: ignore[return-value]


def read_set_aside(entry) -> SetAside:
    if not isinstance(entry, dict) or not isinstance(entry.get("item"), str):
        raise Malformed("not a set-aside entry")
    return entry  # type: ignore[return-value]
