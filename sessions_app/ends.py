"""session_end rows (contract §7).

Live sessions end from their Redis state once no event came for the timeout. Historical
sessions (one bucket of one device) end from their stored events once no event for them was
*received* for the timeout; a late event has the end recomputed, and the corrected row replaces
the first (same id, same sort key).

A sweep has no fixed capacity (contract §7 r2): it ends due sessions a batch at a time until none
is left, within a time budget after which the next sweep goes on. A live session whose Redis state
expired before a sweep reached it ends from its stored events.
"""
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from django.conf import settings

from projects.models import MAX_BACKFILL_DAYS
from sessions_app import bounds, identity, live, rules, starts
from sessions_app.settle import START_OFFSET_MS
from storage import clickhouse, keys, queries, redis
from storage.rows import event_row
from storage.schema.tables import EVENTS

logger = logging.getLogger(__name__)
END_OFFSET_MS = 1_000
ENDED_MARKER_SECONDS = 8 * 86_400
BATCH = 5_000  # live sessions per round: about 0.3 s on the 2-core reference machine (B6)
HISTORICAL_BATCH = 1_000  # historical sessions per round (one ClickHouse query per project)
SWEEP_BUDGET_SECONDS = 240  # the periodic job's timeout is 600 s


def _until_done(batch: Callable[[int], tuple[int, bool]], now_ms: int) -> int:
    """Run `batch(now_ms)` until it says nothing more is due, or the sweep's budget is spent."""
    done = 0
    budget = time.monotonic() + SWEEP_BUDGET_SECONDS
    while time.monotonic() < budget:
        count, more = batch(now_ms)
        done += count
        if not more:
            break
    return done


def _end_row(project_id: str, session_id: str, *, device_id: str, profile_id: str, first_ms: int, last_ms: int,
             end_ms: int, exit_path: str, screen_views: int, snapshot: dict, now_ms: int) -> dict:
    ctx = {
        "project_id": project_id,
        "received_ms": now_ms,
        "geo": snapshot["geo"],
        "agent": snapshot["agent"],
        "sdk_name": snapshot.get("sdk_name", ""),
        "sdk_version": snapshot.get("sdk_version", ""),
    }
    event = {
        "id": identity.session_row_id(project_id, session_id, "session_end"),
        "name": "session_end",
        "ts": end_ms,
        "device_id": device_id,
        "profile_id": profile_id,
        "session_id": session_id,
        "duration": max(0, last_ms - first_ms),
        "properties": {"__bounce": "1" if screen_views <= 1 else "0", "__screen_views": str(screen_views)},
        **{column: snapshot.get(column, "") for column in rules.REFERRAL},
        "path": exit_path,
    }
    return event_row(ctx, event)  # type: ignore[arg-type]


def close_live_sessions(now_ms: int) -> int:
    """Write session_end for every live session idle for the timeout; forget their state afterwards."""
    return _until_done(_close_live_batch, now_ms)


def _close_live_batch(now_ms: int) -> tuple[int, bool]:
    """One batch of due live sessions: (end rows written, whether more may be due)."""
    due = live.due_sessions(now_ms, BATCH)
    if not due:
        return 0, False
    timeout = rules.timeout_ms()
    closing, gone, extended = [], [], []
    for (project_id, session_id, deadline), state in zip(due, live.session_states([d[:2] for d in due])):
        if state is not None and state["last"] + timeout > now_ms:
            extended.append((project_id, session_id, state["last"] + timeout))
        elif state is None:  # expired, or cannot be read: its stored events tell
            gone.append((project_id, session_id, deadline - timeout))
        else:
            closing.append((project_id, state))
    rows, closed = [], []
    facts = _StoredFacts(closing, now_ms)
    for project_id, state in closing:
        if facts.waits(project_id, state):
            extended.append((project_id, state["sid"], now_ms + settings.SESSION_SWEEP_SECONDS * 1000))
            continue
        row = _live_row(project_id, state, facts, now_ms)
        if row is None:
            gone.append((project_id, state["sid"], state["last"]))
        else:
            rows.append(row)
            closed.append((project_id, state))
    rows += _rows_from_stored_events(gone, now_ms)
    clickhouse.insert(EVENTS, rows)
    with redis.client().pipeline(transaction=False) as pipe:
        for project_id, state in closed:
            ended = live.ended_marker(project_id, state, live.Rules(rules.window_ms(), timeout, MAX_BACKFILL_DAYS))
            live.queue_forget(pipe, project_id, state, ended)
        for project_id, session_id, _ in gone:
            live.queue_drop_deadline(pipe, project_id, session_id)
        for project_id, session_id, deadline in extended:
            live.queue_move_deadline(pipe, project_id, session_id, deadline)
        pipe.execute()
    return len(rows), len(due) == BATCH


