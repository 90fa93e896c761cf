"""Session starts (contract §7 r2): which chunk writes a session's start row, so that it sits 100 ms
before the session's earliest event in whatever order chunks, batches and workers see its events,
and never moves later.

- Each chunk offers, per session, the start of the earliest event it holds of that session (a
  `Candidate`). A record per session holds the start written so far (a historical session's
  storage.redis.keys.session_start, a live session's own state); a candidate wins when it is earlier, or
  when its chunk wrote that start (a re-run job). A live session that ended keeps its start in its
  ended marker, against which a job run again after the end offers its start.
- A corrected start has the same row id (contract §6.3). Among rows with one sorting key the events
  table keeps the one inserted last, and two chunks may insert in the other order than they won in:
  so after its insert a chunk checks that its start still stands, and otherwise inserts the best
  row once more (a start that replaced one whose chunk was still being written is kept in Redis
  for ROW_MS for that, and every better start replaces that copy while it lasts).
- The sorting key holds the start's day: a start that moves to the day before leaves a row on the
  later day. Those rows are deleted by the periodic sweep, one ClickHouse mutation for all of them.
- A record outlives its session's last chunk by START_RECORD_MS (about 220 bytes each). A chunk of
  an older historical session that Redis no longer knows is compared with the start ClickHouse
  holds (one query per chunk); a younger one cannot have had a chunk before, so it is new. (After
  Redis lost its data, a session of the last day is taken for new: its start may move once.)
"""
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from contract.tables import EVENTS
from sessions_app import identity, live, rules
from storage.clickhouse import client as clickhouse
from storage.clickhouse.queries import sessions as queries
from storage.redis import client as redis
from storage.redis import keys

CLAIM_STARTS = redis.Script(__file__, "claim_starts", list)  # one flag per candidate: 1 when it won
CONFIRM_STARTS = redis.Script(__file__, "confirm_starts", list)  # per row: "" or the best row to insert again
START_RECORD_MS = 86_400_000
START_OFFSET_MS = 100  # a session_start row sits this long before the session's earliest event
ROW_MS = 600_000  # longer than a job may run between its claim and its confirm (JOB_TIMEOUT, 300 s)
CONFIRM_ROUNDS = 5
MOVED_PER_SWEEP = 1_000


def _day(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).date().isoformat()


@dataclass(slots=True)
class Candidate:
    """A start row a chunk offers for one session."""

    row: dict  # a row of the events table (contract/rows.py)
    live: bool
    stored: int | None = None  # ms of the start ClickHouse holds, when asked
    ended_key: str = ""  # a live session's ended marker (keys.ended_sessions)

    @property
    def project_id(self) -> str:
        return self.row["project_id"]

    @property
    def session_id(self) -> str:
        return self.row["session_id"]

    @property
    def ms(self) -> int:
        return self.row["created_at"] * 1000 + self.row["created_at_ms"]

    def keys(self) -> list[str]:
        """Its record and the key of the session's best start row."""
        project_id, session_id = self.project_id, self.session_id
        record = keys.live_session if self.live else keys.session_start
        return [record(project_id, session_id), keys.session_start_row(project_id, session_id)]

    def moved_prefix(self) -> str:
        return f"{self.project_id}|{self.row['id']}|"


def claim(candidates: list[Candidate], chunk_id: str) -> list[Candidate]:
    """The candidates whose start rows this chunk writes (one round trip)."""
    if not candidates:
        return []
    args: list = [START_RECORD_MS, ROW_MS, chunk_id, keys.chunk_sessions(""), live.CHUNK_MS]
    for found in candidates:
        stored = "" if found.stored is None else found.stored
        args += [*found.keys(), found.ended_key, found.session_id, found.ms, orjson.dumps(found.row),
                 "1" if found.live else "0", stored, found.moved_prefix()]  # fmt: skip
    flags = CLAIM_STARTS([keys.MOVED_STARTS, keys.chunk_sessions(chunk_id)], args)
    return [found for found, won in zip(candidates, flags) if won]


def confirm(written: list[Candidate]) -> int:
    """After the start rows of `written` were inserted: insert the best start of each session whose
    start was moved earlier meanwhile, until every session's last inserted start is its best."""
    again = 0
    for _ in range(CONFIRM_ROUNDS):
        if not written:
            break
        args: list = []
        for found in written:
            args += [*found.keys(), found.ms, found.moved_prefix()]
        replies = CONFIRM_STARTS([keys.MOVED_STARTS], args)
        written = [Candidate(orjson.loads(reply), found.live) for found, reply in zip(written, replies) if reply]
        clickhouse.insert(EVENTS, [found.row for found in written])
        again += len(written)
    return again


@dataclass(frozen=True, slots=True)
class StoredStart:
    """What a live session's stored start row tells: its device id, whole, and its context (where it
    came from, rules.context), as its earliest event had them."""

    device_id: str
    context: dict


def stored_of_live(sessions: list[tuple[str, dict]]) -> dict[tuple[str, str], StoredStart]:
    """{(project id, session id): what its stored start row tells} for live sessions ((project id,
    state) pairs, sessions_app.live), in one query. A session whose start row is not stored is left
    out; a state of the release before has its own context and its whole device id."""
    found = {(project_id, state["sid"]): StoredStart(state["device"], state["snapshot"])
             for project_id, state in sessions if state["snapshot"]}  # fmt: skip
    asked = {(project_id, state["sid"]): state["start"] or state["first"] - START_OFFSET_MS
             for project_id, state in sessions if (project_id, state["sid"]) not in found}  # fmt: skip
    if not asked:
        return found
    dates = {datetime.fromtimestamp(ms / 1000, tz=UTC).date() for ms in asked.values()}
    ids = [identity.session_row_id(project_id, session_id, "session_start") for project_id, session_id in asked]
    projects = {project_id for project_id, _ in asked}
    rows = queries.start_contexts(projects, dates, ids, ("device_id", *rules.CONTEXT_COLUMNS))
    found.update({key: StoredStart(columns["device_id"], rules.context(columns)) for key, columns in rows.items()})
    return found


def stored_starts(project_id: str, sessions: dict[str, int], window_ms: int) -> dict[str, int]:
    """{session id: ms} of the start rows ClickHouse holds for historical sessions ({id: bucket})."""
    dates = set()
    for bucket in sessions.values():
        for ms in (bucket * window_ms - 1_000, (bucket + 1) * window_ms + 5_000):
            dates.add(datetime.fromtimestamp(ms / 1000, tz=UTC).date())
    return queries.stored_starts(project_id, dates, list(sessions))


def delete_moved() -> int:
    """Delete the start rows left on a later day by starts that moved to the day before (the sweep)."""
    client = redis.client()
    members = client.srandmember(keys.MOVED_STARTS, MOVED_PER_SWEEP)
    if not members:
        return 0
    rows = []
    for member in members:
        project_id, row_id, epoch_day = member.decode().rsplit("|", 2)
        rows.append((project_id, row_id, _day(int(epoch_day) * 86_400)))
    queries.delete_starts(rows)
    client.srem(keys.MOVED_STARTS, *members)
    return len(rows)
