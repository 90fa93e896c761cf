"""One item of a request → one event (or profile change) ready for the queue: validated, timed,
flattened, enriched.

Everything here is per item and free of I/O; identity that needs Redis (the live-session
lookup) and the row id that depends on it are settled afterwards, for the whole request at once
(ingest/pipeline/accept.py).
"""
import json
import math
from dataclasses import dataclass
from typing import Any, cast

import orjson
from django.conf import settings

from contract.messages import SERVER_DEVICE, AgentFields, GeoFields, IdentifyChange
from ingest.enrich import ids
from ingest.enrich import time as event_time
from ingest.enrich.geo import locate
from ingest.enrich.ip import valid_ip
from ingest.enrich.properties import EXPORTED_GEO, UA_OVERRIDES, InvalidProperty, flatten, split_specials
from ingest.enrich.text import clean, is_blank
from ingest.enrich.urls import parse_location, parse_referrer
from ingest.pipeline import codes
from ingest.pipeline.decode import TOO_DEEP_MESSAGE, InvalidLine
from ingest.pipeline.request import RequestMemo
from ingest.pipeline.serializers import ItemError, validate_envelope

MAX_ID_LENGTH = 64
MAX_SESSION_ID_LENGTH = 128
UA_KEYS = frozenset(UA_OVERRIDES)
IDENTIFY_FIELDS = (("firstName", "first_name"), ("lastName", "last_name"), ("email", "email"), ("avatar", "avatar"))


@dataclass(slots=True)
class Prepared:
    index: int  # its position in the request
    kind: str  # "track", or a profile change's type
    event: dict[str, Any]  # what the worker receives: a QueuedEvent (track) or a ProfileChange (contract.messages)
    candidates: tuple[str, str]  # device ids under the current and the previous salt
    ms: int  # its time: the event time of a track event, received_at of a profile change
    insert_id: str = ""
    exported_id: str = ""  # the row id an export's `spool:` insert id names, honoured for replays only
    client_device: str = ""  # the `__deviceId` the client sent: the scope of its `__insertId`
    timed: bool = False  # the client gave __timestamp: the id is a hash, not random
    sent_ms: int = 0  # its `__timestamp` as sent, before any correction or clamp: what its id hashes (§6.3)
    skew_ms: int = 0  # the clock-skew correction its time received (contract §5.1)
    server: bool = False
    client_session: str = ""  # the client's own `__sessionId` (contract §6.2 rule 0)
    identify: IdentifyChange | None = None  # a track event's `__identify` with more than a profile id
    # Settled for the whole request once Redis has answered (sessions_app.assign).
    device_id: str = ""
    session_id: str = ""


def _short_id(value, name: str) -> str:
    text = str(value).strip() if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
    if not 1 <= len(text) <= MAX_ID_LENGTH or is_blank(text):
        raise ItemError(f"properties.{name}: must be a string of 1 to {MAX_ID_LENGTH} characters")
    return text


def _client_session(value) -> str:
    """`__sessionId` as sent: 1 to 128 printable characters, not all blank (a session named by
    spaces names nothing); anything else refuses the row rather than guessing a session."""
    text = value if isinstance(value, str) else ""
    if not 1 <= len(text) <= MAX_SESSION_ID_LENGTH or not text.isprintable() or is_blank(text):
        raise ItemError(
            f"properties.__sessionId: must be a string of 1 to {MAX_SESSION_ID_LENGTH} printable characters",
            codes.INVALID_SESSION_ID,
        )
    return text


def _flat(properties: dict, max_keys: int, prefix: str = "properties") -> dict[str, str]:
    try:
        return flatten(properties, max_keys)
    except InvalidProperty as error:
        if ":" in str(error):  # a value: "a.b: number out of range"
            raise ItemError(f"{prefix}.{error}") from None
        raise ItemError(f"{prefix}: {error}", codes.TOO_LARGE) from None