def _days(first_ms: int, last_ms: int) -> set[date]:
    """The UTC days from the one of `first_ms` to the one of `last_ms`."""
    first, last = (datetime.fromtimestamp(ms / 1000, tz=UTC).date() for ms in (first_ms, last_ms))
    return {first + timedelta(days=n) for n in range((last - first).days + 1)}


_NO_CONTEXT = rules.context({column: "" for column in rules.CONTEXT_COLUMNS} | {"latitude": None, "longitude": None})


def _start_wait_ms() -> int:
    """How long a session's end waits for its start row: as long as its chunk's job may be retried
    (a ClickHouse outage ends; the sweep may run before the retries) and ten minutes more."""
    return (sum(settings.JOB_RETRY_INTERVALS) + 600) * 1000


class _StoredFacts:
    """What the end rows of a batch of live sessions take from ClickHouse, one query of each kind per
    project: the context of each session from its start row (Redis does not keep it); the screen
    views of sessions with more than bounds.SEEN of them (Redis remembers the ids of the latest
    only, so a view sent again may have been counted twice); and, for a session whose profile id was
    too long to keep, or whose start row is not stored after _start_wait_ms(), the aggregates of its
    stored events. A session whose start row is not stored yet waits (its chunk's job is being
    retried): its end would have no context."""

    def __init__(self, closing: list[tuple[str, dict]], now_ms: int):
        self.now_ms, self.timeout = now_ms, rules.timeout_ms()
        self.contexts: dict[tuple[str, str], starts.StoredStart] = {}
        self.views: dict[tuple[str, str], int] = {}
        self.stats: dict[tuple[str, str], dict] = {}
        self.waiting: set[tuple[str, str]] = set()
        by_project: dict[str, list[dict]] = defaultdict(list)
        for project_id, state in closing:
            by_project[project_id].append(state)
        for project_id, states in by_project.items():
            self._read(project_id, states)

    def _read(self, project_id: str, states: list[dict]) -> None:
        asked = {state["sid"]: state["start"] or state["first"] - START_OFFSET_MS
                 for state in states if state["snapshot"] is None}  # fmt: skip
        contexts = starts.stored_contexts(project_id, asked)
        self.contexts.update({(project_id, sid): start for sid, start in contexts.items()})
        patience = self.now_ms - self.timeout - _start_wait_ms()
        for state in states:
            if state["sid"] in asked and state["sid"] not in contexts and state["last"] > patience:
                self.waiting.add((project_id, state["sid"]))
        states = [state for state in states if (project_id, state["sid"]) not in self.waiting]
        many = [state for state in states if state["views"] > bounds.SEEN]
        if many:
            dates = set().union(*(_days(state["first"], state["last"]) for state in many))
            counted = queries.screen_views(project_id, dates, [state["sid"] for state in many])
            self.views.update({(project_id, sid): views for sid, views in counted.items()})
        unsure = [state for state in states if (state["sid"] in asked and state["sid"] not in contexts)
                  or keys.is_profile_digest(state.get("profile", ""))]  # fmt: skip
        if unsure:
            dates = set().union(*(_days(state["first"], state["last"]) for state in unsure))
            found = queries.session_stats(project_id, dates, [state["sid"] for state in unsure])
            self.stats.update({(project_id, sid): stats for sid, stats in found.items()})

    def waits(self, project_id: str, state: dict) -> bool:
        return (project_id, state["sid"]) in self.waiting

    def context(self, project_id: str, state: dict) -> dict:
        if state["snapshot"] is not None:  # a state of the release before
            return state["snapshot"]
        key = (project_id, state["sid"])
        if key in self.contexts:
            return self.contexts[key].context
        return rules.context(self.stats[key]) if key in self.stats else _NO_CONTEXT

    def device(self, project_id: str, state: dict) -> str:
        """The session's device id, whole (Redis keeps it as its key ref: keys.key_ref)."""
        key = (project_id, state["sid"])
        if key in self.contexts:
            return self.contexts[key].device_id
        return self.stats.get(key, {}).get("device_id") or state["device"]

    def screen_views(self, project_id: str, state: dict) -> int:
        if state["views"] <= bounds.SEEN:
            return state["views"]
        # More than SEEN distinct fingerprints were counted: at least SEEN + 1 distinct screen views.
        return max(self.views.get((project_id, state["sid"]), 0), bounds.SEEN + 1)

    def profile(self, project_id: str, state: dict) -> str:
        ref = state.get("profile") or ""
        if keys.is_profile_digest(ref):
            ref = self.stats.get((project_id, state["sid"]), {}).get("profile_id", "")
        return ref or self.device(project_id, state)


