"""Accepting a request's items (contract §3–§7): prepare each, settle identities for the whole
request in one Redis round trip, queue the events and profile changes, record the rejections."""
import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from typing import cast

import orjson
from redis.exceptions import RedisError

from contract import messages
from contract.messages import ProfileChange, QueuedEvent
from ingest.enrich import ids
from ingest.enrich import time as event_time
from ingest.pipeline import admission, codes, rejections, single
from ingest.pipeline.prepare import Prepared, prepare_item
from ingest.pipeline.request import RequestInfo, RequestMemo
from ingest.pipeline.serializers import ItemError
from ingest.profiles import known
from projects.auth import ProjectContext
from sessions_app import live, rules
from sessions_app.assign import Placement, SessionRules, devices_to_look_up, place
from sessions_app.live import LiveSession
from storage.queue import buffers, queues
from storage.redis import client as redis
from storage.redis import counters, keys

logger = logging.getLogger(__name__)
PROFILE_CHANGES = ("increment", "decrement")
UNKNOWN_PROFILE = "payload.profileId: unknown profile"
QUEUE_UNAVAILABLE = "the queue is unavailable; retry this event"


class ServiceUnavailable(Exception):
    """Redis refused: nothing of the request was queued (the API answers 503)."""


class UnknownProfile(Exception):
    """increment / decrement of a profile that was never identified (`str()` names it)."""


@dataclass(slots=True)
class Rejection:
    index: int
    code: str  # ingest/pipeline/codes.py (contract §4 r2)
    error: str

    @property
    def reason(self) -> str:
        """What the code says of sending the row again: "validation" (not as it is) or "internal" (do)."""
        return codes.reason_of(self.code)

    def as_dict(self) -> dict:
        return {"index": self.index, "reason": self.reason, "code": self.code, "error": self.error}


@dataclass(slots=True)
class BatchResult:
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    bot: str = ""


@dataclass(slots=True)
class SingleResult:
    device_id: str = ""
    session_id: str = ""
    duplicate: bool = False
    bot: str = ""


def _rules() -> SessionRules:
    return SessionRules(window_ms=rules.window_ms(), timeout_ms=rules.timeout_ms())


def _starts_live(item: Prepared, received_ms: int, timeout_ms: int) -> bool:
    """Whether a track event joins or starts a live session (the worker's live branch,
    sessions_app/settle.py): sent by a client, not a server, and no older than the timeout."""
    return item.kind == "track" and not item.server and item.ms >= received_ms - timeout_ms


def _live_devices(prepared: list[Prepared], received_ms: int) -> list[tuple[str, str]]:
    """The (current salt, previous salt) device ids of the events that join or start a live session:
    admission counts those with no live session against the project's device budget."""
    timeout_ms = rules.timeout_ms()
    found = {item.candidates: None for item in prepared if _starts_live(item, received_ms, timeout_ms)}
    return list(found)


def _lookup(pipe, project: ProjectContext, prepared: list[Prepared]):
    """Queue the reads this request needs on `pipe`; return a function that reads the replies."""
    devices = devices_to_look_up(prepared)
    live.queue_lookup(pipe, project.id, devices)
    wanted = list({item.event["profile_id"] for item in prepared if item.kind in PROFILE_CHANGES})
    known.queue_lookup(pipe, project.id, wanted)

    def read(replies: list) -> tuple[dict, set[str]]:
        # Known profiles from Redis alone: ClickHouse never slows a request (ingest/profiles/known.py).
        return live.read_lookup(devices, replies[: len(devices)]), known.read_lookup(wanted, replies[len(devices) :])

    return read


def _split(prepared: list[Prepared]) -> tuple[list[QueuedEvent], list[ProfileChange]]:
    """Track events for the event queue and profile changes for their ordered buffer, in input
    order. A track event's `__identify` (with more than a profile id) becomes a change of its own."""
    events: list[QueuedEvent] = []
    changes: list[ProfileChange] = []
    for item in prepared:
        if item.kind != "track":
            changes.append(cast(ProfileChange, item.event))
            continue
        events.append(cast(QueuedEvent, item.event))
        if item.identify is not None:
            changes.append(item.identify)
    return events, changes


