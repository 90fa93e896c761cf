"""Preparing a track event, step by step: each step reads the item (`Parts`) and the request
(`RequestMemo`), fills in its own fields of the typed draft (`TrackDraft`), or refuses the item
(ItemError). They run in TRACK_STEPS's order, which is also the order in which an item's errors are
found (the first one is its answer). `TrackDraft.event()` is the one builder of what is queued.

Pure: no I/O, the clock is the request's received time (tests/unit/test_steps.py has a table per step).
"""
import math
from dataclasses import dataclass, field
from typing import Any, cast

from contract.messages import SERVER_DEVICE, AgentFields, GeoFields, IdentifyChange
from ingest.enrich import ids
from ingest.enrich import time as event_time
from ingest.enrich.geo import locate
from ingest.enrich.ip import valid_ip
from ingest.enrich.properties import UA_OVERRIDES
from ingest.enrich.text import clean, is_blank
from ingest.enrich.urls import parse_location, parse_referrer
from ingest.pipeline import codes
from ingest.pipeline.changes import flat, profile_change
from ingest.pipeline.request import RequestInfo, RequestMemo
from ingest.pipeline.serializers import ItemError, validate_envelope

MAX_ID_LENGTH = 64
MAX_SESSION_ID_LENGTH = 128
UA_KEYS = frozenset(UA_OVERRIDES)
AGENT_TEXT_LENGTH = 128


@dataclass(slots=True)
class Parts:
    """A validated track payload, its special `__` keys (nulls dropped) and its other properties."""

    payload: dict
    specials: dict
    ordinary: dict
    # A row `export_events` wrote, replayed by the operator (`replay_events`): its user-agent and geo
    # fields are the stored ones, taken as they are (contract §9 r3).
    exported: bool = False
    stored_geo: GeoFields | None = None


@dataclass(slots=True)
class TrackDraft:
    name: str
    server: bool = False  # sent by a server (its user agent, or an exported row's stored device)
    ts: int = 0  # the stored event time (ms)
    # time
    timed: bool = False  # the client gave __timestamp: the row id is a hash, not random
    sent_ms: int = 0  # its `__timestamp` as sent, before any correction or clamp: what its id hashes (§6.3)
    skew_ms: int = 0  # the clock-skew correction its time received (contract §5.1)
    keep_sent: bool = False  # a retry of it may be stored on another day: the worker keeps one copy
    # IP / geo
    ip: str = ""
    geo: GeoFields | None = None  # its own `__ip`, located elsewhere than the request's
    # device
    candidates: tuple[str, str] = ("", "")  # device ids under the current and the previous salt
    own_device: str = ""  # the `__deviceId` the client sent
    # properties / location
    properties: dict[str, str] = field(default_factory=dict)
    location: tuple[str, str] | None = None  # (origin, path) of `__path`
    referrer: tuple[str, str, str] | None = None  # (url, name, type)
    revenue: int | None = None
    # agent overrides
    agent: AgentFields | None = None
    # profile
    profile_id: str | None = None
    groups: list[str] | None = None  # those sent, blanks left out (set when any was sent)
    identify: IdentifyChange | None = None  # a `__identify` with more than a profile id
    # ids
    client_session: str = ""  # the client's own `__sessionId` (contract §6.2 rule 0)
    insert_id: str = ""
    exported_id: str = ""

    def event(self) -> dict[str, Any]:
        """The queued event (contract.messages.QueuedEvent) before its identity, keys in their stored order."""
        event: dict[str, Any] = {"type": "track", "name": self.name, "ts": self.ts}
        if self.keep_sent:
            event["sent"] = self.sent_ms
        if self.geo is not None:
            event["geo"] = self.geo
        if self.location is not None:
            event["origin"], event["path"] = self.location
        if self.referrer is not None:
            event["referrer"], event["referrer_name"], event["referrer_type"] = self.referrer
        event["properties"] = self.properties
        if self.revenue is not None:
            event["revenue"] = self.revenue
        if self.agent is not None:
            event["agent"] = self.agent
        if self.profile_id:
            event["profile_id"] = self.profile_id
        if self.groups is not None:
            event["groups"] = self.groups
        return event


