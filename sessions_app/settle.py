"""The worker's side of sessions (contract §7): the server, historical and live branches, the
client's own sessions (sessions_app/client.py), and session starts (sessions_app/starts.py).

`settle_sessions` runs before a chunk's rows are written. Everything it changes in Redis is
idempotent per chunk id, so a job that dies after this step and runs again decides the same. It
changes no event: it returns what it decided (new field values per event, and the session_start
rows), and the caller merges that once (ingest/worker/write.py), then calls `confirm_starts`.
"""
from collections import defaultdict
from dataclasses import dataclass, field

from contract.messages import SERVER_DEVICE, JobContext, QueuedEvent
from contract.rows import event_row
from sessions_app import client, identity, live, rules, starts
from storage.redis import client as redis
from storage.redis import keys

SERVER, HISTORICAL, LIVE = "server", "historical", "live"

Pair = tuple[JobContext, QueuedEvent]
# A start a chunk offers: the index of its event, the live session's ended marker ("" for a
# historical session), the start ClickHouse holds (historical sessions that Redis forgot).
Offer = tuple[int, str, int | None]


def branch(device: str, event_ms: int, received_ms: int, timeout_ms: int) -> str:
    """Which branch of contract §7 an event takes: SERVER (a server sender), HISTORICAL (older than
    the timeout when it was received), or LIVE."""
    if device == SERVER_DEVICE:
        return SERVER
    if event_ms < received_ms - timeout_ms:
        return HISTORICAL
    return LIVE


@dataclass
class Settled:
    chunk_id: str = ""
    updates: dict[int, dict] = field(default_factory=dict)  # index in the chunk → fields that change
    claimed: list[starts.Candidate] = field(default_factory=list)  # session starts this chunk writes

    @property
    def starts(self) -> list[dict]:
        """The session_start rows to write."""
        return [found.row for found in self.claimed]


def settle_sessions(pairs: list[Pair], chunk_id: str, now_ms: int) -> Settled:
    """Settle the session of each (ctx, track event) of a chunk."""
    timeout = rules.timeout_ms()
    server, historical, live_by_device, by_client = [], [], defaultdict(list), defaultdict(list)
    for index, (ctx, event) in enumerate(pairs):
        # An event's own agent (an exported row replayed: contract §9 r3) decides, else its request's.
        kind = branch((event.get("agent") or ctx["agent"])["device"], event["ts"], ctx["received_ms"], timeout)
        if event.get("client"):  # the client decided its session, whatever its sender and age (rule 0)
            by_client[(ctx["project_id"], event["device_id"])].append(index)
        elif kind == SERVER:
            server.append(index)
        elif kind == HISTORICAL:
            historical.append(index)
        else:
            live_by_device[(ctx["project_id"], event["device_id"])].append(index)
    settled = Settled(chunk_id, updates=_inherit_live_sessions(pairs, server))
    live_updates, live_firsts = _merge_live(pairs, live_by_device, by_client, chunk_id, now_ms)
    settled.updates.update(live_updates)
    historical_updates, historical_firsts = _settle_historical(pairs, historical, now_ms)
    settled.updates.update(historical_updates)
    candidates = []
    for index, ended_key, stored in live_firsts + historical_firsts:
        ctx, event = pairs[index]
        row = _start_row(ctx, {**event, **settled.updates.get(index, {})})
        candidates.append(starts.Candidate(row, live=bool(ended_key), stored=stored, ended_key=ended_key))
    settled.claimed = starts.claim(candidates, chunk_id)
    return settled


def confirm_starts(settled: Settled) -> int:
    """Called once the chunk's rows are stored (sessions_app/starts.py); the chunk's decisions are
    then forgotten."""
    again = starts.confirm(settled.claimed)
    live.forget_chunk(settled.chunk_id)
    return again


def _rules(ctx: JobContext) -> live.Rules:
    return live.Rules(rules.window_ms(), rules.timeout_ms(), ctx["backfill_days"])


# --- server branch ------------------------------------------------------------------------------
def _inside(state: dict, ms: int, timeout_ms: int) -> bool:
    """Contract §6.2 rule 1: not before the session's first event minus the timeout, not after its
    last plus the timeout."""
    return state["first"] - timeout_ms <= ms <= state["last"] + timeout_ms


def _inherit_live_sessions(pairs: list[Pair], indexes: list[int]) -> dict[int, dict]:
    """A server event whose profile has a live session takes that session's identity and context,
    when its time falls inside it (as any event joins a live session)."""
    wanted = list({(pairs[i][0]["project_id"], pairs[i][1].get("profile_id", "")) for i in indexes})
    wanted = [pair for pair in wanted if pair[1]]
    if not wanted:
        return {}
    found = live.sessions_of_profiles(wanted)
    timeout = rules.timeout_ms()
    joining = {}
    for index in indexes:
        ctx, event = pairs[index]
        state = found.get((ctx["project_id"], event.get("profile_id", "")))
        if state is not None and _inside(state, event["ts"], timeout):
            joining[index] = state
    stored = starts.stored_of_live([(pairs[index][0]["project_id"], state) for index, state in joining.items()])
    updates = {}
    for index, state in joining.items():
        ctx, event = pairs[index]
        start = stored.get((ctx["project_id"], state["sid"]))
        # Until its start row is stored (a second or so), a session whose device id is too long to be
        # kept whole (keys.key_ref) cannot be joined, and its context is not known.
        if start is None and keys.is_key_digest(state["device"]):
            continue
        update = {"device_id": start.device_id if start else state["device"], "session_id": state["sid"]}
        if start is not None:
            update["geo"], update["agent"] = start.context["geo"], start.context["agent"]
            update.update({column: start.context[column] for column in rules.REFERRAL if start.context.get(column)})
        # The page the visitor is on now: the session's latest path (cut: sessions_app/bounds.py).
        update["path"] = state.get("exit") or event.get("path", "")
        updates[index] = update
    return updates