def _check_size(item, limit: int) -> None:
    """An item's size, serialized; and its depth, which orjson checks on the way (decode.MAX_DEPTH)."""
    try:
        size = len(orjson.dumps(item))
    except orjson.JSONEncodeError as error:
        if "Recursion limit" in str(error):  # deeper than MAX_DEPTH, whichever parser read it
            raise ItemError(TOO_DEEP_MESSAGE, codes.TOO_DEEP) from None
        try:
            size = len(json.dumps(item, ensure_ascii=False).encode())
        except (RecursionError, ValueError):
            raise ItemError(TOO_DEEP_MESSAGE, codes.TOO_DEEP) from None
    if size > limit:
        raise ItemError(f"item: event too large ({size} bytes, at most {limit})", codes.TOO_LARGE)


def prepare_item(index: int, item, memo: RequestMemo) -> Prepared:
    if isinstance(item, InvalidLine):
        raise ItemError(item.message, item.code)
    _check_size(item, memo.max_event_bytes)
    kind, payload = validate_envelope(item)
    if kind == "track":
        return _prepare_track(index, payload, memo)
    return _prepare_profile_change(index, kind, payload, memo)


def _event_ms(raw_timestamp, memo: RequestMemo) -> tuple[int, int]:
    """(the time as sent, the stored event time) of a `__timestamp` that is not None."""
    try:
        sent = event_time.parse_timestamp(raw_timestamp)
        return sent, event_time.settle(sent, memo.info.received_ms, memo.project.backfill_days, memo.info.clock_skew_ms)
    except event_time.InvalidTimestamp:
        raise ItemError("properties.__timestamp: invalid timestamp", codes.INVALID_TIMESTAMP) from None
    except event_time.TooOld as error:
        raise ItemError(str(error), codes.TOO_OLD) from None


def _exported_row(specials: dict, info) -> bool:
    """Whether this is a row `export_events` wrote, replayed by the operator (`replay_events`): its
    user-agent and geo fields are the stored ones, taken as they are (contract §9 r3)."""
    return info.exported_ids and bool(ids.exported_row_id(str(specials.get("__insertId", ""))))


def _stored_agent(specials: dict) -> AgentFields:
    """An exported row's user-agent fields (`__device` is always there; `server` for a server row)."""
    return cast(AgentFields, {column: str(specials.get(key, ""))[:128] for key, column in UA_OVERRIDES.items()})


def _stored_geo(value) -> GeoFields | None:
    if not isinstance(value, dict):
        return None
    text = {name: clean(str(value.get(name) or ""))[:128] for name in ("country", "city", "region")}
    place = {name: _coordinate(value.get(name)) for name in ("latitude", "longitude")}
    return cast(GeoFields, {**text, **place})


def _coordinate(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value) if -180 <= value <= 180 else None


