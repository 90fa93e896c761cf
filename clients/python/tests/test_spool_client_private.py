"""What the client keeps to itself (Spool issue 17, finding 12): its buffer file, which holds every
event and profile change it recorded, and its companions are readable by its own user only,
whatever the umask; and its client secret is never sent anywhere but to `api_url`: a redirect is
not followed (urllib copied every header, the secret too, into the request to the new Location)."""
import os
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import SECRET, Reply

COMPANIONS = ("", "-wal", "-shm", "-flush.lock")


def _mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    """Run with a given umask, and put the process's own back afterwards."""
    before = os.umask(0o022)
    os.umask(before)
    yield lambda mask: os.umask(mask)
    os.umask(before)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX's")
@pytest.mark.parametrize("mask", [0o022, 0o002, 0o000, 0o077, 0o277])
def test_the_buffer_and_its_companion_files_are_private_whatever_the_umask(make_client, buffer_path, umask, mask):
    umask(mask)
    client = make_client()
    client.track("private")
    client.flush()
    for suffix in COMPANIONS:
        assert os.path.exists(buffer_path + suffix), suffix
        assert _mode(buffer_path + suffix) == 0o600, (suffix, oct(_mode(buffer_path + suffix)))


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX's")
def test_files_an_earlier_client_made_readable_by_others_are_made_private(make_client, buffer_path, umask):
    umask(0o022)
    first = make_client()
    first.track("before")
    first.flush()
    first.close()
    for suffix in COMPANIONS:
        if os.path.exists(buffer_path + suffix):
            os.chmod(buffer_path + suffix, 0o644)  # as the release before made them
    again = make_client()
    again.flush()
    for suffix in COMPANIONS:
        assert _mode(buffer_path + suffix) == 0o600, suffix


class _Elsewhere:
    """Another host (another origin): records every request it gets, whatever its method."""

    def __init__(self) -> None:
        self.headers: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                outer.headers.append({name.lower(): value for name, value in self.headers.items()})
                self.send_response(202)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = do_PUT = do_HEAD = _any  # noqa: N815 (http.server's names)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://localhost:{self.httpd.server_address[1]}"  # another host name, another port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def elsewhere():
    other = _Elsewhere()
    yield other
    other.close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_the_secret_goes_nowhere_else(client, server, elsewhere, status):
    server.answer = lambda received: Reply(status, {"moved": True}, {"Location": f"{elsewhere.url}/track/batch"})
    client.track("kept")
    result = client.flush()
    assert not any(SECRET in str(headers) for headers in elsewhere.headers)  # the secret stays home
    assert elsewhere.headers == []  # nothing reached the other host at all
    assert (result.accepted, result.remaining) == (0, 1)  # the row stays for the next flush
    assert f"{status} redirect" in result.error and elsewhere.url in result.error  # says why, for status()
    assert client.status().last_error == result.error
    assert server.requests and server.requests[0].headers["openpanel-client-secret"] == SECRET  # api_url got it
