"""Sessions the client decided (`__sessionId`, contract §6.2 rule 0), on the worker's side.

The API gave each such event its session id (sessions_app.identity.client_session_id_for). Here a
chunk's events of one client session become one run, whatever the gaps between them and however old
they are (the client saw them in order), merged into the session's state like live events
(sessions_app/lua/merge_live.lua): its start moves to its earliest event in any arrival order, and it
ends once it received nothing for the timeout and its last event is older than the timeout. An ended
client session is never reopened: what comes after its end goes on as `<id>.1` (docs/sessions.md).
"""
from collections import defaultdict

from sessions_app import bounds, identity, live
from storage.redis import keys


def ended_hashes(project_id: str, now_ms: int, rules: live.Rules) -> str:
    """The ended-sessions hashes an ended client session may be marked in, space-separated: those of
    the days an event accepted now could fall on (its time is within the backfill window), and the
    day on either side. A client session is marked on the day of its first run's latest event."""
    first = (now_ms - rules.backfill_days * bounds.DAY_MS) // bounds.DAY_MS - 1
    last = now_ms // bounds.DAY_MS + 1
    return " ".join(keys.ended_sessions(project_id, day) for day in range(first, last + 1))


def build_runs(project_id: str, items: list, now_ms: int, rules: live.Rules) -> list[tuple[live.Run, list[int]]]:
    """One run per client session among `items` ((index, ctx, event) of one device): (run, indexes)."""
    by_session: dict[str, list] = defaultdict(list)
    for item in items:
        by_session[item[2]["session_id"]].append(item)
    if not by_session:
        return []
    hashes = ended_hashes(project_id, now_ms, rules)
    runs = []
    for session_id, group in by_session.items():
        group.sort(key=lambda item: item[2]["ts"])
        events = [event for _, _, event in group]
        # Its mark (how long its ended marker lasts) counts from its latest event: a client session
        # may last longer than a bucket, and each of its events may arrive a backfill window late.
        bucket = identity.bucket_of(events[-1]["ts"], rules.window_ms)
        run = live.Run.of(events, session_id, bucket, "", client_hashes=hashes, due_ms=now_ms + rules.timeout_ms)
        runs.append((run, [index for index, _, _ in group]))
    return runs