def _settle(prepared: list[Prepared], project_id: str, live_sessions: dict) -> None:
    """Place every item in its device and session (sessions_app.assign), and give track events
    those ids and their row id (contract §6.3)."""
    for item, placement in zip(prepared, place(prepared, project_id, live_sessions, _rules())):
        item.device_id, item.session_id = placement.device_id, placement.session_id
        if item.kind == "track":
            item.event.update(_identity(item, placement, project_id))
            if item.skew_ms:  # after the id: a retry with another sentAt keeps its id (contract §5.1)
                item.event["properties"][event_time.CLOCK_SKEW_PROPERTY] = str(item.skew_ms)


def _identity(item: Prepared, placement: Placement, project_id: str) -> dict:
    """The fields a placement gives a track event: the one place a queued event gets its identity."""
    fields: dict = {"device_id": placement.device_id, "session_id": placement.session_id}
    if placement.live:
        fields["live"] = 1
    if placement.client:
        fields["client"] = 1
    fields["id"] = _row_id(item, placement, project_id)
    return fields


def _row_id(item: Prepared, placement: Placement, project_id: str) -> str:
    event = item.event
    if item.exported_id:  # a row of `export_events` that the operator replays: its own id
        return item.exported_id
    if item.insert_id:
        return ids.insert_id_event_id(project_id, item.client_device, event["name"], item.insert_id)
    if item.timed:
        # The time as sent, not the clamped one: a retry of a clock-ahead device keeps its id (finding 5).
        profile = event.get("profile_id") or placement.device_id
        device, name = placement.device_id, event["name"]
        return ids.timed_event_id(project_id, device, name, item.sent_ms, profile, event["properties"])
    return ids.random_event_id()


def _remember_identified(project: ProjectContext, changes: list[ProfileChange]) -> None:
    """Profiles identified now are known at once, for the increments that may follow."""
    identified = [(project.id, change["profile_id"]) for change in changes if change["type"] == "identify"]
    try:
        known.mark_known(identified)
    except RedisError:
        pass  # the worker marks them too when it applies the identify


def _prepare_all(items: list, memo: RequestMemo) -> tuple[list[Prepared], list[Rejection]]:
    prepared: list[Prepared] = []
    rejected: list[Rejection] = []
    for index, item in enumerate(items):
        try:
            prepared.append(prepare_item(index, item, memo))
        except ItemError as error:
            rejected.append(Rejection(index, error.code, str(error)))
        except Exception:  # nothing one item holds may fail its batch (contract §4 r2)
            request_id = memo.info.request_id
            logger.exception("unexpected error preparing row %d (request %s)", index, request_id)
            rejected.append(Rejection(index, codes.INTERNAL_ERROR, f"unexpected server error; request id {request_id}"))
    return prepared, rejected


def _drop_crawler(project: ProjectContext, info: RequestInfo, events: int) -> None:
    """A crawler's request is answered and not stored, and counted (contract §6.4 r3: nothing is
    dropped silently). Raises ServiceUnavailable when Redis cannot count it."""
    try:
        counters.count_crawler(project.id, info.agent.bot, events, info.received_ms)
    except RedisError as error:
        raise ServiceUnavailable(str(error)) from error


def check_batch(project: ProjectContext, items: list, info: RequestInfo) -> BatchResult:
    """What ingest_batch would refuse on the items alone; nothing is queued or recorded
    (`replay_events --dry-run`). Checks that need Redis (unknown profiles) are not made."""
    if info.agent.bot:
        return BatchResult(bot=info.agent.bot)
    prepared, rejected = _prepare_all(items, RequestMemo(project, info))
    return BatchResult(accepted=len(prepared), rejected=rejected)


