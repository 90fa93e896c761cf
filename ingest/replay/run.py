"""`manage.py replay_events` (contract §9): buffered files through the batch pipeline, re-runnable.

Rows go through `accept.ingest_batch` (`check_batch` for a dry run) in chunks of up to
MAX_BATCH_EVENTS, as if the device had sent them now as batches, from --ip with --user-agent.
Rejected rows are written to `FILE.rejected.ndjson` with their line number and error.

Re-running a file stores nothing new (contract §6.3). Rows with `__insertId`, or with `__timestamp`
and `__deviceId`, already have ids that do not depend on the run. Other track rows get an
`__insertId` derived from the row, so that their id does not either:
- `__timestamp` without `__deviceId`: from the sender (--ip, --user-agent) and the row's content
  (the contract's own id would hash the device id, which changes with the daily salt);
- no `__timestamp`: the row takes the file's modification time as its time, and its id comes
  from that time, its line number, the sender and its content. A file changed since its last
  replay (appended to) is a new file for such rows.
"""
import hashlib
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings

from ingest.pipeline import accept, admission
from ingest.pipeline.request import sender_info
from ingest.replay.export import exported_identity
from ingest.replay.files import BufferFile, Row, UnreadableFile
from projects.auth import ProjectContext
from storage.clickhouse.queries import replay as queries

logger = logging.getLogger(__name__)

SDK_NAME = "replay_events"  # the sdk_name of replayed rows: where they came from


class ReplayAborted(Exception):
    """The queue (Redis) refused a chunk: the run stops; a re-run of the file is safe."""

    def __init__(self, message: str, result: "FileResult"):
        super().__init__(message)
        self.result = result  # what was done before


@dataclass(frozen=True, slots=True)
class Sender:
    ip: str = ""
    user_agent: str = ""


@dataclass(slots=True)
class FileResult:
    path: str
    lines: int = 0
    rows: int = 0
    accepted: int = 0
    already_stored: int = 0  # exported rows (export_events) whose row is stored already: skipped
    rejected: Counter = field(default_factory=Counter)  # by reason
    rejected_path: str = ""  # where the rejected rows are; "" when there are none
    error: str = ""  # why the file, or its rest, could not be read
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Progress:
    path: str
    done_bytes: int
    total_bytes: int
    rows: int
    seconds: float


