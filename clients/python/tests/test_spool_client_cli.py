"""The command line, and the package installed with pip into a fresh virtualenv."""
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from conftest import CLIENT_ID, SECRET, Reply
from spool_client import SpoolClient

PACKAGE = Path(__file__).resolve().parents[1]


def _cli(*args, python=sys.executable, env=None):
    env = {**os.environ, "PYTHONPATH": str(PACKAGE), **(env or {})}
    return subprocess.run([python, "-m", "spool_client", *args], capture_output=True, text=True, env=env, timeout=120)


def test_flush_sends_the_buffer_and_prints_the_result(server, buffer_path):
    with SpoolClient(server.url, CLIENT_ID, path=buffer_path) as client:
        for _ in range(3):
            client.track("e")

    done = _cli("flush", "--path", buffer_path, "--api-url", server.url, "--client-id", CLIENT_ID,
                env={"SPOOL_CLIENT_SECRET": SECRET})  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "sent": 3, "accepted": 3, "rejected": 0, "remaining": 0, "retry_after": None, "error": None,
        "old_secret_expires": None,
    }  # fmt: skip
    assert server.requests[0].headers["openpanel-client-secret"] == SECRET


@pytest.mark.parametrize(
    "reply, code",
    [
        (Reply(503, {"error": "unavailable", "message": "later"}, {"Retry-After": "5"}), 75),  # EX_TEMPFAIL
        (Reply(401, {"error": "unauthorized", "message": "no"}), 1),
    ],
)
def test_flush_exit_codes(server, buffer_path, reply, code):
    with SpoolClient(server.url, CLIENT_ID, path=buffer_path) as client:
        client.track("e")
    server.answer = lambda received: reply
    done = _cli("flush", "--path", buffer_path, "--api-url", server.url, "--client-id", CLIENT_ID)
    assert done.returncode == code
    assert json.loads(done.stdout)["remaining"] == 1


def test_status_and_dead_letters(server, buffer_path):
    server.answer = lambda r: Reply(body={"accepted": 1, "rejected": [
        {"index": 1, "reason": "validation", "code": "invalid_field", "error": "payload.name: this field may not be blank"}
    ]})  # fmt: skip
    with SpoolClient(server.url, CLIENT_ID, path=buffer_path) as client:
        client.track("ok")
        client.track("")
        client.flush()
        client.track("waiting")
        device = client.device_id

    status = json.loads(_cli("status", "--path", buffer_path).stdout)
    letters = [json.loads(line) for line in _cli("dead-letters", "--path", buffer_path).stdout.splitlines()]

    assert (status["pending"], status["dead_letters"], status["device_id"]) == (1, 1, device)
    assert status["last_sent_at"] and status["last_error"] is None
    [letter] = letters
    assert (letter["code"], letter["error"]) == ("invalid_field", "payload.name: this field may not be blank")
    assert letter["event"]["payload"]["name"] == ""


def test_status_of_a_missing_buffer_creates_nothing(tmp_path):
    done = _cli("status", "--path", str(tmp_path / "nope.db"))
    assert done.returncode == 2 and "no buffer" in done.stderr
    assert not (tmp_path / "nope.db").exists()


def test_pip_installs_it_into_a_fresh_virtualenv(tmp_path, server):
    """`pip install ./clients/python`, as a user types it (pip fetches the build backend, setuptools,
    from the package index; the client itself needs nothing but the standard library)."""
    source = tmp_path / "source"  # a copy: the build writes build/ and *.egg-info beside the sources
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"))
    home = tmp_path / "venv"
    venv.create(home, with_pip=True)
    python = str(home / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr

    script = (
        "import spool_client, sys;"
        f"c = spool_client.SpoolClient({server.url!r}, 'id', path={str(tmp_path / 'b.db')!r});"
        "c.track('installed'); print(spool_client.__version__, c.flush().accepted); c.close()"
    )
    done = subprocess.run([python, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [spool_client_version(), "1"]
    status = subprocess.run([str(home / "bin" / "spool-client"), "status", "--path", str(tmp_path / "b.db")],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert json.loads(status.stdout)["pending"] == 0


def spool_client_version():
    import spool_client

    return spool_client.__version__
