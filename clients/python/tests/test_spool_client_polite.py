"""Politeness: Retry-After, backoff with full jitter (capped, never spinning), 401, network faults,
the background flusher, and the User-Agent that makes Spool read a device."""
import email.utils
import re
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from conftest import Reply
from spool_client import backoff
from spool_client.agent import platform_name


@pytest.mark.parametrize(
    "failures, highest",
    [(1, 1), (2, 2), (3, 4), (4, 8), (9, 256), (10, 300), (50, 300), (10_000, 300)],
)
def test_backoff_doubles_up_to_its_cap(failures, highest):
    assert backoff.jittered(failures, 1.0, 300.0, 1.0, lambda low, high: high) == highest
    assert backoff.jittered(failures, 1.0, 300.0, 1.0, lambda low, high: low) == 1.0  # the floor: never 0


def test_full_jitter_spreads_over_the_whole_range():
    draws = [backoff.full_jitter(6, 1.0, 300.0, 1.0) for _ in range(2000)]
    assert min(draws) >= 1.0 and max(draws) <= 32.0
    assert len({round(draw) for draw in draws}) > 20  # spread, not a fixed delay


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": " 12 "}, 12.0),
        ({"retry-after": "12"}, 12.0),  # header names in any case (HTTP/2 proxies send lower case)
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "99999"}, 3600.0),  # capped
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({}, None),
        # An HTTP date counts from the answer's own Date, not from a device clock that may be days off.
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:30 GMT", "Date": "Wed, 21 Oct 2026 07:28:00 GMT"}, 30.0),
    ],
)
def test_retry_after(headers, expected):
    assert backoff.retry_after(headers, now=0.0, cap=3600.0) == expected


def test_retry_after_as_a_date_without_a_date_header_counts_from_the_device_clock():
    now = 1_800_000_000.0
    header = email.utils.formatdate(now + 40, usegmt=True)
    assert backoff.retry_after({"Retry-After": header}, now=now, cap=3600.0) == 40.0


@pytest.mark.parametrize("status", [429, 503])
def test_429_and_503_wait_as_long_as_the_server_says(client, server, clock, status):
    server.answer = lambda r: Reply(status, {"error": "quota", "message": "slow down"}, {"Retry-After": "7"})
    client.track("e")

    result = client.flush()
    assert (result.retry_after, result.remaining) == (7.0, 1)
    assert result.error == f"{status} quota: slow down"

    clock.advance(6)
    again = client.flush()
    assert len(server.requests) == 1 and again.retry_after == pytest.approx(1.0)  # still waiting: nothing sent

    server.answer = lambda r: Reply()
    clock.advance(1)
    assert client.flush().accepted == 1 and len(server.requests) == 2


def test_retry_after_0_still_waits_the_floor(client, server):
    server.answer = lambda r: Reply(429, {"error": "quota", "message": ""}, {"Retry-After": "0"})
    client.track("e")
    assert client.flush().retry_after == 1.0


def test_the_wait_is_kept_in_the_file_for_every_process(make_client, server, clock):
    server.answer = lambda r: Reply(503, {"error": "unavailable", "message": ""}, {"Retry-After": "30"})
    make_client().track("e")
    make_client().flush()
    assert make_client().flush().retry_after == 30.0 and len(server.requests) == 1


def test_5xx_backs_off_exponentially_with_jitter_and_a_cap(make_client, server, clock):
    client = make_client()
    client.backoff_cap = 10.0
    server.answer = lambda r: Reply(500, {"error": "internal", "message": "boom"})
    client.track("e")
    waits = []
    for _ in range(8):
        result = client.flush()
        waits.append(result.retry_after)
        clock.advance(result.retry_after)
    assert waits[0] == 1.0  # the first ceiling is the base, and the floor is 1 s
    assert all(1.0 <= wait <= min(10.0, 2**number) for number, wait in enumerate(waits))
    assert len(server.requests) == 8 and client.pending() == 1

    server.answer = lambda r: Reply()
    client.flush()
    server.answer = lambda r: Reply(502, b"<html>bad gateway</html>")
    client.track("e")
    result = client.flush()
    assert result.retry_after == 1.0  # a success starts the backoff over
    assert result.error == "502 <html>bad gateway</html>"


def test_a_device_clock_that_jumps_back_does_not_stretch_the_wait(client, server, clock):
    server.answer = lambda r: Reply(503, {"error": "unavailable", "message": ""}, {"Retry-After": "60"})
    client.track("e")
    client.flush()
    clock.advance(-2 * 86400)  # the device set its clock back two days
    assert client.flush().retry_after == 60.0
    server.answer = lambda r: Reply()
    clock.advance(60)
    assert client.flush().accepted == 1


