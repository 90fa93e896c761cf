"""Periodic work (ingest/schedule.py) and what survives a killed worker."""
import time
from datetime import datetime, timezone

import pytest
import requests
from django.test import override_settings
from rq.registry import ScheduledJobRegistry

from ingest.worker.schedule import ensure_periodic_jobs, last_runs, run_periodic
from ingest.worker.upkeep import Upkeep
from projects.models import Salt
from storage.queue import queues as queue
from tests.support import stored
from tests.support.agents import IPHONE_UA
from tests.support.live import LiveStack
from tests.support.waiting import eventually

pytestmark = pytest.mark.django_db


def scheduled(queue_name: str) -> dict[str, datetime]:
    registry = ScheduledJobRegistry(queue=queue.queue(queue_name))
    return {job_id: registry.get_scheduled_time(job_id) for job_id in registry.get_job_ids()}


def test_salts_rotate_daily_at_midnight_utc(project):
    now = datetime(2026, 11, 29, 15, 40, tzinfo=timezone.utc).timestamp()
    ensure_periodic_jobs(now)
    ensure_periodic_jobs(now)  # a second worker scheduling the same run adds nothing
    runs = {job_id: when for job_id, when in scheduled(queue.DEFAULT).items() if "rotate-salts" in job_id}
    assert list(runs.values()) == [datetime(2026, 11, 30, 0, 0, tzinfo=timezone.utc)]
    before = set(Salt.objects.filter(project=project).values_list("salt", flat=True))
    run_periodic("rotate-salts")
    after = list(Salt.objects.filter(project=project).order_by("-created_at", "-id").values_list("salt", flat=True))
    assert len(after) == 2
    assert after[0] not in before and after[1] in before


def test_session_sweeps_are_the_workers_upkeep_every_interval_one_worker_at_a_time():
    """Not an RQ job any more (a full Redis could not create it): every worker's loop looks, and the
    sweep runs once per SESSION_SWEEP_SECONDS however many workers look (ingest/worker/upkeep.py)."""
    with override_settings(SESSION_SWEEP_SECONDS=30):
        ensure_periodic_jobs()
        assert scheduled(queue.SESSIONS) == {}
        first, second = Upkeep(), Upkeep()
        start = time.time()
        first.tick(lambda: True, now=start)
        ran = last_runs()["close-sessions"]
        assert ran["outcome"] == "ok" and ran["at"] >= start
        second.tick(lambda: True, now=start + 1)  # another worker, a moment later: not due
        assert last_runs()["close-sessions"] == ran
        second.tick(lambda: True, now=start + 31)
        assert last_runs()["close-sessions"]["at"] > ran["at"]


def test_a_worker_killed_between_two_events_still_ends_the_session_once(tmp_path, django_db_blocker):
    with django_db_blocker.unblock():
        stack = LiveStack(tmp_path, SESSION_TIMEOUT_SECONDS=6, SESSION_SWEEP_SECONDS=2).start()
    try:
        credentials = stack.create_project("--name", "Killed worker")
        project_id = credentials["project_id"]
        headers = {
            "openpanel-client-id": credentials["client_id"],
            "openpanel-client-secret": credentials["client_secret"],
            "user-agent": IPHONE_UA,
        }

        def send(name):
            body = {"type": "track", "payload": {"name": name, "properties": {"__path": f"/{name}"}}}
            return requests.post(f"{stack.url}/track", json=body, headers=headers, timeout=10).json()

        first = send("first")
        eventually(lambda: stored.count(project_id, "name = 'first'"), 30, what="the first event")
        stack.kill_workers()  # SIGKILL, scheduler included
        time.sleep(1)
        second = send("second")
        assert second["sessionId"] == first["sessionId"]
        stack.start_worker()
        eventually(lambda: stored.count(project_id, "name = 'session_end'"), 90, what="the session end")
        time.sleep(5)  # more sweeps pass; none may add a second end
        [end] = stored.events(project_id, "name = 'session_end'")
        assert end["session_id"] == first["sessionId"]
        assert end["path"] == "/second"
        events = {row["name"]: row for row in stored.events(project_id, "name IN ('first', 'second')")}
        assert end["duration"] == events["second"]["ms"] - events["first"]["ms"]
        assert stored.count(project_id, "name = 'session_start'") == 1
        assert stored.count(project_id, "name = 'session_end'", final=False) == 1
    finally:
        stack.stop()
