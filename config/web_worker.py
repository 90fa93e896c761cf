"""gunicorn's worker class for Spool (gunicorn.conf.py): threads, fed by a main loop that reads each
request whole before any thread sees it, and shares the threads fairly between projects.

Contract §11 r3. With sync workers, two clients sending a byte a second held both web processes
for gunicorn's 30 s timeout, and six left everyone else unanswered. Here a request is read by the
process's event loop (non-blocking, as a buffering proxy would), so a slow client holds a
connection and its bytes so far, never a thread:
- its headers must be in within REQUEST_HEADER_SECONDS (from the connection, or a kept-alive
  connection's first byte), its body within REQUEST_BODY_SECONDS after them; else 408, and the
  connection is closed;
- a process holds at most WEB_CONNECTIONS connections and WEB_BUFFER_BYTES of bodies being read
  (503 beyond); a body declared larger than the largest the API takes is not read at all (the API
  answers 413 from its Content-Length);
- a project (its `openpanel-client-id`) has at most PROJECT_REQUESTS_IN_FLIGHT requests in a
  process, being read, waiting or handled: one more is answered 429 `busy` from its headers;
- complete requests wait per project and are given to the threads in turn, and no project takes
  the last free thread while another's request waits: a quiet project's request starts as soon as
  any thread is free, whatever a flood holds (the GIL shares the CPU between running threads);
- a thread about to keep the GIL for long (the standard library's parse of a body over 1 MiB)
  runs with its process alone (`alone`), one process of the server at a time.
How a request is read as its bytes arrive is config/web_requests.py's.
"""
import ctypes
import ctypes.util
import errno
import fcntl
import os
import selectors
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from gunicorn.workers.gthread import ThreadWorker

from config import env
from config.web_requests import COMPLETE, MORE, TOO_LARGE, BufferedBody, DeadlineSocket, Incoming, answer, received

LINGER_SECONDS = 2.0  # after a refusal, how long unread request bytes are drained before closing
LINGER_BYTES = 1024 * 1024
# A request the event loop did not read whole (a body the API refuses from its Content-Length, or
# framing gunicorn answers 400 to) is handled in a thread that waits at most this long for its bytes.
NOT_READ_SECONDS = 2.0
M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)
ALONE_WAIT_SECONDS = 1.0  # how long a long parse waits for the process's other requests to finish
_current = threading.local()  # the request a thread handles


