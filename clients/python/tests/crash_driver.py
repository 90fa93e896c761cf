"""Run one client call in this process and SIGKILL the process at a chosen point inside it: the
`nth` of these events of the function named `where`: its entry, and each C-level call and return
it makes directly (a SQLite statement, a COMMIT); `where` spelled `name:call` counts its entries
only (the nth call of it). Used by test_spool_client_crash.py; the client's code is not changed.

    python crash_driver.py URL PATH track|flush WHERE NTH
Exits 0 when the call ended before the nth point (the test has then passed every point).
Against a real Spool (tests/integration/test_offline_client.py), the environment gives the
credentials (CRASH_CLIENT_ID, CRASH_CLIENT_SECRET) and CRASH_REAL_CLOCK=1 the real time; the
fake server's tests use a fixed clock in the past, so that a backoff never delays their restart."""
import os
import signal
import sys
import time

from spool_client import SpoolClient

url, path, call, where, nth = sys.argv[1:6]
where, _, only = where.partition(":")
counted = ("call",) if only == "call" else ("call", "c_call", "c_return")
clock = time.time if os.environ.get("CRASH_REAL_CLOCK") else lambda: 1_764_000_000.0
client_id, secret = os.environ.get("CRASH_CLIENT_ID", "id"), os.environ.get("CRASH_CLIENT_SECRET", "secret")
client = SpoolClient(url, client_id, secret, path=path, clock=clock, max_buffer_events=5)
seen = 0


def _profile(frame, event, arg):
    global seen
    if event in counted and frame.f_code.co_name == where:
        seen += 1
        if seen == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)


sys.setprofile(_profile)
if call == "track":
    client.track("crash", {"n": 99})
else:
    client.flush()
sys.setprofile(None)
client.close()