def _canonical(row: Row) -> bytes:
    try:
        return orjson.dumps(row.item, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return row.text.encode("utf-8", "replace")


def stabilize(row: Row, sender: Sender, mtime_ms: int) -> None:
    """Give a track row whose id would differ between runs an `__insertId` that a re-run repeats."""
    item = row.item
    if not isinstance(item, dict) or item.get("type") != "track" or not isinstance(item.get("payload"), dict):
        return  # not a track event, or an invalid one: it is rejected as it is
    payload = item["payload"]
    properties = payload.get("properties")
    if properties is None:
        properties = {}
    elif not isinstance(properties, dict):
        return
    if properties.get("__insertId") is not None:
        return
    timed = properties.get("__timestamp") is not None
    if timed and properties.get("__deviceId") is not None:
        return
    key = b"%s\n%s\n" % (sender.ip.encode(), sender.user_agent.encode())
    if timed:
        key += _canonical(row)
    else:
        key += b"%d\n%d\n%s" % (mtime_ms, row.line, _canonical(row))
        properties["__timestamp"] = mtime_ms
    properties["__insertId"] = "replay-" + hashlib.sha256(key).hexdigest()[:40]
    payload["properties"] = properties


def already_stored(project_id: str, rows: list[Row]) -> set[int]:
    """Positions of the exported rows (export_events) whose row the project stores already: an export
    replayed into its own project then changes nothing, not even the columns a replay cannot restore.
    When ClickHouse does not answer, every row is sent (its id makes it replace the stored one)."""
    found = {position: identity for position, row in enumerate(rows) if (identity := exported_identity(row.item))}
    if not found:
        return set()
    try:
        stored = queries.stored_event_ids(project_id, {day for _, day in found.values()},
                                          [row_id for row_id, _ in found.values()])  # fmt: skip
    except Exception as error:
        logger.warning("replay: could not ask ClickHouse which exported rows it holds: %s", error)
        return set()
    return {position for position, (row_id, _) in found.items() if row_id in stored}


class _RejectedFile:
    """FILE.rejected.ndjson: one line per rejected row; removed again when no row was rejected.

    Written to a new file of its own (exclusive create, never through a symlink) and renamed over
    the name at the end: a link planted at FILE.rejected.ndjson is replaced, not written through.
    """

    def __init__(self, path: Path):
        self.path = path.with_name(path.name + ".rejected.ndjson")
        self.count = 0
        handle, self._partial = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        self._out = os.fdopen(handle, "wb")

    def write(self, row: Row, rejection: Any) -> None:
        line = {"line": row.line, "reason": rejection.reason, "code": rejection.code, "error": rejection.error}
        line["raw"] = row.text
        self._out.write(orjson.dumps(line) + b"\n")
        self.count += 1

    def close(self) -> str:
        self._out.close()
        if self.count:
            os.chmod(self._partial, 0o644)  # mkstemp's 0600 would hide it from the operator's tools
            os.replace(self._partial, self.path)
            return str(self.path)
        os.unlink(self._partial)
        self.path.unlink(missing_ok=True)  # a previous run's, or a planted link: removed, not followed
        return ""


def _ingest_without_quota(project: ProjectContext, items: list, info: Any) -> accept.BatchResult:
    """An operator's replay is not held to the project's quota (contract §11 protects the service
    from callers, not from its operator); the high-water mark still holds it back."""
    return accept.ingest_batch(project, items, info, quota=False)


def replay_file(
    project: ProjectContext,
    path: str,
    sender: Sender,
    dry_run: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> FileResult:
    """Replay one file. Raises ReplayAborted when the queue refuses; reports an unreadable file
    (or the unreadable rest of one) in `error`, after sending the rows read before it."""
    started = time.monotonic()
    result = FileResult(path=path)
    try:
        source = BufferFile(path)
        rejected = _RejectedFile(source.path)
    except UnreadableFile as error:
        result.error = str(error)
        return result
    except OSError as error:
        result.error = f"cannot write {path}.rejected.ndjson: {error.strerror or error}"
        return result
    send = accept.check_batch if dry_run else _ingest_without_quota
    chunk: list[Row] = []

    def flush() -> None:
        info = sender_info(int(time.time() * 1000), sender.ip, sender.user_agent, sdk_name=SDK_NAME)
        info.exported_ids = True  # the operator's command: an exported row keeps its id (contract §9)
        skipped = already_stored(project.id, chunk)
        sending = [row for position, row in enumerate(chunk) if position not in skipped]
        result.already_stored += len(skipped)
        try:
            answer = send(project, [row.item for row in sending], info) if sending else accept.BatchResult()
        except (accept.ServiceUnavailable, admission.Overloaded) as error:
            raise ReplayAborted(
                f"{path}: the queue is unavailable ({error}); rows from line {chunk[0].line} on were not sent. "
                "Run the file again: rows already sent are not stored twice.",
                result,
            ) from None
        result.accepted += answer.accepted
        for rejection in answer.rejected:
            result.rejected[rejection.reason] += 1
            rejected.write(sending[rejection.index], rejection)
        result.rows += len(chunk)
        chunk.clear()
        if on_progress:
            seconds = time.monotonic() - started
            on_progress(Progress(path, source.position(), source.size, result.rows, seconds))

    try:
        try:
            for row in source.rows():
                stabilize(row, sender, source.mtime_ms)
                chunk.append(row)
                if len(chunk) >= settings.MAX_BATCH_EVENTS:
                    flush()
        except UnreadableFile as error:
            result.error = str(error)
        if chunk:
            flush()  # what was read before an unreadable rest still goes through
    finally:
        result.rejected_path = rejected.close()
        result.lines = source.lines
        result.seconds = time.monotonic() - started
    return result