def ingest_batch(
    project: ProjectContext, items: list, info: RequestInfo, quota: bool = True, body_bytes: int = 0
) -> BatchResult:
    """Validate each item on its own; queue the good ones in chunks; report the bad ones by index.

    Raises admission.QuotaExceeded / Overloaded (nothing accepted); `quota=False` for an operator's
    replay, which the high-water mark still holds back. `body_bytes`: the request body, decompressed
    (what it costs, when more than its events: admission.cost).
    """
    if info.agent.bot:
        _drop_crawler(project, info, len(items))
        return BatchResult(bot=info.agent.bot)
    request_cost = admission.cost(project, len(items), body_bytes)
    if quota:
        admission.refuse_before_items(project, len(items), request_cost)
    prepared, rejected = _prepare_all(items, RequestMemo(project, info))
    devices = _live_devices(prepared, info.received_ms)

    def queue(pipe):
        admit = admission.queue_check(pipe, project, len(items), request_cost, devices, quota=quota)
        return admit, _lookup(pipe, project, prepared)

    try:
        (admit, read), replies = redis.read_pipeline(queue)
    except RedisError as error:
        raise ServiceUnavailable(str(error)) from error
    lane = admit(replies.pop(0)).lane
    live_sessions, known_profiles = read(replies)

    identified = set(known_profiles)
    kept = []
    for item in prepared:
        if item.kind == "identify":
            identified.add(item.event["profile_id"])
        elif item.kind in PROFILE_CHANGES and item.event["profile_id"] not in identified:
            rejected.append(Rejection(item.index, codes.UNKNOWN_PROFILE, UNKNOWN_PROFILE))
            continue
        kept.append(item)
    _settle(kept, project.id, live_sessions)

    # Profile changes go to their own ordered buffer; events go in chunks grouped by device and
    # time, so that a device's events tend to share a chunk (one live-session merge, one start).
    ctx = info.job_context(project)
    tracks = sorted((item for item in kept if item.kind == "track"), key=lambda i: (i.device_id, i.ms))
    _, changes = _split(kept)
    if changes:
        try:
            buffers.push(ctx, [], changes, rows=len(kept) - len(tracks))
        except RedisError as error:
            raise ServiceUnavailable(str(error)) from error
    refused = queues.enqueue_events(ctx, [cast(QueuedEvent, item.event) for item in tracks], lane)
    if tracks and len(refused) == len(tracks) and not changes:
        raise ServiceUnavailable("the queue refused the events")
    for position in refused:
        rejected.append(Rejection(tracks[position].index, codes.QUEUE_UNAVAILABLE, QUEUE_UNAVAILABLE))
    _remember_identified(project, changes)
    rejected.sort(key=lambda rejection: rejection.index)
    rejections.record(project.id, info, items, rejected)
    return BatchResult(accepted=len(kept) - len(refused), rejected=rejected)


def duplicate_digest(body: bytes, info: RequestInfo, client_id: str) -> str:
    seen = b"%s|%s|%s|%s" % (body, info.ip.encode(), info.origin.encode(), client_id.encode())
    return hashlib.sha256(seen).hexdigest()