def _live_row(project_id: str, state: dict, facts: _StoredFacts, now_ms: int) -> dict | None:
    try:
        return _end_row(
            project_id,
            state["sid"],
            device_id=facts.device(project_id, state),
            profile_id=facts.profile(project_id, state),
            first_ms=state["first"],
            last_ms=state["last"],
            end_ms=state["last"] + END_OFFSET_MS,
            exit_path=state.get("exit", ""),
            screen_views=facts.screen_views(project_id, state),
            snapshot=facts.context(project_id, state),
            now_ms=now_ms,
        )
    except (KeyError, TypeError, ValueError):
        logger.warning("live session %s/%s: state cannot be read; ending it from its stored events",
                       project_id, state.get("sid"))  # fmt: skip
        return None


def _rows_from_stored_events(gone: list[tuple[str, str, int]], now_ms: int) -> list[dict]:
    """End rows of live sessions whose Redis state expired before a sweep reached them (the sweep was
    stopped for days): computed from their stored events, like a historical session's."""
    by_project: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for project_id, session_id, last_ms in gone:
        by_project[project_id].append((session_id, last_ms))
    rows = []
    for project_id, sessions in by_project.items():
        dates = {
            datetime.fromtimestamp((last_ms - back * 86_400_000) / 1000, tz=UTC).date()
            for _, last_ms in sessions
            for back in (0, 1)
        }
        stats = queries.session_stats(project_id, dates, [session_id for session_id, _ in sessions])
        for session_id, found in stats.items():
            rows.append(_row_from_stats(project_id, session_id, found, found["last_ms"] + END_OFFSET_MS, now_ms))
    return rows


def _session_stats(project_id: str, sessions: dict[str, int]) -> dict[str, dict]:
    """Aggregates of the stored events of historical sessions ({session id: bucket})."""
    window = rules.window_ms()
    dates = set()
    for bucket in sessions.values():
        for ms in (bucket * window, identity.bucket_end_ms(bucket, window)):
            dates.add(datetime.fromtimestamp(ms / 1000, tz=UTC).date())
    return queries.session_stats(project_id, dates, list(sessions))


def _historical_row(project_id: str, session_id: str, bucket: int, stats: dict, now_ms: int) -> dict:
    return _row_from_stats(project_id, session_id, stats, identity.bucket_end_ms(bucket, rules.window_ms()), now_ms)


def _row_from_stats(project_id: str, session_id: str, stats: dict, end_ms: int, now_ms: int) -> dict:
    """A session_end row from the aggregates of the session's stored events (queries.session_stats)."""
    snapshot = rules.context(stats)
    return _end_row(
        project_id,
        session_id,
        device_id=stats["device_id"],
        profile_id=stats["profile_id"] or stats["device_id"],
        first_ms=stats["first_ms"],
        last_ms=stats["last_ms"],
        end_ms=end_ms,
        exit_path=stats["exit_path"],
        screen_views=stats["screen_views"],
        snapshot=snapshot,
        now_ms=now_ms,
    )


def close_historical_sessions(now_ms: int) -> int:
    """Write (or rewrite) session_end for bucket sessions that received no event for the timeout."""
    return _until_done(_close_historical_batch, now_ms)


def _close_historical_batch(now_ms: int) -> tuple[int, bool]:
    client = redis.client()
    due = client.zrangebyscore(keys.HISTORICAL_ENDS, "-inf", now_ms, start=0, num=HISTORICAL_BATCH, withscores=True)
    if not due:
        return 0, False
    by_project: dict[str, dict[str, int]] = defaultdict(dict)
    for member, _ in due:
        project_id, session_id, bucket = member.decode().rsplit("|", 2)
        by_project[project_id][session_id] = int(bucket)
    rows, ended = [], []
    for project_id, sessions in by_project.items():
        stats = _session_stats(project_id, sessions)
        for session_id, bucket in sessions.items():
            if session_id in stats:
                rows.append(_historical_row(project_id, session_id, bucket, stats[session_id], now_ms))
                ended.append((project_id, session_id))
    clickhouse.insert(EVENTS, rows)
    with client.pipeline(transaction=False) as pipe:
        for member, score in due:
            # A score that moved means a new event arrived meanwhile: keep it for the next sweep.
            live.queue_forget_historical(pipe, member, score)
        for project_id, session_id in ended:
            pipe.set(keys.historical_ended(project_id, session_id), 1, ex=ENDED_MARKER_SECONDS)
        pipe.execute()
    return len(rows), len(due) == HISTORICAL_BATCH

