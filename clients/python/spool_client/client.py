"""SpoolClient: record events and profile changes into the durable buffer, and drain it to Spool's
`POST /track/batch` in bulk, exactly once (README.md says what the app sees; docs/offline-clients.md
of the Spool repository is the protocol)."""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from spool_client import answers, backoff, envelopes, transport
from spool_client.agent import PRODUCT, VERSION, default_user_agent
from spool_client.buffer import Buffer, Row, Settlement
from spool_client.lock import FlushLock
from spool_client.sessions import SessionRule

logger = logging.getLogger("spool_client")
# Set by the server on the answer to a request with a secret rotated with a grace (contract §9 r3).
OLD_SECRET_HEADER = "Spool-Old-Secret-Expires"  # noqa: S105 - a header's name

EVENTS, CHANGES = False, True  # the two streams of the buffer


@dataclass(frozen=True)
class FlushResult:
    """One flush: rows answered by the server (`sent`), taken (`accepted`), refused for good and
    moved to the dead letters (`rejected`); `sent - accepted - rejected` stay to be sent again.
    `remaining` rows are waiting now. `retry_after`: seconds before the next try is worth it (the
    server asked, or backoff); None when the pass ended normally. `error`: what stopped it."""

    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    remaining: int = 0
    retry_after: float | None = None
    error: str | None = None
    # The server still accepts this client secret, but only until then (ISO-8601 UTC): it was
    # rotated with a grace (`manage.py rotate_secret --grace`). Give the client the new one.
    old_secret_expires: str | None = None


@dataclass(frozen=True)
class Status:
    """`python -m spool_client status`: the buffer's state, readable without a server."""

    pending: int
    dead_letters: int
    dropped_events: int  # dropped since the buffer was made, because it was full
    dropped_unreported: int  # of those, not yet told to the server
    last_error: str | None
    last_error_at: str | None
    last_sent_at: str | None
    retry_at: str | None
    clock_skew_ms: int | None  # the server's last correction of this device's clock
    device_id: str | None
    session_id: str | None = None  # the session the next event joins, unless it starts a new one


class _Stop(Exception):
    """Ends a flush pass early: back off for `retry_after` seconds, or stop for good (401)."""

    def __init__(self, error: str, retry_after: float | None = None):
        super().__init__(error)
        self.error = error
        self.retry_after = retry_after


class _Tally:
    def __init__(self) -> None:
        self.sent = self.accepted = self.rejected = 0
        self.old_secret_expires: str | None = None


