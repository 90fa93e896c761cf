"""gunicorn's settings for Spool, read from the working directory by every `gunicorn` started here
(`make run`, the image, compose, the tests' live stacks). Command-line options still win.

The worker class is Spool's own (config/web_worker.py): threads, fed by an event loop that reads
every request whole, with deadlines, before a thread sees it, and shares the threads fairly between
projects (contract §11 r3: slow clients hold no worker that others need). Its limits are settings
of config/env.py (docs/operations.md, "The web server").

/metrics counts requests in every worker process (prometheus-client's multiprocess mode): the
workers write their counts into one folder, and a scrape of any worker adds them all up. The folder
must be set before a worker imports prometheus-client, so it is set here, in the master, and emptied
when the master starts; a worker that exits has its live gauges dropped.
"""
import os
import shutil
import sys
import tempfile
from pathlib import Path

from config import SettingError

# The web processes parse a body over 1 MiB one at a time, all processes together (ingest/api/wire.py):
# the lock file is made here, before config.env reads its name and the workers are forked.
_OWN_LOCK = not os.environ.get("SPOOL_PARSE_LOCK")
if _OWN_LOCK:
    os.environ["SPOOL_PARSE_LOCK"] = tempfile.mkstemp(prefix="spool-parse-", suffix=".lock")[1]

try:
    from config import env  # noqa: E402 - after the lock file's name is in the environment
except SettingError as error:  # a wrong setting: its one line, as manage.py and config/wsgi.py print it
    sys.exit(f"spool: {error}")

worker_class = "config.web_worker.SpoolWorker"
logger_class = "config.web_logs.SpoolLogger"  # LOG_FORMAT=json: gunicorn's lines are JSON too
workers = env.WEB_CONCURRENCY
threads = env.WEB_THREADS
worker_connections = env.WEB_CONNECTIONS
keepalive = 5  # seconds a kept-alive connection may stay idle (an SDK sends its next event soon)

# gunicorn's control socket (gunicornc) in a folder of this instance's own: its default,
# ~/.gunicorn/gunicorn.ctl, was one path shared by every gunicorn of the user, and missing for the
# image's user without a home. `--control-socket PATH` on the command line still wins.
_CONTROL_FOLDER = tempfile.mkdtemp(prefix="spool-gunicorn-")
control_socket = os.path.join(_CONTROL_FOLDER, "gunicorn.ctl")

_OWN_FOLDER = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_FOLDER:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="spool-metrics-")


def on_starting(server):
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob("*.db"):  # counts of an earlier run of this folder
        leftover.unlink()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    shutil.rmtree(_CONTROL_FOLDER, ignore_errors=True)
    if _OWN_FOLDER:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    if _OWN_LOCK:
        Path(os.environ["SPOOL_PARSE_LOCK"]).unlink(missing_ok=True)
