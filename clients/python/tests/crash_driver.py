"""Run one client call in this process and SIGKILL the process at a chosen point inside it: the
`nth` of these events of the function named `where`: its entry, and each C-level call and return
it makes directly (a SQLite statement, a COMMIT). Used by test_spool_client_crash.py; the client's code is not changed.

    python crash_driver.py URL PATH track|flush WHERE NTH
Exits 0 when the call ended before the nth point (the test has then passed every point)."""
import os
import signal
import sys

from spool_client import SpoolClient

url, path, call, where, nth = sys.argv[1:6]
client = SpoolClient(url, "id", "secret", path=path, clock=lambda: 1_764_000_000.0, max_buffer_events=5)
seen = 0


def _profile(frame, event, arg):
    global seen
    if event in ("call", "c_call", "c_return") and frame.f_code.co_name == where:
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
