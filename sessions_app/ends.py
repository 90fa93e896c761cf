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
from datetime import UTC, datetime

from django.conf import settings

from contract.rows import event_row
from contract.tables import EVENTS
from projects.models import MAX_BACKFILL_DAYS
from sessions_app import identity, live, rules
from sessions_app.end_facts import StoredFacts
from storage.clickhouse import client as clickhouse
from storage.clickhouse.queries import sessions as queries
from storage.redis import client as redis
from storage.redis import keys

logger = logging.getLogger(__name__)
END_OFFSET_MS = 1_000
ENDED_MARKER_SECONDS = 8 * 86_400
BATCH = 5_000  # live sessions per round: about 0.3 s on the 2-core reference machine (B6)
HISTORICAL_BATCH = 1_000  # historical sessions per round (one ClickHouse query per project)
SWEEP_BUDGET_SECONDS = 240  # the periodic job's timeout is 600 s


def _until_done(batch: Callable[[int], tuple[int, bool]], now_ms: int, go_on: Callable[[], bool] = lambda: True) -> int:
    """Run `batch(now_ms)` until it says nothing more is due, the sweep's budget is spent, or `go_on()`
    turns false (the worker stops; the next sweep goes on from there)."""
    done = 0
    budget = time.monotonic() + SWEEP_BUDGET_SECONDS
    while time.monotonic() < budget and go_on():
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


def close_live_sessions(now_ms: int, go_on: Callable[[], bool] = lambda: True) -> int:
    """Write session_end for every live session idle for the timeout; forget their state afterwards."""
    return _until_done(_close_live_batch, now_ms, go_on)


def _close_live_batch(now_ms: int) -> tuple[int, bool]:
    """One batch of due live sessions: (end rows written, whether more may be due)."""
    due = live.due_sessions(now_ms, BATCH)
    if not due:
        return 0, False
    timeout = rules.timeout_ms()
    closing, gone, extended = [], [], []
    for (project_id, session_id, deadline), state in zip(due, live.session_states([d[:2] for d in due])):
        if state is not None and max(state["last"] + timeout, state["due"]) > now_ms:
            extended.append((project_id, session_id, max(state["last"] + timeout, state["due"])))
        elif state is None:  # expired, or cannot be read: its stored events tell
            gone.append((project_id, session_id, deadline - timeout))
        else:
            closing.append((project_id, state))
    rows, closed = [], []
    facts = StoredFacts(closing, now_ms)
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
    # The rules of a state of the release before, which does not say its project's backfill window.
    fallback = live.Rules(rules.window_ms(), timeout, MAX_BACKFILL_DAYS)
    with redis.client().pipeline(transaction=False) as pipe:
        for project_id, state in closed:
            live.queue_forget(pipe, project_id, state, live.ended_marker(project_id, state, fallback))
        for project_id, session_id, _ in gone:
            live.queue_drop_deadline(pipe, project_id, session_id)
        for project_id, session_id, deadline in extended:
            live.queue_move_deadline(pipe, project_id, session_id, deadline)
        pipe.execute()
    return len(rows), len(due) == BATCH


def _live_row(project_id: str, state: dict, facts: StoredFacts, now_ms: int) -> dict | None:
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


def close_historical_sessions(now_ms: int, go_on: Callable[[], bool] = lambda: True) -> int:
    """Write (or rewrite) session_end for bucket sessions that received no event for the timeout."""
    return _until_done(_close_historical_batch, now_ms, go_on)


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
    ended_set = set(ended)
    with client.pipeline(transaction=False) as pipe:
        for member, score in due:
            # A score that moved means a new event arrived meanwhile: keep it for the next sweep.
            project_id, session_id, _ = member.decode().rsplit("|", 2)
            marker = ENDED_MARKER_SECONDS if (project_id, session_id) in ended_set else None
            live.queue_forget_historical(pipe, project_id, session_id, member, score, marker)
        pipe.execute()
    return len(rows), len(due) == HISTORICAL_BATCH