def ingest_single(
    project: ProjectContext, item, info: RequestInfo, digest: str = "", body_bytes: int = 0
) -> SingleResult:
    """One event of `POST /track`, in one Redis round trip (ingest/pipeline/single.py). Raises
    ItemError (400), UnknownProfile (404), ServiceUnavailable, admission's refusals."""
    if info.agent.bot:
        _drop_crawler(project, info, 1)
        return SingleResult(bot=info.agent.bot)
    admission.refuse_before_items(project, 1, admission.cost(project, 1, body_bytes))
    try:
        prepared = prepare_item(0, item, RequestMemo(project, info))
    except ItemError as error:
        rejections.record(project.id, info, [item], [Rejection(0, error.code, str(error))])
        raise
    ctx = info.job_context(project)
    events, changes = _split([prepared])
    identified = tuple({change["profile_id"]: None for change in changes if change["type"] == "identify"})
    try:
        outcome = single.run(
            project, info.received_ms, devices_to_look_up([prepared]), prepared.ms, _rules().timeout_ms,
            # Browsers sometimes fire one event twice within milliseconds (contract §6.3).
            duplicate_key=keys.duplicate_guard(digest) if digest else "",
            profile=prepared.event["profile_id"] if prepared.kind in PROFILE_CHANGES else "",
            packets=_single_packets(prepared, project.id, ctx) if events else None,
            change_packet=buffers.PROFILE_BUFFER.encode(messages.change_packet(ctx, changes)) if changes else b"",
            identified=tuple(profile for profile in identified if isinstance(profile, str) and profile),
            body_bytes=body_bytes, starts_live=_starts_live(prepared, info.received_ms, _rules().timeout_ms),
        )  # fmt: skip
    except RedisError as error:
        raise ServiceUnavailable(str(error)) from error
    _settle([prepared], project.id, outcome.live)
    result = SingleResult(device_id=prepared.device_id, session_id=prepared.session_id)
    if outcome.admission.duplicate:
        result.duplicate = True
        return result
    if outcome.unknown_profile:
        rejections.record(project.id, info, [item], [Rejection(0, codes.UNKNOWN_PROFILE, UNKNOWN_PROFILE)])
        raise UnknownProfile(f"{UNKNOWN_PROFILE} '{prepared.event['profile_id']}'")
    if events and outcome.pushed != _pick(prepared):
        logger.error("the single-event script placed an event otherwise than the API (%s)", outcome.pushed)
    return result


# Stands for the session id of a live session in the packets sent to the single-event script.
_LIVE_SESSION = f"spool-live-session-{uuid.uuid4().hex}"


def _single_packets(item: Prepared, project_id: str, ctx) -> single.Packets:
    """Every packet a single track event can become (ingest/pipeline/single.py), each placed by `place`."""
    rules = _rules()

    def encoded(live_sessions: dict, plain: bool = False) -> bytes:
        [placement] = place([item], project_id, live_sessions, rules)
        event = {**item.event, **_identity(item, placement, project_id)}
        packet = messages.event_packet(ctx, [cast(QueuedEvent, event)])
        # The script writes the live session's id into the packet: that one is plain JSON, which
        # the buffer's reader takes whatever form the buffer writes (today the same bytes).
        return orjson.dumps(packet) if plain else buffers.EVENT_BUFFER.encode(packet)

    if item.server or item.client_session:
        # One packet: the server's events never join a live session, a client's session is its own.
        return single.Packets(encoded({}), b"", "")
    [bucket] = place([item], project_id, {}, rules)
    packets = single.Packets(encoded({}), b"", bucket.session_id)
    away = item.ms + 2 * rules.timeout_ms + 1  # a live session the event is outside of
    packets.bucket_taken = encoded({bucket.device_id: LiveSession(bucket.session_id, away, away)})
    current, previous = item.candidates
    joined = LiveSession(_LIVE_SESSION, item.ms, item.ms)
    packets.live_current = single.halves(encoded({current: joined}, plain=True), _LIVE_SESSION)
    if previous != current:
        packets.live_previous = single.halves(encoded({previous: joined}, plain=True), _LIVE_SESSION)
    return packets


def _pick(item: Prepared) -> int:
    """Which of the packets the script should have pushed, from the placement the API made."""
    if item.event.get("live"):
        return single.PUSHED_LIVE_CURRENT if item.device_id == item.candidates[0] else single.PUSHED_LIVE_PREVIOUS
    return single.PUSHED_BUCKET if "." not in item.session_id else single.PUSHED_BUCKET_TAKEN


def current_ids(project: ProjectContext, info: RequestInfo) -> tuple[str, str]:
    """The device id and session id an event sent now by this caller would get."""
    memo = RequestMemo(project, info)
    probe = Prepared(0, "probe", {}, memo.device_candidates(info.ip), info.received_ms, server=info.agent.is_server)
    try:
        with redis.client().pipeline(transaction=False) as pipe:
            read = _lookup(pipe, project, [probe])
            live_sessions, _ = read(pipe.execute())
    except RedisError as error:
        raise ServiceUnavailable(str(error)) from error
    [placement] = place([probe], project.id, live_sessions, _rules())
    return placement.device_id, placement.session_id
