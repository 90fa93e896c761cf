"""One row per event, whatever day each of its copies arrives (contract §6.3; issue 17, finding 4).

A retry reproduces its row's id, but the events table collapses rows with one id only within one
day of its sorting key (`toDate(created_at)`). Most copies of an event are stored on the day of
its `__timestamp` as sent (its *natural* day) and meet there. Two kinds may not: an event more
than 60 s ahead is stored at each copy's arrival, and a skew-corrected one at each copy's
correction (contract §5). The API marks those (`sent` in the queued event, its time as sent:
ingest/enrich/time.py `may_land_elsewhere`). Before a chunk's sessions are settled, its copies are
sorted out here:

- a kept marked copy is recorded in ClickHouse (`event_days`: its id, natural and stored day;
  written just before the block's insert), and its natural day in Redis (`keys.copy_days`), so that
  the later copies of that day look up their ids (one query per chunk, only for projects and days
  that have such records);
- a copy whose id is stored on another day than its own (recorded, or, for a marked copy moved
  off its natural day, an unmarked copy stored on that day) is dropped before it touches a
  session: the first copy stays as it was;
- two copies in one block meet in the block's own memory.

ClickHouse is the record because it holds for a retry days later (the record lives as long as
the row), from any web process, and after Redis lost its data (the day marks are read again from
`event_days` whenever `keys.COPY_DAYS_LOADED` is missing, and every hour). docs/ingestion.md,
"Copies on two days", says what this does not cover.
"""
import logging
from dataclasses import dataclass
from typing import Any

from contract.messages import JobContext, QueuedEvent
from contract.rows import is_uuid, problem
from contract.tables import EVENT_DAYS
from ingest.enrich.time import DAY_MS
from storage.clickhouse import client as clickhouse
from storage.clickhouse.queries import copies as queries
from storage.queue import poison
from storage.redis import client as redis
from storage.redis import keys

logger = logging.getLogger(__name__)

# Copies of a natural day this old are older than the longest backfill window (90 days): refused.
HORIZON_DAYS = 92
FUTURE_DAYS = 400  # natural days further ahead than this share one mark ("future")
LOADED_SECONDS = 3_600  # how often the marks are read again from ClickHouse (a mark lost with Redis)

Pair = tuple[JobContext, QueuedEvent]