def _large_allocations_go_back() -> None:
    """glibc gives each thread an arena of its own and, once a large block is freed, raises its mmap
    threshold to that size: a 10 MiB body handled by each of four threads in turn then stays in four
    arenas (B4: 148 → 168-180 MB). A fixed threshold maps every block of 128 KiB or more on its own and
    unmaps it when freed, as with one thread."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):
        pass  # not glibc: its allocator has its own rules


class SpoolWorker(ThreadWorker):
    def init_process(self):
        _large_allocations_go_back()  # before the threads and the app exist
        super().init_process()

    def load_wsgi(self):
        super().load_wsgi()
        from ingest.api import wire  # the app is loaded: Django is set up

        wire.hold_the_process = self.alone

    # --- a thread alone in its process (a parse that holds the GIL for a whole big body) -------------
    @contextmanager
    def alone(self) -> Iterator[None]:
        """Hold the process for a request thread about to keep the GIL for long, so that no other
        client waits behind it: one process of the server at a time (a lock on SPOOL_PARSE_LOCK),
        which first stops accepting connections and starting that project's requests, and lets the
        other requests in progress finish (at most ALONE_WAIT_SECONDS); then it starts nothing until
        the parse is done. The other processes take the new connections meanwhile."""
        with self.counts_lock:
            self.alone_waiting += 1  # waiting for its turn: not a request the others wait for
        with self.alone_lock, open(env.SPOOL_PARSE_LOCK or os.devnull, "rb") as lock:
            if env.SPOOL_PARSE_LOCK:
                fcntl.flock(lock, fcntl.LOCK_EX)
            with self.counts_lock:
                self.alone_waiting -= 1
            yield from self._alone_with(getattr(_current, "key", None))

    def _alone_with(self, key) -> Iterator[None]:
        self.method_queue.defer(self._pause, key)
        deadline = time.monotonic() + ALONE_WAIT_SECONDS
        while time.monotonic() < deadline and (not self.paused or self.threads_busy - 1 - self.alone_waiting > 0):
            time.sleep(0.002)
        self.parsing = True
        try:
            yield
        finally:
            self.parsing = False
            self.method_queue.defer(self._pause, None)

    def _pause(self, key) -> None:
        """On the main thread: pause for `key`'s long parse (None: resume)."""
        self.paused, self.paused_key = key is not None, key
        self.set_accept_enabled(self.nr_conns < self.worker_connections)
        self._dispatch()

    def set_accept_enabled(self, enabled):
        super().set_accept_enabled(enabled and not self.paused)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reading: dict = {}  # connection → Incoming
        self.lingering: dict = {}  # connection → (deadline, bytes drained)
        self.waiting: dict[bytes, deque] = {}  # project → whole requests waiting for a thread
        self.turns: deque[bytes] = deque()  # projects with waiting requests, in turn
        self.in_flight: Counter[bytes] = Counter()  # project → requests with their headers in, not yet answered
        self.running: Counter[bytes] = Counter()  # project → requests in a thread
        self.threads_busy = 0
        self.buffered = 0  # bytes of requests held by the event loop
        # `alone`: while paused, accept nothing and start none of `paused_key`'s requests; while parsing,
        # start nothing.
        self.paused, self.paused_key, self.parsing = False, None, False
        self.alone_lock, self.counts_lock = threading.Lock(), threading.Lock()
        self.alone_waiting: int = 0  # threads waiting for their turn to be alone

    # --- reading: every connection's next request goes through here --------------------------------
    def enqueue_req(self, conn):
        """gunicorn calls this for a new connection, a kept-alive one that became readable, and one
        whose previous request's read-ahead holds the next: read that request in the event loop."""
        already = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        conn.sock.setblocking(False)
        incoming = Incoming(b"", time.monotonic())
        conn.incoming, conn.key, conn.read_whole, conn.held, conn.body = incoming, None, True, 0, None
        self.reading[conn] = incoming
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_bytes, conn))
        if already:
            self._feed(conn, already)

    def _on_bytes(self, conn, sock) -> None:
        piece = received(sock)
        if piece is None:
            return
        if not piece:  # the client went away
            self._drop(conn)
            return
        self._feed(conn, piece)

    def _feed(self, conn, piece: bytes) -> None:
        incoming = conn.incoming
        had_headers = incoming.head_end >= 0
        if self.buffered + len(piece) > env.WEB_BUFFER_BYTES:
            self._refuse(conn, "503 Service Unavailable", "busy", "the server is reading too many request bodies", 1)
            return
        self.buffered += len(piece)
        conn.held += len(piece)
        state = incoming.feed(piece, time.monotonic())
        if not had_headers and incoming.head_end >= 0 and not self._admit(conn):
            return
        if state == MORE:
            return
        if state == TOO_LARGE:
            too_large = "request headers too large" if incoming.head_end < 0 else "request body too large"
            self._refuse(conn, "413 Content Too Large", "payload_too_large", too_large)
            return
        self._stop_reading(conn)
        conn.read_whole = state == COMPLETE
        conn.buffered, incoming.data = incoming.data, bytearray()  # moved, not copied (B4: 10 MiB bodies)
        conn.body = None
        if conn.read_whole and not incoming.chunked and incoming.length:
            # The parser gets the headers (and what a client pipelined after the body); the body is served
            # from the buffer as it is.
            head, end = incoming.head_end, incoming.head_end + incoming.length
            conn.body = BufferedBody(conn.buffered, head, incoming.length)
            conn.buffered = conn.buffered[:head] + conn.buffered[end:]
        self._wait_for_thread(conn)

    def _admit(self, conn) -> bool:
        """Headers in: the request counts against its project's bound from now on."""
        incoming = conn.incoming
        if self.in_flight[incoming.key] >= env.PROJECT_REQUESTS_IN_FLIGHT:
            message = (f"the project already has {env.PROJECT_REQUESTS_IN_FLIGHT} requests in progress here; "
                       "send this one again in 1 s")  # fmt: skip
            self._refuse(conn, "429 Too Many Requests", "busy", message, 1)
            return False
        conn.key = incoming.key
        self.in_flight[conn.key] += 1
        if incoming.expect_continue:  # the client waits for this before it sends the body
            try:
                conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            except OSError:
                pass
        return True

    def _stop_reading(self, conn) -> None:
        self.reading.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    def _release(self, conn) -> None:
        """The event loop holds the request's bytes no more (a thread has them, or nobody)."""
        self.buffered -= conn.held
        conn.held = 0

    # --- waiting for a thread, in turn -------------------------------------------------------------
    def _wait_for_thread(self, conn) -> None:
        key = conn.key
        if key not in self.waiting:
            self.waiting[key] = deque()
            self.turns.append(key)
        self.waiting[key].append(conn)
        self._dispatch()

    def _dispatch(self) -> None:
        """Give free threads to waiting requests, one project after another. A project takes the last
        free thread only when no other project waits."""
        if self.parsing:
            return
        for _ in range(len(self.turns)):
            if self.threads_busy >= self.cfg.threads:
                return
            key = self.turns[0]
            others_wait = len(self.turns) > 1
            held = self.paused and key == self.paused_key
            if held or (others_wait and self.running[key] >= max(1, self.cfg.threads - 1)):
                self.turns.rotate(-1)
                continue
            conn = self.waiting[key].popleft()
            if self.waiting[key]:
                self.turns.rotate(-1)
            else:
                del self.waiting[key]
                self.turns.popleft()
            self.running[key] += 1
            self.threads_busy += 1
            self._release(conn)
            future = self.tpool.submit(self.handle, conn)
            future.add_done_callback(lambda done, conn=conn: self.method_queue.defer(self.finish_request, conn, done))

    def handle(self, conn):
        """In a thread: the request's bytes are handed to gunicorn's parser, which then never waits
        on the socket for them."""
        conn.data_ready = True
        _current.key = conn.key  # whose request this thread handles (`alone`)
        conn.sock.setblocking(True)
        conn.init()
        conn.parser.unreader.sock = DeadlineSocket(conn.sock, 1.0 if conn.read_whole else NOT_READ_SECONDS)
        conn.parser.unreader.unread(conn.buffered)
        conn.buffered = b""
        return super().handle(conn)

    def handle_request(self, req, conn):
        if conn.body is not None:  # the body read whole by the event loop, in place of gunicorn's reader
            req.body, conn.body = conn.body, None
        return super().handle_request(req, conn)

    def _keepalive_after(self, conn, keepalive):
        # A request the event loop did not read whole may have body bytes left: close after it.
        return conn.read_whole and super()._keepalive_after(conn, keepalive)

    def finish_request(self, conn, fs):
        """On the main thread, after a thread handled `conn`'s request."""
        key = conn.key
        self.running[key] -= 1
        self.threads_busy -= 1
        self._leave(conn)
        result = fs.result() if not fs.cancelled() and fs.exception() is None else False
        if result and self.alive:
            super().finish_request(conn, fs)
        else:
            self.nr_conns -= 1
            self._linger(conn, b"")
        self._dispatch()

    # --- refusing and closing ------------------------------------------------------------------------
    def _leave(self, conn) -> None:
        if conn.key is not None:
            self.in_flight[conn.key] -= 1
            if self.in_flight[conn.key] <= 0:
                del self.in_flight[conn.key]
            conn.key = None

    def _refuse(self, conn, status: str, code: str, message: str, retry_after: int = 0) -> None:
        self.log.info("answered %s to %s: %s", status, conn.client, message)
        self._stop_reading(conn)
        self._release(conn)
        self._leave(conn)
        self.nr_conns -= 1
        self._linger(conn, answer(status, code, message, conn.incoming.origin, retry_after))

    def _drop(self, conn) -> None:
        self._stop_reading(conn)
        self._release(conn)
        self._leave(conn)
        self.nr_conns -= 1
        conn.close()

    def _linger(self, conn, answer: bytes) -> None:
        """Send `answer`, half-close, and drain what the client still sends for LINGER_SECONDS before
        closing, without blocking the event loop (a close with unread bytes would reset the
        connection and could destroy the answer before the client reads it)."""
        sock = conn.sock
        try:
            sock.setblocking(False)
            if answer:
                sock.send(answer)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            conn.close()
            return
        self.lingering[conn] = [time.monotonic() + LINGER_SECONDS, 0]
        self.poller.register(sock, selectors.EVENT_READ, partial(self._on_linger, conn))

    def _on_linger(self, conn, sock) -> None:
        piece = received(sock)
        if piece is None:
            return
        state = self.lingering[conn]
        state[1] += len(piece)
        if not piece or state[1] > LINGER_BYTES:
            self._close_lingering(conn)

    def _close_lingering(self, conn) -> None:
        self.lingering.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        conn.close()

    def murder_pending(self):
        """Called by gunicorn's loop about once a second: requests past their deadline get 408."""
        super().murder_pending()
        now = time.monotonic()
        for conn, incoming in list(self.reading.items()):
            if not self.alive and incoming.head_end < 0:  # stopping: a request not begun is not waited for
                self._drop(conn)
            elif incoming.deadline <= now:
                part = "headers" if incoming.head_end < 0 else "body"
                seconds = env.REQUEST_HEADER_SECONDS if incoming.head_end < 0 else env.REQUEST_BODY_SECONDS
                message = f"the request's {part} did not arrive within {seconds} s"
                self._refuse(conn, "408 Request Timeout", "request_timeout", message)
        for conn, (deadline, _) in list(self.lingering.items()):
            if deadline <= now:
                self._close_lingering(conn)

    def wait_for_and_dispatch_events(self, timeout):
        try:
            super().wait_for_and_dispatch_events(timeout)
        except OSError as error:  # a socket closed under the selector
            if error.errno not in (errno.EBADF, errno.ENOTSOCK):
                raise
