"""The durable buffer: one SQLite file (WAL, synchronous=FULL) with the rows waiting to be sent in
the order they were made, the dead letters, and the client's state.

Every change is one transaction (BEGIN IMMEDIATE ... COMMIT): a crash at any point leaves the file
as it was before the change or as it is after it, never in between. A call returns after its
commit, which synchronous=FULL makes durable (the WAL is synced to disk at each commit).

The file holds every event and profile change the app recorded, so it and its companions are its
user's alone (0600), whatever the umask: it is created so before SQLite opens it, and SQLite gives
its `-wal` and `-shm` files the mode of the database file."""
from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from spool_client.sessions import Session, SessionRule

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS buffer (
    -- The order of the calls. AUTOINCREMENT never reuses a number, so the rows an answer speaks
    -- of can never be newer rows that took a deleted row's place.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    change INTEGER NOT NULL,              -- 1: a profile change (identify, increment...), 0: an event
    kind TEXT NOT NULL,
    body TEXT NOT NULL,                   -- the envelope, exactly as it is sent (every retry sends the same)
    size INTEGER NOT NULL,                -- its UTF-8 bytes
    attempts INTEGER NOT NULL DEFAULT 0,  -- answers `internal` so far
    error TEXT                            -- the last of them
);
CREATE INDEX IF NOT EXISTS buffer_stream ON buffer (change, seq);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY,              -- its place in the buffer
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    code TEXT NOT NULL,                   -- the server's rejection code (contract §4), or the client's
    error TEXT NOT NULL,
    at TEXT NOT NULL                      -- when, by the device clock
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value);
INSERT OR IGNORE INTO state VALUES ('pending', 0), ('dropped_total', 0), ('dropped_unreported', 0);
-- The client's session (spool_client/sessions.py), updated in place with every event: an UPDATE that
-- keeps the key writes no page of the key's index, so each track() commit stays as small as before.
INSERT OR IGNORE INTO state VALUES ('session_id', NULL), ('session_started', NULL), ('session_last', NULL);
-- `pending` is counted in the same transactions as the rows: a count(*) of a million rows on
-- every track() would cost more than the insert.
CREATE TRIGGER IF NOT EXISTS buffer_in AFTER INSERT ON buffer
    BEGIN UPDATE state SET value = value + 1 WHERE key = 'pending'; END;
CREATE TRIGGER IF NOT EXISTS buffer_out AFTER DELETE ON buffer
    BEGIN UPDATE state SET value = value - 1 WHERE key = 'pending'; END;
"""


class Row(NamedTuple):
    seq: int
    kind: str
    body: str
    size: int


@dataclass
class Settlement:
    """What one answer changes, applied in one transaction (by `seq`)."""

    delete: list[int] = field(default_factory=list)
    dead: list[tuple[int, str, str]] = field(default_factory=list)  # (seq, code, error)
    kept: list[tuple[int, str]] = field(default_factory=list)  # (seq, error)
    dropped_reported: int = 0  # the dropped-events count that reached the server with this answer
    state: dict[str, Any] = field(default_factory=dict)


class NewerFile(Exception):
    """The buffer was written by a newer client; this one would misread it."""


PRIVATE = 0o600
# SQLite's companions of a database file (the journal only outside WAL mode, after a downgrade).
COMPANIONS = ("-wal", "-shm", "-journal")


def private_file(path: str) -> None:
    """Create `path` readable and writable by its owner only, or make it so: os.open's mode is
    cut by the umask (0o277 would leave it read-only), fchmod's is not."""
    if os.name != "posix":
        return  # Windows: the file inherits its folder's permissions
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)
    finally:
        os.close(fd)


def _private_companions(path: str) -> None:
    """Companions an earlier client left readable by others (SQLite keeps the mode they have)."""
    if os.name != "posix":
        return
    for suffix in COMPANIONS:
        try:
            os.chmod(path + suffix, PRIVATE)
        except FileNotFoundError:
            pass


