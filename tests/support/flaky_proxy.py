"""A flaky network between a client and a live Spool: a TCP proxy on 127.0.0.1 that treats each
connection (one HTTP request; clients close after each) as its script says, then passes the rest."""
import socket
import threading

DROP = "drop"  # close before the request reaches the server
LOST = "lost"  # the server takes the request; its answer is lost on the way back
CUT = "cut"  # the server takes the request; half of its answer arrives, then the connection closes
BUSY = "busy"  # answer 503 with Retry-After, as a load balancer in front of Spool would
PASS = "pass"

BUSY_BODY = b'{"error":"unavailable","message":"try again later"}'


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _forward(request: bytes, port: int) -> bytes:
    """The whole answer of the server (the client asked `Connection: close`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as upstream:
        upstream.sendall(request)
        answer = b""
        while chunk := upstream.recv(65536):
            answer += chunk
    return answer


class FlakyProxy:
    def __init__(self, upstream_port: int, script: list[str], retry_after: int = 1):
        self.upstream_port = upstream_port
        self.script = list(script)
        self.retry_after = retry_after
        self.seen: list[str] = []  # what each connection got
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)  # so that the loop sees `close`
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.closing.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(60)
                self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        request = _read_request(conn)
        mode = self.script.pop(0) if self.script else PASS
        self.seen.append(mode)
        if mode == DROP:
            return
        if mode == BUSY:
            conn.sendall(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                b"Retry-After: %d\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                % (self.retry_after, len(BUSY_BODY), BUSY_BODY)
            )
            return
        answer = _forward(request, self.upstream_port)
        if mode == LOST:
            return
        if mode == CUT:
            head, _, body = answer.partition(b"\r\n\r\n")
            conn.sendall(head + b"\r\n\r\n" + body[: len(body) // 2])
            return
        conn.sendall(answer)

    def close(self) -> None:
        self.closing.set()
        self.thread.join(5)
        self.listener.close()