@dataclass(slots=True)
class Copy:
    """What decides a queued event's fate here."""

    project_id: str
    id: str
    name: str
    natural: int  # UTC day number of its time as sent
    stored: int  # UTC day number of its stored time
    marked: bool  # its other copies may be stored on other days (`sent`)

    @classmethod
    def of(cls, ctx: JobContext, event: QueuedEvent) -> "Copy":
        ts, sent = event["ts"], event.get("sent")
        marked = type(sent) is int
        natural = (sent if marked else ts) // DAY_MS  # type: ignore[operator]
        return cls(ctx["project_id"], event["id"], event["name"], natural, ts // DAY_MS, marked)

    @property
    def key(self) -> tuple[str, str]:
        return self.project_id, self.id

    def record(self) -> dict:
        """Its row of `event_days`."""
        return {"project_id": self.project_id, "id": self.id, "natural_day": queries.day_date(self.natural),
                "stored_day": queries.day_date(self.stored)}  # fmt: skip


def mark(day: int, today: int) -> str:
    """The Redis member that stands for a natural day."""
    return str(day) if day <= today + FUTURE_DAYS else "future"


def decide(copies: list[Copy], stored: dict[tuple[str, str], int], kept: dict[tuple[str, str], int]) -> list[bool]:
    """Which copies to write: those whose id is stored on no other day. `stored`: where each id
    is stored already (ClickHouse); `kept`: what this block writes, updated here."""
    keep = []
    for copy in copies:
        day = kept.get(copy.key, stored.get(copy.key))
        keep.append(day is None or day == copy.stored)
        if keep[-1]:
            kept[copy.key] = copy.stored
    return keep


class BlockCopies:
    """The copies of one block of chunks (ingest/worker/write.py): `keep` before each chunk's sessions
    are settled; the rows it returns are written by `record`, just before the block's insert."""

    def __init__(self, now_ms: int):
        self.today = now_ms // DAY_MS
        self.kept: dict[tuple[str, str], int] = {}  # what the block writes: (project, id) → day
        self.recorded: set[tuple[str, str]] = set()
        self.dropped = 0

    def keep(self, pairs: list[Pair]) -> tuple[list[Pair], list[dict]]:
        """The pairs to write, and the `event_days` rows to record with them."""
        copies = [Copy.of(ctx, event) for ctx, event in pairs]
        fresh = [copy for copy in copies if copy.key not in self.kept]  # the block decided the others
        stored = _stored_days(fresh, self.today) if fresh else {}
        flags = decide(copies, stored, self.kept)
        self.dropped += flags.count(False)
        records = []
        for copy, kept in zip(copies, flags):
            if kept and copy.marked and copy.key not in stored and copy.key not in self.recorded:
                self.recorded.add(copy.key)
                records.append(copy)
        if records:  # before the insert: a copy of that day that comes meanwhile looks it up
            _mark_days({(copy.project_id, mark(copy.natural, self.today)) for copy in records})
        return [pair for pair, kept in zip(pairs, flags) if kept], [copy.record() for copy in records]


def record(rows: list[dict]) -> None:
    """Write the `event_days` rows of the copies a block is about to store. Before their events, so
    that a copy another worker takes meanwhile finds them; a record whose events then fail is
    rewritten with them by the job's retry (its own record matches it), and one whose events are
    set aside names the row that taking them back writes."""
    fit = [row for row in rows if not problem(EVENT_DAYS, row)]  # an id that is no UUID: no record
    try:
        clickhouse.insert(EVENT_DAYS, fit)
    except Exception as error:
        if poison.retriable(error):
            raise
        # Refused for what the rows hold (checked above, so not expected): the events are stored
        # all the same, and only their retries on other days go unrecognised.
        logger.exception("copies: ClickHouse refused %d rows of event_days", len(fit))


def _stored_days(copies: list[Copy], today: int) -> dict[tuple[str, str], int]:
    """{(project, id): the day it is stored on} for the copies that may be stored elsewhere."""
    marks = _marked(copies, today)
    by_project: dict[str, list[Copy]] = {}
    for copy in copies:
        if not is_uuid(copy.id):
            continue  # a message no API wrote: its row is set aside by the insert (write.py), not here
        if copy.marked or (copy.project_id, mark(copy.natural, today)) in marks:
            by_project.setdefault(copy.project_id, []).append(copy)
    found: dict[tuple[str, str], int] = {}
    for project_id, wanted in by_project.items():
        days, ids = {copy.natural for copy in wanted}, sorted({copy.id for copy in wanted})
        for row_id, day in queries.event_days(project_id, days, ids).items():
            found[(project_id, row_id)] = day
        moved = [copy for copy in wanted if copy.marked and copy.stored != copy.natural]
        if moved:  # its first copy may be an unmarked one, on the natural day (another web clock)
            hits = queries.stored_on(project_id, {copy.natural for copy in moved}, {copy.name for copy in moved},
                                     sorted({copy.id for copy in moved}))  # fmt: skip
            for copy in moved:
                if (copy.id, copy.natural) in hits:
                    found.setdefault(copy.key, copy.natural)
    return found


def _marked(copies: list[Copy], today: int) -> set[tuple[str, str]]:
    """The (project, mark) pairs of these copies that Redis holds, read again from ClickHouse first
    when Redis does not know that it holds all of them."""
    wanted: dict[str, list[str]] = {}
    for copy in copies:
        if not copy.marked and copy.natural >= today - HORIZON_DAYS:
            members = wanted.setdefault(copy.project_id, [])
            if (member := mark(copy.natural, today)) not in members:
                members.append(member)
    if not wanted:
        return set()
    client = redis.client()
    loaded, *replies = _read_marks(client, wanted)  # one round trip
    if not loaded:
        _load_marks(client, today)
        _, *replies = _read_marks(client, wanted)
    return {(project_id, member) for (project_id, members), flags in zip(wanted.items(), replies)
            for member, flag in zip(members, flags) if flag}  # fmt: skip


def _read_marks(client: Any, wanted: dict[str, list[str]]) -> list:
    with client.pipeline(transaction=False) as pipe:
        pipe.exists(keys.COPY_DAYS_LOADED)
        for project_id, members in wanted.items():
            pipe.smismember(keys.copy_days(project_id), members)
        return pipe.execute()


def _mark_days(marks: set[tuple[str, str]]) -> None:
    with redis.client().pipeline(transaction=False) as pipe:
        for project_id, member in marks:
            pipe.sadd(keys.copy_days(project_id), member)
            pipe.expire(keys.copy_days(project_id), HORIZON_DAYS * 86_400)
        pipe.execute()


def _load_marks(client: Any, today: int) -> None:
    """Add every natural day `event_days` holds to Redis's marks (only adds: a mark written meanwhile
    by another worker stays), then say they are complete for an hour."""
    rows = queries.event_days_since(today - HORIZON_DAYS)
    with client.pipeline(transaction=False) as pipe:
        for project_id, natural in rows:
            pipe.sadd(keys.copy_days(project_id), mark(natural, today))
            pipe.expire(keys.copy_days(project_id), HORIZON_DAYS * 86_400)
        pipe.set(keys.COPY_DAYS_LOADED, len(rows), ex=LOADED_SECONDS)
        pipe.execute()
    logger.info("copies: %d natural days of event_days marked in Redis", len(rows))