def _prepare_track(index: int, payload: dict, memo: RequestMemo) -> Prepared:
    info = memo.info
    specials, ordinary = split_specials(payload.get("properties") or {})
    exported = _exported_row(specials, info) and "__device" in specials
    stored_geo = _stored_geo(ordinary.pop(EXPORTED_GEO, None)) if exported else None
    timed = "__timestamp" in specials
    sent, ms = _event_ms(specials["__timestamp"], memo) if timed else (0, info.received_ms)
    name = payload["name"]
    event = {"type": "track", "name": name, "ts": ms}
    if timed and event_time.may_land_elsewhere(sent, ms, info.clock_skew_ms):
        event["sent"] = sent  # the worker keeps one copy across days (ingest/worker/copies.py)

    ip = info.ip
    if "__ip" in specials:
        try:
            ip = valid_ip(specials["__ip"])
        except ValueError:
            raise ItemError("properties.__ip: invalid IP address") from None
        if ip != info.ip:
            event["geo"] = locate(ip).fields()

    if exported:  # as stored, wherever the replay runs from: no geo is no geo
        event["geo"] = stored_geo or {"country": "", "city": "", "region": "", "latitude": None, "longitude": None}
    own = ""
    if "__deviceId" in specials:
        own = _short_id(specials["__deviceId"], "__deviceId")
        candidates = (own, own)
    else:
        candidates = memo.device_candidates(ip)

    properties = _flat(ordinary, memo.max_keys)
    page_host = ""
    if "__path" in specials:
        location = parse_location(specials["__path"])
        event.update(origin=location.origin, path=location.path)
        page_host = location.host
        properties.update(location.properties)
    if "__referrer" in specials:
        referrer = parse_referrer(specials["__referrer"], page_host)
        if referrer.url:
            event.update(referrer=referrer.url, referrer_name=referrer.name, referrer_type=referrer.type)
    if len(properties) > memo.max_keys:
        raise ItemError(f"properties: more than {memo.max_keys} keys after flattening", codes.TOO_LARGE)
    event["properties"] = properties

    if name == "revenue" and "__revenue" in specials:
        event["revenue"] = _revenue(specials["__revenue"])

    server = info.agent.is_server
    if exported:
        event["agent"] = _stored_agent(specials)
        server = event["agent"]["device"] == SERVER_DEVICE
    elif not server and not UA_KEYS.isdisjoint(specials):
        overrides = {column: str(specials[key])[:128] for key, column in UA_OVERRIDES.items() if key in specials}
        event["agent"] = {**info.agent.fields(), **overrides}

    profile_id = payload.get("profileId")
    identify = None
    if "__identify" in specials:
        identify = _identify_from(specials["__identify"])
        profile_id = identify["profile_id"]
        if len(identify) <= 2:  # only type and profile id: it sets the profile, nothing to identify
            identify = None
    if profile_id:
        event["profile_id"] = profile_id
    groups = payload.get("groups")
    if groups:
        event["groups"] = [group for group in groups if group]

    prepared = Prepared(
        index, "track", event, candidates, ms, timed=timed, sent_ms=sent, server=server,
        identify=identify, skew_ms=info.clock_skew_ms if timed else 0,
    )  # fmt: skip
    if "__sessionId" in specials:
        prepared.client_session = _client_session(specials["__sessionId"])
    if "__insertId" in specials:
        prepared.insert_id = _short_id(specials["__insertId"], "__insertId")
        prepared.client_device = own
        if info.exported_ids:
            prepared.exported_id = ids.exported_row_id(prepared.insert_id) or ""
    return prepared


def _revenue(value) -> int:
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


def _identify_from(value) -> IdentifyChange:
    if not isinstance(value, dict):
        raise ItemError("properties.__identify: expected an object with profileId")
    try:
        _, payload = validate_envelope({"type": "identify", "payload": value})
    except ItemError as error:
        raise ItemError(f"properties.__identify.{str(error).removeprefix('payload.')}", error.code) from None
    return _profile_change("identify", payload)  # type: ignore[return-value]


def _profile_change(kind: str, payload: dict) -> dict:
    """The stored shape of identify / increment / decrement / group / assign_group."""
    change: dict[str, Any] = {"type": kind}
    if kind == "identify":
        change["profile_id"] = payload["profileId"]
        for source, target in IDENTIFY_FIELDS:
            if payload.get(source):
                change[target] = clean(payload[source]).strip()
        if payload.get("properties"):
            change["properties"] = _flat(payload["properties"], settings.MAX_PROPERTY_KEYS, "payload.properties")
    elif kind in ("increment", "decrement"):
        change.update(profile_id=payload["profileId"], property=payload["property"], value=payload.get("value") or 1)
    elif kind == "group":
        change.update(id=payload["id"], group_type=payload["type"], name=payload["name"])
        change["properties"] = _flat(payload.get("properties") or {}, settings.MAX_PROPERTY_KEYS, "payload.properties")
    elif kind == "assign_group":
        change["group_ids"] = list(payload["groupIds"])
        if payload.get("profileId"):
            change["profile_id"] = payload["profileId"]
    return change


def _prepare_profile_change(index: int, kind: str, payload: dict, memo: RequestMemo) -> Prepared:
    change = _profile_change(kind, payload)
    change["ts"] = memo.info.received_ms
    candidates = memo.device_candidates(memo.info.ip)
    if kind == "assign_group" and "profile_id" not in change:
        change["profile_id"] = candidates[0]
    return Prepared(index, kind, change, candidates, memo.info.received_ms, server=memo.info.agent.is_server)