# --- live branch --------------------------------------------------------------------------------
def build_runs(
    project_id: str, device_id: str, items: list[tuple[int, JobContext, QueuedEvent]], timeout_ms: int, window_ms: int
) -> list[tuple[live.Run, list[int]]]:
    """Split one device's live events, in time order, where the gap exceeds the timeout: each run
    with the indexes of its events. Pure."""
    items = sorted(items, key=lambda item: item[2]["ts"])
    groups: list[list] = []
    current: list = []
    for item in items:
        if current and item[2]["ts"] - current[-1][2]["ts"] > timeout_ms:
            groups.append(current)
            current = []
        current.append(item)
    if current:
        groups.append(current)
    runs = []
    for group in groups:
        events = [event for _, _, event in group]
        bucket = identity.bucket_of(events[0]["ts"], window_ms)
        bucket_session = identity.session_id_for(project_id, device_id, bucket)
        run = live.Run.of(events, events[0]["session_id"], bucket, bucket_session)
        runs.append((run, [index for index, _, _ in group]))
    return runs


def _merge_live(
    pairs: list[Pair], by_device: dict, by_client: dict, chunk_id: str, now_ms: int
) -> tuple[dict[int, dict], list[Offer]]:
    """Merge each device's runs, live events and client sessions, into its live sessions (one
    pipelined round trip, one script call per device). Returns the session ids that differ from the
    API's, and the first event of every run that holds its session's earliest event (it offers the
    session's start), with the session's ended marker."""
    if not by_device and not by_client:
        return {}, []
    timeout, window = rules.timeout_ms(), rules.window_ms()
    plans = []
    with redis.client().pipeline(transaction=False) as pipe:
        for project_id, device_id in {**dict.fromkeys(by_device), **dict.fromkeys(by_client)}:
            indexes = by_device.get((project_id, device_id), [])
            runs = build_runs(project_id, device_id, [(i, *pairs[i]) for i in indexes], timeout, window)
            theirs = by_client.get((project_id, device_id), [])
            session_rules = _rules(pairs[(indexes or theirs)[0]][0])
            runs += client.build_runs(project_id, [(i, *pairs[i]) for i in theirs], now_ms, session_rules)
            live.queue_merge(pipe, project_id, device_id, [run for run, _ in runs], chunk_id, session_rules)
            plans.append((project_id, runs))
        replies = pipe.execute()
    updates: dict[int, dict] = {}
    firsts: list[Offer] = []
    for (project_id, runs), reply in zip(plans, replies):
        for (_, indexes), merged in zip(runs, live.read_merge(project_id, reply)):
            for index in indexes:
                if pairs[index][1]["session_id"] != merged.session_id:
                    updates[index] = {"session_id": merged.session_id}
            if merged.holds_first:
                firsts.append((indexes[0], merged.ended_key, None))
    return updates, firsts


# --- historical branch --------------------------------------------------------------------------
def _settle_historical(pairs: list[Pair], indexes: list[int], now_ms: int) -> tuple[dict[int, dict], list[Offer]]:
    """Each bucket session in the chunk gets its final id (never a live session's, live or ended)
    and is due to end later. Returns the ids that change, and per session its earliest event in this
    chunk, with the start ClickHouse holds when Redis does not know it: (index, "", stored start)."""
    members: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index in indexes:
        ctx, event = pairs[index]
        if not event.get("live"):  # else it joined a live session, which has its own start and end
            members[(ctx["project_id"], event["session_id"])].append(index)
    if not members:
        return {}, []
    window = rules.window_ms()
    first_of = {key: min(found, key=lambda i: pairs[i][1]["ts"]) for key, found in members.items()}
    buckets = {key: identity.bucket_of(pairs[index][1]["ts"], window) for key, index in first_of.items()}
    session_rules = live.Rules(window, rules.timeout_ms(), 0)
    settled = live.settle_historical([(*key, bucket) for key, bucket in buckets.items()], now_ms, session_rules)
    updates: dict[int, dict] = {}
    unknown: dict[str, dict[str, int]] = defaultdict(dict)
    final = {}
    for key, decided in zip(members, settled):
        session_id, known = decided.session_id, decided.known
        final[key] = session_id
        if session_id != key[1]:
            updates.update({index: {"session_id": session_id} for index in members[key]})
        # Redis forgets a start a day after the session's last chunk; a session younger than that that
        # Redis does not know is new (no chunk could bring its events before they happened).
        if not known and buckets[key] * window < now_ms - starts.START_RECORD_MS:
            unknown[key[0]][session_id] = buckets[key]
    stored = {(project, sid): start for project, sessions in unknown.items()
              for sid, start in starts.stored_starts(project, sessions, window).items()}  # fmt: skip
    firsts: list[Offer] = [(first_of[key], "", stored.get((key[0], final[key]))) for key in members]
    return updates, firsts


def _start_row(ctx: JobContext, event: dict) -> dict:
    start = dict(event, name="session_start", ts=event["ts"] - starts.START_OFFSET_MS, revenue=0)
    start["id"] = identity.session_row_id(ctx["project_id"], event["session_id"], "session_start")
    return event_row(ctx, start)  # type: ignore[arg-type]
