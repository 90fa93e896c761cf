"""Deploys lose nothing (issue 17, finding 1): a worker stopped at any moment finishes or gives back
what it holds, with one SIGTERM, two, or a SIGKILL.

The stacks are real (gunicorn, `manage.py runworker`, a Redis of their own); the stops are real signals.
"""
import os
import random
import signal
import subprocess
import time

import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from tests.integration.test_faults import _exactly_once, _offline_batches, _post, _start, private_redis, stacks
from tests.support import stored
from tests.support.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["private_redis", "stacks"]  # fixtures, used by name

GAP_WORKER = ("--worker-class", "tests.support.gap_worker.GapWorker")
LANES = ("events", "bulk")


def _accept(stack, project, total: int, name: str) -> None:
    for batch in _offline_batches(total, name=name):
        assert _post(stack, project, "/track/batch", {"events": batch}).json()["rejected"] == []


def _signal(worker, sig) -> None:
    # The whole process group: the worker and RQ's scheduler beside it, as a deploy stops them.
    os.killpg(worker.pid, sig)


def _stored_all(project_id: str, name: str, total: int, timeout: float) -> None:
    try:
        eventually(lambda: stored.count(project_id, f"name = '{name}'") == total, timeout, every=0.5)
    except AssertionError:
        found = stored.count(project_id, f"name = '{name}'")
        raise AssertionError(f"stored {found} of {total}") from None


def _idle(client) -> bool:
    lanes = [Queue(name, connection=client, serializer=JSONSerializer) for name in LANES]
    return not any(lane.count or lane.started_job_registry.get_job_count(cleanup=False) for lane in lanes)


# --- the gap between taking a job and starting it, held open --------------------------------------
@pytest.mark.parametrize("stop", ["sigterm", "sigterm twice", "sigkill"])
def test_a_worker_stopped_between_taking_a_job_and_starting_it_loses_nothing(stop, stacks, tmp_path, private_redis):
    gap = tmp_path / "gap-files"
    gap.mkdir()
    name = f"gap-{stop.replace(' ', '-')}"  # a project of its own: the ClickHouse database is shared
    stack, project = _start(stacks, tmp_path, name, workers=0, redis_url=private_redis.url(),
                            SPOOL_TEST_GAP_DIR=gap)  # fmt: skip
    pid = project["project_id"]
    _accept(stack, project, 1500, name)  # three chunk jobs

    worker = stack.start_worker(*GAP_WORKER)
    eventually(lambda: list(gap.glob("taken-*")), 60, every=0.05, what="the worker to take a chunk job")
    if stop == "sigkill":
        _signal(worker, signal.SIGKILL)
    else:
        _signal(worker, signal.SIGTERM)
        if stop == "sigterm twice":
            time.sleep(1.2)  # RQ ignores a second signal within a second of the first
            _signal(worker, signal.SIGTERM)
        else:
            (gap / "go").touch()  # a warm stop: the worker may still run the job it holds
    worker.wait(30)
    stack.workers.remove(worker)

    stack.start_worker()
    # A killed worker's job comes back once held for 30 s (storage/queue/holding.py) and a maintenance tick (20 s).
    _stored_all(pid, name, 1500, 90)
    eventually(lambda: _idle(private_redis.client()), 30, every=0.5)
    _exactly_once(pid, name, 1500)


# --- a stop during the worker's maintenance ----------------------------------------------------------
def test_a_worker_told_to_stop_during_its_maintenance_stops(stacks, tmp_path, private_redis):
    """RQ's SIGTERM raised StopRequested, an Exception, wherever the worker was: in its maintenance an
    `except Exception` swallowed it and the worker ran on until SIGKILL. A long maintenance is held
    open here by 20,000 overdue scheduled entries for the worker to take back (of jobs long gone)."""
    stack, _ = _start(stacks, tmp_path, "stop-in-maintenance", workers=0, redis_url=private_redis.url())
    client = private_redis.client()
    overdue = ScheduledJobRegistry("events", connection=client, serializer=JSONSerializer)
    client.zadd(overdue.key, {f"gone-{n}": 1_000_000 + n for n in range(20_000)})
    worker = stack.start_worker("--no-scheduler")  # only this worker takes them back
    eventually(lambda: overdue.count < 20_000, 60, every=0.05, what="the maintenance to start")
    _signal(worker, signal.SIGTERM)
    try:
        assert worker.wait(60) == 0
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the worker ran on after SIGTERM ({overdue.count} entries left)") from None
    stack.workers.remove(worker)


# --- dozens of SIGTERMs at random moments while a backlog drains ----------------------------------
RESTARTS = 24
LOW, TOP_UP = 15_000, 10_000  # events waiting: below LOW before a restart, TOP_UP more are sent


def _waiting_chunks(client) -> int:
    return sum(Queue(name, connection=client, serializer=JSONSerializer).count for name in LANES)


def test_a_backlog_drains_through_dozens_of_sigterms(stacks, tmp_path, private_redis):
    # Blocks of one or two chunks: many job cycles, so many moments between two jobs to stop in.
    stack, project = _start(stacks, tmp_path, "deploys", workers=0, redis_url=private_redis.url(),
                            WORKER_BLOCK_BYTES=65_536, JOB_RETRY_INTERVALS="1,1,1,1,1,1,1,1,1,1")  # fmt: skip
    pid, client, total = project["project_id"], private_redis.client(), 0

    def top_up() -> None:
        """Keep a backlog for every restart, whatever the machine's speed: a stop with nothing waiting
        tests nothing."""
        nonlocal total
        while _waiting_chunks(client) * 500 < LOW:
            for batch in _offline_batches(TOP_UP, name="deploy"):
                for event in batch:
                    event["payload"]["properties"]["i"] += total  # every event its own `i`
                assert _post(stack, project, "/track/batch", {"events": batch}).json()["rejected"] == []
            total += TOP_UP

    seed = random.randrange(2**32)
    chance = random.Random(seed)
    for restart in range(RESTARTS):
        top_up()
        # Without RQ's scheduler process, which takes a second to stop: this test is about the jobs.
        worker = stack.start_worker("--no-scheduler")
        eventually(lambda: client.scard("rq:workers") >= 1, 60, every=0.05, what="the worker to register")
        time.sleep(chance.uniform(0, 0.8))  # a random moment of its work: the point of this test
        assert _waiting_chunks(client), f"seed {seed}, restart {restart}: the backlog ran out; nothing was tested"
        _signal(worker, signal.SIGTERM)
        assert worker.wait(60) == 0, f"seed {seed}: the worker did not stop by itself on SIGTERM"
        stack.workers.remove(worker)

    stack.start_worker()
    try:
        _stored_all(pid, "deploy", total, 90)
    except AssertionError as error:
        raise AssertionError(f"seed {seed}, {RESTARTS} restarts: {error}") from None
    eventually(lambda: _idle(client), 30, every=0.5)
    assert not any(Queue(n, connection=client, serializer=JSONSerializer).failed_job_registry.count for n in LANES)
    _exactly_once(pid, "deploy", total)