def short_id(value: object, name: str) -> str:
    text = str(value).strip() if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
    if not 1 <= len(text) <= MAX_ID_LENGTH or is_blank(text):
        raise ItemError(f"properties.{name}: must be a string of 1 to {MAX_ID_LENGTH} characters")
    return text


# --- the steps, in their order --------------------------------------------------------------------------
def event_time_step(draft: TrackDraft, parts: Parts, memo: RequestMemo) -> None:
    """`__timestamp`: the time as sent, corrected by the batch's skew and clamped (contract §5.1);
    without one, the time it was received."""
    info = memo.info
    if "__timestamp" not in parts.specials:
        draft.ts = info.received_ms
        return
    try:
        sent = event_time.parse_timestamp(parts.specials["__timestamp"])
        draft.ts = event_time.settle(sent, info.received_ms, memo.project.backfill_days, info.clock_skew_ms)
    except event_time.InvalidTimestamp:
        raise ItemError("properties.__timestamp: invalid timestamp", codes.INVALID_TIMESTAMP) from None
    except event_time.TooOld as error:
        raise ItemError(str(error), codes.TOO_OLD) from None
    draft.timed, draft.sent_ms, draft.skew_ms = True, sent, info.clock_skew_ms
    draft.keep_sent = event_time.may_land_elsewhere(sent, draft.ts, info.clock_skew_ms)


def ip_step(draft: TrackDraft, parts: Parts, memo: RequestMemo) -> None:
    """`__ip`: the event's own IP, located when it is not the request's."""
    draft.ip = memo.info.ip
    if "__ip" not in parts.specials:
        return
    try:
        draft.ip = valid_ip(parts.specials["__ip"])
    except ValueError:
        raise ItemError("properties.__ip: invalid IP address") from None
    if draft.ip != memo.info.ip:
        draft.geo = locate(draft.ip).fields()


def stored_geo_step(draft: TrackDraft, parts: Parts, memo: RequestMemo) -> None:
    """An exported row's geo as stored, wherever the replay runs from: no geo is no geo."""
    if parts.exported:
        draft.geo = parts.stored_geo or {"country": "", "city": "", "region": "", "latitude": None, "longitude": None}


def device_step(draft: TrackDraft, parts: Parts, memo: RequestMemo) -> None:
    """`__deviceId`, else the device ids of the sender's user agent and IP under both salts."""
    if "__deviceId" in parts.specials:
        draft.own_device = short_id(parts.specials["__deviceId"], "__deviceId")
        draft.candidates = (draft.own_device, draft.own_device)
    else:
        draft.candidates = memo.device_candidates(draft.ip)


def properties_step(draft: TrackDraft, parts: Parts, memo: RequestMemo) -> None:
    """The other properties flattened, `__path` and `__referrer` read, the key limit, `__revenue`."""
    specials = parts.specials
    draft.properties = flat(parts.ordinary, memo.max_keys)
    page_host = ""
    if "__path" in specials:
        location = parse_location(specials["__path"])
        draft.location = (location.origin, location.path)
        page_host = location.host
        draft.properties.update(location.properties)
    if "__referrer" in specials:
        referrer = parse_referrer(specials["__referrer"], page_host)
        if referrer.url:
            draft.referrer = (referrer.url, referrer.name, referrer.type)
    if len(draft.properties) > memo.max_keys:
        raise ItemError(f"properties: more than {memo.max_keys} keys after flattening", codes.TOO_LARGE)
    if draft.name == "revenue" and "__revenue" in specials:
        draft.revenue = revenue(specials["__revenue"])


def agent_step(draft: TrackDraft, parts: Parts, memo: RequestMemo) -> None:
    """`__os`, `__browser`, ...: the request's agent with those fields replaced (never for a server sender)."""
    if parts.exported:
        draft.agent = stored_agent(parts.specials)
        draft.server = draft.agent["device"] == SERVER_DEVICE
        return
    agent = memo.info.agent
    if agent.is_server or UA_KEYS.isdisjoint(parts.specials):
        return
    overrides = {
        column: str(parts.specials[key])[:AGENT_TEXT_LENGTH] for key, column in UA_OVERRIDES.items()
        if key in parts.specials
    }  # fmt: skip
    draft.agent = cast(AgentFields, {**agent.fields(), **overrides})  # the overrides are AgentFields' own keys