class SpoolClient:
    # Spool's limits (contract §1.1). A batch body counts after decompression; an event over
    # max_event_bytes is refused by the server, so it is dead-lettered without being sent.
    max_batch_events = 2000
    max_batch_bytes = 10 * 1024 * 1024
    max_event_bytes = 64 * 1024
    # Profile changes go in requests of their own, and small ones: an increment whose answer is
    # lost is sent again and counts twice (the server has no id for it), so few ride together.
    max_changes_per_batch = 100
    max_dead_letters = 10_000
    timeout = 60.0  # seconds per socket operation, not per request: a slow upload still goes on
    backoff_base = 1.0
    backoff_cap = 300.0
    backoff_floor = 1.0
    retry_after_cap = 3600.0
    max_session_seconds = 86_400.0  # a session never lasts longer (PostHog's rule), however busy

    def __init__(
        self,
        api_url: str,
        client_id: str,
        client_secret: str | None = None,
        path: str = "spool-buffer.db",
        device_id: str | None = None,
        clock: Callable[[], float] = time.time,
        max_buffer_events: int = 1_000_000,
        user_agent: str | None = None,
        session_timeout: float = 1800.0,
    ):
        if urlsplit(api_url).scheme not in ("http", "https"):
            raise ValueError(f"api_url must be an http or https URL, not {api_url!r}")
        if device_id is not None and not 1 <= len(str(device_id).strip()) <= 64:
            raise ValueError("device_id must be 1 to 64 characters (contract §3.1)")
        if not session_timeout > 0:
            raise ValueError("session_timeout must be a positive number of seconds")
        if max_buffer_events < 1:
            raise ValueError("max_buffer_events must be at least 1")
        self.url = api_url.rstrip("/") + "/track/batch"
        self.client_id = client_id
        self.client_secret = client_secret
        self.path = path
        self.clock = clock
        self.max_buffer_events = max_buffer_events
        self.user_agent = user_agent or default_user_agent()
        self._buffer = Buffer(path, self.max_dead_letters)
        self.device_id = self._buffer.device_id(str(device_id).strip() if device_id is not None else None)
        self.sessions = SessionRule(idle=session_timeout, longest=self.max_session_seconds)
        self._flushing = threading.Lock()  # one pass at a time in this process...
        self._other_processes = FlushLock(path)  # ...and across processes
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._warned_old_secret = ""

    # Recording: each call is one durable commit, made before it returns.

    def track(
        self, name: str, properties: dict | None = None, *, profile_id: Any = None, timestamp: Any = None
    ) -> str:
        """Buffer an event; returns its `__insertId` (a UUID). The time is the device clock now
        unless `timestamp` (a datetime, epoch seconds, or an ISO-8601 string) is given."""
        _check_properties(properties)
        insert_id = str(uuid.uuid4())
        now = self.clock()
        when = envelopes.event_time(timestamp, now)
        built: list[dict] = []

        def body(session_id: str) -> str:
            envelope = envelopes.track(name, properties, profile_id, insert_id, when, self.device_id, session_id)
            built.append(envelope)
            return envelopes.encode(envelope)

        self._check_open()
        at = envelopes.seconds_of(when, now)
        self._buffer.append(EVENTS, "track", body, self.max_buffer_events, session=(at, self.sessions))
        self._woken()
        return str(built[0]["payload"]["properties"]["__insertId"])

    def identify(
        self,
        profile_id: Any,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        email: str | None = None,
        properties: dict | None = None,
    ) -> None:
        _check_properties(properties)
        self._append(CHANGES, "identify", envelopes.identify(profile_id, first_name, last_name, email, properties))

    def increment(self, profile_id: Any, property: str, value: int | float = 1) -> None:
        self._append(CHANGES, "increment", envelopes.change("increment", profile_id, property, value))

    def decrement(self, profile_id: Any, property: str, value: int | float = 1) -> None:
        self._append(CHANGES, "decrement", envelopes.change("decrement", profile_id, property, value))

    def _append(self, stream: bool, kind: str, envelope: dict) -> None:
        self._check_open()
        self._buffer.append(stream, kind, envelopes.encode(envelope), self.max_buffer_events)
        self._woken()

    def _woken(self) -> None:
        if self._thread is not None and self._buffer.pending() % self.max_batch_events == 0:
            self._wake.set()  # a full batch is waiting: no need to wait for the interval

    def pending(self) -> int:
        """Rows (events and profile changes) waiting in the buffer."""
        self._check_open()
        return self._buffer.pending()

    # Sending.

    def flush(self, max_batches: int | None = None) -> FlushResult:
        """One pass over what is buffered now, oldest first, at most `max_batches` requests (a
        request split after a 413 counts once). Rows the server failed on wait for the next pass."""
        self._check_open()
        with self._flushing, self._other_processes as held:
            if not held:
                busy = "another process is flushing this buffer"
                return FlushResult(remaining=self._buffer.pending(), retry_after=self.backoff_floor, error=busy)
            tally = _Tally()
            stop: _Stop | None = None
            try:
                self._pass(max_batches, tally)
            except _Stop as stopped:
                stop = stopped
            if tally.accepted or tally.rejected:
                self._buffer.reclaim_space()
            return FlushResult(
                tally.sent, tally.accepted, tally.rejected, self._buffer.pending(),
                retry_after=stop.retry_after if stop else None, error=stop.error if stop else None,
                old_secret_expires=tally.old_secret_expires,
            )  # fmt: skip

    def _pass(self, max_batches: int | None, tally: _Tally) -> None:
        self._wait_if_backing_off()
        upto = self._buffer.last_seq()  # rows added during the pass wait for the next one
        after = {EVENTS: 0, CHANGES: 0}
        batches = 0
        while max_batches is None or batches < max_batches:
            stream = self._next_stream(after, upto)
            if stream is None:
                return
            limit = self.max_changes_per_batch if stream is CHANGES else self.max_batch_events
            rows, oversized = self._buffer.take(
                stream, after[stream], upto, limit, self.max_batch_bytes, self.max_event_bytes
            )
            after[stream] = max(row.seq for row in rows + oversized)
            if oversized:
                self._dead_letter_oversized(oversized, tally)
            if rows:
                batches += 1
                self._deliver(stream, rows, tally)

    def _next_stream(self, after: dict[bool, int], upto: int) -> bool | None:
        """The stream whose next row is the oldest: the buffer drains in the order it was filled."""
        firsts = {stream: self._buffer.oldest(stream, after[stream], upto) for stream in (EVENTS, CHANGES)}
        waiting = [(seq, stream) for stream, seq in firsts.items() if seq is not None]
        return min(waiting)[1] if waiting else None

    def _dead_letter_oversized(self, rows: list[Row], tally: _Tally) -> None:
        error = f"event too large (more than {self.max_event_bytes} bytes); not sent"
        self._buffer.settle(Settlement(dead=[(row.seq, "too_large", error) for row in rows]), self._now_iso())
        tally.rejected += len(rows)

    def _deliver(self, stream: bool, rows: list[Row], tally: _Tally) -> None:
        """Send rows as one request and apply the answer; split the rows when the server says the
        request is too big. Raises _Stop when the pass must end."""
        bodies = [row.body for row in rows]
        carried = 0
        if stream is EVENTS:
            carried = int(self._buffer.value("dropped_unreported", 0))
            if carried:
                bodies[0] = envelopes.with_property(bodies[0], envelopes.DROPPED_PROPERTY, carried)
        answer = transport.post(self.url, transport.ndjson(bodies), self._headers(), self.timeout)
        if isinstance(answer, transport.Failure):
            raise self._back_off(f"network: {answer.error}")
        if 200 <= answer.status < 300:
            return self._apply(rows, answer, carried, tally)
        error = answers.error_text(answer.status, answer.body)
        if answer.status in (400, 413) and len(rows) > 1:
            # Over the server's body or batch-size limit (which an operator may have lowered):
            # halves, in order, so that profile changes keep theirs.
            half = len(rows) // 2
            logger.info("spool: %s; sending %d rows as two requests", error, len(rows))
            self._deliver(stream, rows[:half], tally)
            self._deliver(stream, rows[half:], tally)
            return None
        if answer.status == 413:  # one row alone is over the limit: it can never be taken
            code = answers.error_code(answer.body, "too_large")
            self._buffer.settle(Settlement(dead=[(rows[0].seq, code, error)]), self._now_iso())
            tally.rejected += 1
            return None
        if answer.status == 401:
            raise self._stop_for_good(f"{error} (check client_id and client_secret; everything is kept)")
        if 300 <= answer.status < 400:  # transport.py never follows one: the secret would go along
            where = _header(answer.headers, "Location") or "nowhere"
            raise self._back_off(f"{answer.status} redirect to {where}: not followed; set api_url to the "
                                 "address it points to (everything is kept)")  # fmt: skip
        waited = None
        if answer.status in (429, 503):
            waited = backoff.retry_after(answer.headers, self.clock(), self.retry_after_cap)
        raise self._back_off(error, waited)

    def _apply(self, rows: list[Row], answer: transport.Answer, carried: int, tally: _Tally) -> None:
        expires = _header(answer.headers, OLD_SECRET_HEADER)
        if expires:
            tally.old_secret_expires = expires
            if expires != self._warned_old_secret:  # once per deadline, not once per batch
                self._warned_old_secret = expires
                logger.warning(
                    "spool: the client secret was rotated; the server accepts this one only until %s. "
                    "Give this client the new secret before then (everything is kept meanwhile).", expires
                )
        try:
            verdict = answers.read_batch_answer(answer.body, len(rows))
        except answers.UnreadableAnswer as unreadable:
            if unreadable.stop:
                raise self._stop_for_good(str(unreadable)) from None
            raise self._back_off(str(unreadable)) from None
        accepted = [rows[index].seq for index in verdict.accepted]
        settlement = Settlement(
            delete=accepted,
            dead=[(rows[index].seq, code, error) for index, code, error in verdict.dead],
            kept=[(rows[index].seq, error) for index, error in verdict.kept],
            dropped_reported=carried if carried and rows[0].seq in accepted else 0,
            # A good answer ends the trouble the status reported (a failed row below reports anew).
            state={"last_sent_at": self._now_iso(), "failures": 0, "retry_at": None, "retry_delay": None,
                   "last_error": None, "last_error_at": None},  # fmt: skip
        )
        if verdict.clock_skew_ms is not None:
            settlement.state["clock_skew_ms"] = verdict.clock_skew_ms
        self._buffer.settle(settlement, self._now_iso())
        tally.sent += len(rows)
        tally.accepted += len(settlement.delete)
        tally.rejected += len(settlement.dead)
        if verdict.kept:
            first = verdict.kept[0][1]
            raise self._back_off(f"the server failed on {len(verdict.kept)} rows (kept, sent again): {first}")
        return None

    def _headers(self) -> dict[str, str]:
        headers = {
            "User-Agent": self.user_agent,
            "openpanel-client-id": self.client_id,
            "openpanel-sdk-name": PRODUCT,
            "openpanel-sdk-version": VERSION,
            # The device clock when this request leaves: the server corrects event times by the
            # difference to its own (contract §5.1). A new value on every retry; ids do not use it.
            "spool-sent-at": self._now_iso(),
        }
        if self.client_secret:
            headers["openpanel-client-secret"] = self.client_secret
        return headers

    # Waiting.

    def _back_off(self, error: str, retry_after: float | None = None) -> _Stop:
        """Record a failed try and how long to wait before the next one (persisted, so another
        process on this buffer waits too)."""
        failures = int(self._buffer.value("failures", 0)) + 1
        if retry_after is None:
            retry_after = backoff.full_jitter(failures, self.backoff_base, self.backoff_cap, self.backoff_floor)
        retry_after = max(retry_after, self.backoff_floor)  # `Retry-After: 0` must not become a loop either
        now = self.clock()
        self._buffer.set_state(
            failures=failures, retry_at=now + retry_after, retry_delay=retry_after,
            last_error=error, last_error_at=envelopes.iso_ms(now),
        )  # fmt: skip
        logger.warning("spool: %s; next try in %.1f s", error, retry_after)
        return _Stop(error, retry_after)

    def _wait_if_backing_off(self) -> None:
        retry_at, delay = self._buffer.value("retry_at"), self._buffer.value("retry_delay")
        if retry_at is None or delay is None:
            return
        remaining = retry_at - self.clock()
        if remaining > delay:  # the device clock went back: wait the delay from now, not days
            self._buffer.set_state(retry_at=self.clock() + delay)
            remaining = delay
        if remaining > 0:
            raise _Stop(self._buffer.value("last_error", "backing off"), remaining)

    def _stop_for_good(self, error: str) -> _Stop:
        """Trying again cannot help (401): keep everything, report, and end the background flusher.
        An explicit flush() tries once more."""
        now = self.clock()
        self._buffer.set_state(last_error=error, last_error_at=envelopes.iso_ms(now))
        logger.error("spool: %s", error)
        self._stopping.set()
        self._wake.set()
        return _Stop(error)

    def _now_iso(self) -> str:
        return envelopes.iso_ms(self.clock())

    # The background flusher.

    def start(self, interval: float = 30.0) -> None:
        """Flush every `interval` seconds (or as soon as a full batch waits) in a daemon thread;
        after a failure, wait as long as the server or the backoff says, if longer."""
        self._check_open()
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, args=(interval,), name="spool-client-flusher", daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stopping.is_set():
            delay = interval
            try:
                result = self.flush()
                if result.retry_after is not None:
                    delay = max(interval, result.retry_after)
            except Exception:  # a full disk, a bug: log it, and try again after the interval
                logger.exception("spool: flush failed")
            self._wake.wait(delay)
            self._wake.clear()

    def stop(self) -> None:
        """Stop the background flusher (after the request it may be making). Nothing is lost:
        what was not sent stays in the buffer for the next flush, in this process or another."""
        self._stopping.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def close(self) -> None:
        """Stop the flusher and close the buffer. Sends nothing: flush() first to try."""
        if self._closed:
            return
        self.stop()
        with self._flushing:  # a flush running in another thread ends first
            self._closed = True
            self._buffer.close()

    def __enter__(self) -> SpoolClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this SpoolClient is closed")

    # Reading the state.

    def status(self) -> Status:
        self._check_open()
        return read_status(self._buffer, self.device_id)

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest dead letters: seq, kind, code, error, at, and the envelope (`body`)."""
        self._check_open()
        return self._buffer.dead_letters(limit)


def _check_properties(properties: Any) -> None:
    if properties is not None and not isinstance(properties, Mapping):
        raise TypeError(f"properties must be a dict, not {type(properties).__name__}")


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header of an answer, whatever the case of its name."""
    return next((value for key, value in headers.items() if key.lower() == name.lower()), "")


def read_status(buffer: Buffer, device_id: str | None = None) -> Status:
    state = buffer.state()
    retry_at = state.get("retry_at")
    return Status(
        pending=int(state.get("pending", 0)),
        dead_letters=int(state.get("dead_letters", 0)),
        dropped_events=int(state.get("dropped_total", 0)),
        dropped_unreported=int(state.get("dropped_unreported", 0)),
        last_error=state.get("last_error"),
        last_error_at=state.get("last_error_at"),
        last_sent_at=state.get("last_sent_at"),
        retry_at=envelopes.iso_ms(retry_at) if retry_at is not None else None,
        clock_skew_ms=state.get("clock_skew_ms"),
        device_id=device_id or state.get("device_id"),
        session_id=state.get("session_id"),
    )