class Buffer:
    """Thread-safe: one connection, one lock; the lock is never held across a network call."""

    def __init__(self, path: str, max_dead_letters: int = 10_000):
        self.path = path
        self.max_dead_letters = max_dead_letters
        self._lock = threading.RLock()
        private_file(path)
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # a new file only: space comes back after a drain
            self._db.execute("PRAGMA journal_mode = WAL")
            _private_companions(path)
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA journal_size_limit = 4194304")  # the WAL shrinks back after a big batch
            with self._transaction():
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise NewerFile(f"{path} was written by a newer spool-client (format {version})")
                for statement in _statements(_SCHEMA):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _get(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return default if row is None or row[0] is None else row[0]

    def device_id(self, given: str | None = None) -> str:
        """The caller's id, kept in the file (a reopening without one goes on with it); without one,
        the file's: made once, on the first call that needs it."""
        with self._transaction() as db:
            if given is not None:
                db.execute("INSERT OR REPLACE INTO state VALUES ('device_id', ?)", (given,))
            db.execute("INSERT OR IGNORE INTO state VALUES ('device_id', ?)", (str(uuid.uuid4()),))
            return str(self._get("device_id"))

    def append(
        self, change: bool, kind: str, body: str | Callable[[str], str], max_rows: int,
        session: tuple[float, SessionRule] | None = None,
    ) -> str | None:  # fmt: skip
        """Add a row; past `max_rows`, drop the oldest events (profile changes only when nothing
        else is left) and count them. One durable commit.

        An event is added in the session it belongs to: `session` = (its time in seconds, the
        rule), and `body(session_id)` gives its body. The session and the row are one commit, so a
        crash keeps both or neither, and a restart goes on in the same session. Returns the session id."""
        with self._transaction():
            session_id = None
            if session is not None:
                at, rule = session
                found = rule.session_at(self._session(), at)
                self._db.executemany(
                    "UPDATE state SET value = ? WHERE key = ?",
                    ((found.id, "session_id"), (found.started, "session_started"), (found.last, "session_last")),
                )
                session_id = found.id
            text = body(session_id) if callable(body) and session_id is not None else body
            assert isinstance(text, str)
            self._db.execute(
                "INSERT INTO buffer (change, kind, body, size) VALUES (?, ?, ?, ?)",
                (int(change), kind, text, len(text.encode("utf-8"))),
            )
            excess = self._get("pending", 0) - max_rows
            if excess > 0:
                self._drop_oldest(excess)
            return session_id

    def _session(self) -> Session | None:
        found = [self._get(key) for key in ("session_id", "session_started", "session_last")]
        return Session(str(found[0]), float(found[1]), float(found[2])) if None not in found else None

    def _drop_oldest(self, count: int) -> None:
        dropped = 0
        for change in (0, 1):
            dropped += self._db.execute(
                "DELETE FROM buffer WHERE seq IN (SELECT seq FROM buffer WHERE change = ? ORDER BY seq LIMIT ?)",
                (change, count - dropped),
            ).rowcount
            if dropped >= count:
                break
        self._db.execute(
            "UPDATE state SET value = value + ? WHERE key IN ('dropped_total', 'dropped_unreported')", (dropped,)
        )

    def pending(self) -> int:
        with self._lock:
            return int(self._get("pending", 0))

    def last_seq(self) -> int:
        with self._lock:
            return self._db.execute("SELECT coalesce(max(seq), 0) FROM buffer").fetchone()[0]

    def oldest(self, change: bool, after: int, upto: int) -> int | None:
        """The first row of one stream (events, or profile changes) in (after, upto]."""
        with self._lock:
            return self._db.execute(
                "SELECT min(seq) FROM buffer WHERE change = ? AND seq > ? AND seq <= ?", (int(change), after, upto)
            ).fetchone()[0]

    def take(
        self, change: bool, after: int, upto: int, max_rows: int, max_bytes: int, max_row_bytes: int
    ) -> tuple[list[Row], list[Row]]:
        """The next rows of one stream that fit in one request (NDJSON: a newline after each), in
        order; and the rows met on the way that are too big to be sent at all."""
        rows: list[Row] = []
        oversized: list[Row] = []
        used = 0
        with self._lock:
            cursor = self._db.execute(
                "SELECT seq, kind, body, size FROM buffer WHERE change = ? AND seq > ? AND seq <= ? ORDER BY seq",
                (int(change), after, upto),
            )
            try:
                for row in map(Row._make, cursor):
                    if row.size > max_row_bytes:
                        oversized.append(row)
                    elif rows and used + row.size + 1 > max_bytes:
                        break
                    else:
                        rows.append(row)
                        used += row.size + 1
                    if len(rows) + len(oversized) >= max_rows:
                        break
            finally:
                cursor.close()
        return rows, oversized

    def settle(self, settlement: Settlement, at: str) -> None:
        """Apply one answer: delete what was taken, move refusals to the dead letters, note the
        rows the server failed on. One transaction: halfway through, nothing has happened."""
        with self._transaction() as db:
            db.executemany("DELETE FROM buffer WHERE seq = ?", [(seq,) for seq in settlement.delete])
            db.executemany(
                "INSERT OR REPLACE INTO dead_letters SELECT seq, kind, body, ?, ?, ? FROM buffer WHERE seq = ?",
                [(code, error, at, seq) for seq, code, error in settlement.dead],
            )
            db.executemany("DELETE FROM buffer WHERE seq = ?", [(seq,) for seq, _, _ in settlement.dead])
            db.executemany(
                "UPDATE buffer SET attempts = attempts + 1, error = ? WHERE seq = ?",
                [(error, seq) for seq, error in settlement.kept],
            )
            if settlement.dropped_reported:
                db.execute(
                    "UPDATE state SET value = max(0, value - ?) WHERE key = 'dropped_unreported'",
                    (settlement.dropped_reported,),
                )
            if settlement.dead:
                db.execute(
                    "DELETE FROM dead_letters WHERE seq < "
                    "(SELECT seq FROM dead_letters ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                    (self.max_dead_letters - 1,),
                )
            self._put(settlement.state)

    def _put(self, values: dict[str, Any]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO state VALUES (?, ?)", list(values.items()))

    def value(self, key: str, default: Any = None) -> Any:
        """One value of the state."""
        with self._lock:
            return self._get(key, default)

    def set_state(self, **values: Any) -> None:
        with self._transaction():
            self._put(values)

    def state(self) -> dict[str, Any]:
        with self._lock:
            found = dict(self._db.execute("SELECT key, value FROM state").fetchall())
            found["dead_letters"] = self._db.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
            return found

    def dead_letters(self, limit: int) -> list[dict[str, Any]]:
        """The newest dead letters, newest first."""
        with self._lock:
            found = self._db.execute(
                "SELECT seq, kind, code, error, at, body FROM dead_letters ORDER BY seq DESC LIMIT ?", (limit,)
            ).fetchall()
        return [dict(zip(("seq", "kind", "code", "error", "at", "body"), row)) for row in found]

    def reclaim_space(self) -> None:
        """Give the pages of deleted rows back to the file system (a small device's disk)."""
        with self._lock:
            # executescript steps the pragma to its end (execute() would free a single page); the
            # checkpoint moves the shrunk file out of the WAL, without waiting for other readers.
            self._db.executescript("PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(PASSIVE);")


def _statements(script: str) -> list[str]:
    """The statements of the schema, one by one (executescript would commit on its own)."""
    lines = [line.split("--")[0] for line in script.splitlines()]
    found, current = [], ""
    for line in lines:
        current += line + "\n"
        if sqlite3.complete_statement(current):
            found.append(current.strip())
            current = ""
    return [statement for statement in found if statement]