@pytest.mark.parametrize("action", ["drop", "cut", "hang"])
def test_a_lost_answer_keeps_the_rows_and_the_retry_sends_the_same_ids(make_client, server, clock, action):
    client = make_client()
    client.timeout = 0.5
    server.answer = lambda r: Reply(action=action)
    for number in range(3):
        client.track("e", {"n": number})

    result = client.flush()
    assert result.remaining == 3 and result.error.startswith("network:") and result.retry_after >= 1.0

    server.answer = lambda r: Reply()
    clock.advance(result.retry_after)
    assert client.flush().accepted == 3
    first, second = server.requests[0], server.requests[-1]
    assert first.lines == second.lines  # byte for byte the same envelopes: they collapse on the server


def test_no_server_at_all(make_client, clock):
    client = make_client(api_url="http://127.0.0.1:9")  # nothing listens on the discard port
    client.track("e")
    result = client.flush()
    assert result.remaining == 1 and "network" in result.error and "refused" in result.error.lower()
    assert client.status().last_error == result.error


def test_401_stops_keeps_everything_and_says_why(make_client, server, clock):
    client = make_client()
    server.answer = lambda r: Reply(401, {"error": "unauthorized", "message": "wrong secret"})
    client.track("e")

    result = client.flush()

    assert result.retry_after is None and result.remaining == 1
    assert result.error.startswith("401 unauthorized: wrong secret") and "kept" in result.error
    assert client.status().last_error == result.error
    server.answer = lambda r: Reply()
    assert client.flush().accepted == 1  # an explicit flush tries again (the secret may be back)


def test_the_background_flusher_sends_and_stops(make_client, server):
    client = make_client(clock=time.time)
    client.track("e")
    client.start(interval=0.05)
    deadline = time.monotonic() + 5
    while client.pending() and time.monotonic() < deadline:
        time.sleep(0.02)
    client.stop()
    assert client.pending() == 0 and len(server.requests) == 1


def test_the_background_flusher_ends_on_401(make_client, server):
    client = make_client(clock=time.time)
    server.answer = lambda r: Reply(401, {"error": "unauthorized", "message": "no"})
    client.track("e")
    client.start(interval=0.01)
    thread = client._thread
    thread.join(timeout=5)
    assert not thread.is_alive() and len(server.requests) == 1 and client.pending() == 1


@pytest.mark.parametrize(
    "answer",
    [
        Reply(500, {"error": "internal", "message": "boom"}),
        Reply(body={"accepted": 0, "rejected": [{"index": 0, "reason": "internal", "code": "internal_error", "error": "x"}]}),
    ],
)
def test_the_background_flusher_never_spins(make_client, server, answer):
    client = make_client(clock=time.time)
    server.answer = lambda r: answer
    client.track("e")
    client.start(interval=0.001)
    time.sleep(2.5)
    client.stop()
    # 0 s, then at least 1 s (the floor), then at least 1 s more: three tries at most in 2.5 s.
    assert 2 <= len(server.requests) <= 3


def test_a_flush_while_another_process_flushes_sends_nothing(client, server, buffer_path):
    client.track("e")
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import fcntl, sys, time
            handle = open({buffer_path + "-flush.lock"!r}, "a")
            fcntl.flock(handle, fcntl.LOCK_EX)
            print("held", flush=True)
            time.sleep(30)
        """)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        result = client.flush()
    finally:
        holder.kill()
        holder.wait()
    assert result.error == "another process is flushing this buffer" and not server.requests
    assert client.flush().accepted == 1  # the lock died with its process


def test_threads_flushing_at_once_send_each_row_once(client, server):
    for _ in range(200):
        client.track("e")
    threads = [threading.Thread(target=client.flush) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(server.insert_ids()) == 200 == len(set(server.insert_ids()))


def test_the_user_agent_names_the_client_and_the_platform(client, server):
    client.track("e")
    client.flush()
    agent = server.requests[0].headers["User-Agent"]
    assert re.fullmatch(r"spool-client/\d+\.\d+\.\d+ \([^;()]+ [^;()]+; Python 3\.\d+\)", agent), agent


def test_the_apps_own_user_agent(make_client, server):
    client = make_client(user_agent="FieldApp/2.3 (Linux armv7l; kiosk)")
    client.track("e")
    client.flush()
    assert server.requests[0].headers["User-Agent"] == "FieldApp/2.3 (Linux armv7l; kiosk)"


@pytest.mark.parametrize(
    "system, machine, mac, expected",
    [
        ("Linux", "x86_64", "", "Linux x86_64"),
        ("Darwin", "arm64", "14.1", "Mac OS X 14_1 arm64"),  # ua-parser knows macOS by this name, not Darwin
        ("Windows", "AMD64", "", "Windows AMD64"),
        ("", "", "", "unknown"),
    ],
)
def test_platform_names(system, machine, mac, expected):
    assert platform_name(system, machine, mac) == expected