def profile_step(draft: TrackDraft, parts: Parts, memo: RequestMemo) -> None:
    """The profile id (`__identify`'s wins over the payload's), the identify it carries, the groups."""
    profile_id = parts.payload.get("profileId")
    if "__identify" in parts.specials:
        identify = identify_from(parts.specials["__identify"], memo.max_keys)
        profile_id = identify["profile_id"]
        if len(identify) > 2:  # more than type and profile id: a change of its own
            draft.identify = identify
    draft.profile_id = profile_id
    groups = parts.payload.get("groups")
    if groups:
        draft.groups = [group for group in groups if group]


def session_step(draft: TrackDraft, parts: Parts, memo: RequestMemo) -> None:
    """`__sessionId` as sent: 1 to 128 printable characters, not all blank (a session named by spaces
    names nothing); anything else refuses the row rather than guessing a session."""
    if "__sessionId" not in parts.specials:
        return
    value = parts.specials["__sessionId"]
    text = value if isinstance(value, str) else ""
    if not 1 <= len(text) <= MAX_SESSION_ID_LENGTH or not text.isprintable() or is_blank(text):
        raise ItemError(
            f"properties.__sessionId: must be a string of 1 to {MAX_SESSION_ID_LENGTH} printable characters",
            codes.INVALID_SESSION_ID,
        )
    draft.client_session = text


def insert_id_step(draft: TrackDraft, parts: Parts, memo: RequestMemo) -> None:
    """`__insertId`: the client's id of the event; an export's `spool:` id names its row (replays only)."""
    if "__insertId" not in parts.specials:
        return
    draft.insert_id = short_id(parts.specials["__insertId"], "__insertId")
    if memo.info.exported_ids:
        draft.exported_id = ids.exported_row_id(draft.insert_id) or ""


TRACK_STEPS = (
    event_time_step, ip_step, stored_geo_step, device_step, properties_step, agent_step, profile_step, session_step,
    insert_id_step,
)  # fmt: skip


# --- exported rows (contract §9 r3) -------------------------------------------------------------------
def exported_row(specials: dict, info: RequestInfo) -> bool:
    """Whether this is a row `export_events` wrote (its `spool:` insert id, its `__device`), replayed
    by the operator."""
    exported = info.exported_ids and bool(ids.exported_row_id(str(specials.get("__insertId", ""))))
    return exported and "__device" in specials


def stored_agent(specials: dict) -> AgentFields:
    """An exported row's user-agent fields (`__device` is always there; `server` for a server row)."""
    fields = {column: str(specials.get(key, ""))[:AGENT_TEXT_LENGTH] for key, column in UA_OVERRIDES.items()}
    return cast(AgentFields, fields)


def stored_geo(value: object) -> GeoFields | None:
    if not isinstance(value, dict):
        return None
    text = {name: clean(str(value.get(name) or ""))[:128] for name in ("country", "city", "region")}
    place = {name: _coordinate(value.get(name)) for name in ("latitude", "longitude")}
    return cast(GeoFields, {**text, **place})


def _coordinate(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value) if -180 <= value <= 180 else None


# --- what the steps read ----------------------------------------------------------------------------------
def revenue(value: object) -> int:
    refusal = ItemError("properties.__revenue: expected a whole number from 0 to 2^63 - 1")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise refusal
    if isinstance(value, int):  # compared as an int: float() of a huge one raises OverflowError
        number = value
    else:
        try:
            as_float = float(value)
        except ValueError:
            raise refusal from None
        if not as_float.is_integer():  # nor NaN, nor infinity ("1e400")
            raise refusal
        number = int(as_float)
    if not 0 <= number < 2**63:
        raise refusal
    return number


def identify_from(value: object, max_keys: int) -> IdentifyChange:
    if not isinstance(value, dict):
        raise ItemError("properties.__identify: expected an object with profileId")
    try:
        _, payload = validate_envelope({"type": "identify", "payload": value})
    except ItemError as error:
        raise ItemError(f"properties.__identify.{str(error).removeprefix('payload.')}", error.code) from None
    return profile_change("identify", payload, max_keys)  # type: ignore[return-value]
