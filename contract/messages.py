"""What waits in Redis for the worker, named: job payloads, buffer packets, profile changes and
rejected-row samples.

All of it is JSON and may wait for hours (a ClickHouse outage), so the worker of the next release
must read what this release wrote. Packets and chunks carry a format version `v`: each message is
built by one function here and read by one function here. Version 1 is the first versioned format;
its shape is the same as the unversioned messages of the releases before, so those read as version 1.

Version 2 (issue 13) packs a buffer packet small: `{"v": 2, "z": "<base64 of raw deflate>"}`, the
deflate of the packet's JSON against a preset dictionary (ZDICT_2) of the keys and values every
packet repeats. A packet is 700-800 bytes of JSON, most of it the request context; packed, about 40%
of that. Its wrapper is still JSON with a `v`, so a worker of version 1 sets it aside as "of a newer
format" (it cannot misread it), and the first worker that reads version 2 takes it back. Chunk jobs
need no packing of their own: RQ deflates job data as a whole (at zlib level 3 for the chunks the
API writes: storage/queue/queues.py, SpoolJob), and a chunk of 500 events, one context for all of them,
waits in about 60 bytes an event (bench/b7.py).
"""
import base64
import uuid
import zlib
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

import orjson

FORMAT = 2  # what this release writes; it reads this and every version before it
SERVER_DEVICE = "server"  # the `device` of a server sender's agent: its events never start a session


class UnknownFormat(ValueError):
    """A message written by a newer release. It is set aside rather than misread (storage/queue/poison.py),
    and taken back by the first worker that reads its format."""

    def __init__(self, version: object) -> None:
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


# The geo and user-agent field groups, each defined once by its dict above: the events table's columns
# (contract/tables.py), a session's context, the queries and the exports take their names from here.
GEO = tuple(GeoFields.__annotations__)
AGENT = tuple(AgentFields.__annotations__)


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
    client: NotRequired[int]  # 1: its session is the client's own `__sessionId` (contract §6.2 rule 0)
    # Its `__timestamp` as sent (ms), when a retry of it may be stored on another day than `ts`
    # (clamped onto another day, or corrected): ingest/worker/copies.py keeps one copy. A worker of
    # an earlier release ignores it.
    sent: NotRequired[int]
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
    """An item the worker could not process, kept with its error for operators (storage/queue/poison.py)."""

    v: int
    id: str
    source: str  # the buffer or queue it came from: "events" | "profiles" | "rejected" | "chunks"
    at_ms: int
    error: str
    project_id: str  # "" when the item does not say
    item: str  # the item as JSON text (as it waited in Redis, for a buffer packet)
    format: NotRequired[int]  # set when the item is of a newer format: a newer worker takes it back


# The preset dictionary of format 2: part of the format, never to change (a new one is a new format).
ZDICT_2 = (
    b'"agent":{"os":"Android","os_version":"","browser":"Chrome Mobile","browser_version":"","device":"mobile",'
    b'"brand":"Apple","model":"iPhone"},"os":"iOS","browser":"Safari","device":"desktop","tablet","Windows","Mac OS X",'
    b'"Linux","Chrome","Firefox","Edge","Mobile Safari","Samsung","sdk_name":"","sdk_version":""},'
    b'"changes":[{"type":"identify","profile_id":"","first_name":"","last_name":"","email":"","avatar":"",'
    b'{"type":"increment","decrement","property":"","value":1,"group","group_type":"","group_ids":[],'
    b'"ctx":{"project_id":"","backfill_days":5,"received_ms":17,"ip":"",'
    b'"geo":{"country":"US","city":"","region":"","latitude":null,"longitude":null},'
    b'"events":[{"type":"track","name":"screen_view","ts":17,"origin":"https://","path":"/","referrer":"",'
    b'"referrer_name":"","referrer_type":"","revenue":0,"groups":[],"properties":{"__path":"/"},'
    b'"device_id":"","session_id":"","live":1,"profile_id":"","id":"'
)
_PACKED = 2


def pack(packet: Mapping[str, Any]) -> bytes:
    """A buffer packet as it waits in Redis (format 2): its JSON deflated against ZDICT_2."""
    squeeze = zlib.compressobj(6, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=ZDICT_2)
    body = squeeze.compress(orjson.dumps(packet)) + squeeze.flush()
    return b'{"v":2,"z":"' + base64.b64encode(body) + b'"}'


def unpack(message: Any) -> Any:
    """The packet inside a packed one (format 2); any other message as it is."""
    if isinstance(message, dict) and message.get("v") == _PACKED and "z" in message:
        try:
            inflate = zlib.decompressobj(-15, zdict=ZDICT_2)
            return orjson.loads(inflate.decompress(base64.b64decode(message["z"], validate=True)) + inflate.flush())
        except (TypeError, ValueError, zlib.error) as error:
            raise Malformed(f"a packed packet that does not unpack: {error}") from error
    return message


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


def _check(message: Any, lists: str) -> None:
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


def read_chunk(payload: Any) -> Chunk:
    """A job's chunk, checked: every packet in it is of a format this release reads."""
    _check(payload, "packets")
    for packet in payload["packets"]:
        _check(packet, "events")
    return payload


def read_event_packet(packet: Any) -> EventPacket:
    packet = unpack(packet)
    _check(packet, "events")
    return packet


def read_change_packet(packet: Any) -> ChangePacket:
    packet = unpack(packet)
    _check(packet, "changes")
    return packet


_SAMPLE_FIELDS = {"id", "project_id", "received_ms", "reason", "error", "item"}


def read_rejected_sample(sample: Any) -> RejectedSample:
    if not isinstance(sample, dict) or not _SAMPLE_FIELDS <= set(sample):
        raise Malformed("not a rejected-row sample")
    return sample  # type: ignore[return-value]


def read_set_aside(entry: Any) -> SetAside:
    if not isinstance(entry, dict) or not isinstance(entry.get("item"), str):
        raise Malformed("not a set-aside entry")
    return entry  # type: ignore[return-value]
