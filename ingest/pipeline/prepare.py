"""One item of a request → one event (or profile change) ready for the queue: validated, timed,
flattened, enriched.

Everything here is per item and free of I/O; identity that needs Redis (the live-session
lookup) and the row id that depends on it are settled afterwards, for the whole request at once
(ingest/pipeline/accept.py).
"""
import json
from dataclasses import dataclass
from typing import Any

import orjson

from contract.messages import IdentifyChange
from ingest.enrich.properties import EXPORTED_GEO, split_specials
from ingest.pipeline import codes
from ingest.pipeline.changes import profile_change
from ingest.pipeline.decode import TOO_DEEP_MESSAGE, InvalidLine
from ingest.pipeline.request import RequestMemo
from ingest.pipeline.serializers import ItemError, validate_envelope
from ingest.pipeline.steps import TRACK_STEPS, Parts, TrackDraft, exported_row, stored_geo


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


def _prepare_track(index: int, payload: dict, memo: RequestMemo) -> Prepared:
    specials, ordinary = split_specials(payload.get("properties") or {})
    parts = Parts(payload, specials, ordinary, exported=exported_row(specials, memo.info))
    if parts.exported:
        parts.stored_geo = stored_geo(ordinary.pop(EXPORTED_GEO, None))
    draft = TrackDraft(payload["name"], server=memo.info.agent.is_server)
    for step in TRACK_STEPS:
        step(draft, parts, memo)
    return Prepared(
        index, "track", draft.event(), draft.candidates, draft.ts, insert_id=draft.insert_id,
        exported_id=draft.exported_id, client_device=draft.own_device if draft.insert_id else "", timed=draft.timed,
        sent_ms=draft.sent_ms, skew_ms=draft.skew_ms, server=draft.server, identify=draft.identify,
        client_session=draft.client_session,
    )  # fmt: skip


def _prepare_profile_change(index: int, kind: str, payload: dict, memo: RequestMemo) -> Prepared:
    change = profile_change(kind, payload, memo.max_keys)
    change["ts"] = memo.info.received_ms
    candidates = memo.device_candidates(memo.info.ip)
    if kind == "assign_group" and "profile_id" not in change:
        change["profile_id"] = candidates[0]
    return Prepared(index, kind, change, candidates, memo.info.received_ms, server=memo.info.agent.is_server)
