"""The admin's ingestion health page (superusers): queue and buffer lengths with the oldest waiting
item, jobs waiting for a retry and failed jobs (requeue) with their last error, the last run of each
periodic job, pending session ends, ClickHouse reachable or not, and Redis memory against its mark.
Each part that cannot be read says so.

A periodic job that never ran is late only once its first run is due: the run a worker scheduled (RQ
jobs: rotate-salts runs at the next 00:00 UTC), or one interval after the oldest running worker
started (the worker's own upkeep). With neither, no worker is running, which is worth the alarm."""
import logging
from datetime import UTC, datetime

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST
from redis.exceptions import RedisError
from rq import Worker

from ingest.worker import registry, schedule
from storage.clickhouse import client as clickhouse
from storage.queue import backlog, blocks, queues
from storage.redis import client as redis
from storage.redis import reserve

logger = logging.getLogger(__name__)
FAILED_SHOWN = 50
RETRYING_SHOWN = 50  # per queue
LATE_SLACK = 60  # seconds past its due time before a periodic job is called late
DAY = 86_400


def _superuser(request) -> None:
    if not request.user.is_superuser:
        raise PermissionDenied("the ingestion health page is for superusers")


def _clickhouse() -> str:
    try:
        clickhouse.ping(2)
    except Exception as error:
        return f"does not answer ({type(error).__name__}); events wait in Redis"
    return "ok"


def _memory_mark(state: backlog.Backlog) -> int:
    """The high-water mark in bytes, as admission control applies it (0 when Redis has neither a mark
    nor a maxmemory)."""
    return reserve.mark(state.max_memory)


def _last_line(traceback: str) -> str:
    return (traceback.strip().splitlines() or [""])[-1]


def _failed() -> list[dict]:
    jobs = queues.failed_jobs()[:FAILED_SHOWN]
    return [
        {"id": job.id, "queue": job.origin, "func": job.func_name, "events": blocks.events_in(job),
         "ended": job.ended_at, "error": _last_line(job.exc_info or "")}
        for job in jobs
    ]  # fmt: skip


def _retrying() -> list[dict]:
    return [
        {"id": job.id, "queue": job.origin, "func": job.func_name, "events": blocks.events_in(job),
         "due": datetime.fromtimestamp(due, tz=UTC), "left": job.retries_left, "error": _last_line(error)}
        for job, due, error in queues.retrying_jobs(RETRYING_SHOWN)
    ]  # fmt: skip


def interval(seconds: int, aligned: bool) -> str:
    """How often a periodic job runs, as people say it; `aligned`: its runs fall on multiples of the
    interval since the epoch (RQ jobs), so a day is midnight UTC."""
    if aligned and seconds % DAY == 0:
        return "daily at 00:00 UTC" if seconds == DAY else f"every {seconds // DAY} days at 00:00 UTC"
    if aligned and seconds == 3600:
        return "hourly, on the hour"
    if seconds % 3600 == 0:
        return f"every {seconds // 3600} h"
    if seconds % 60 == 0:
        return "every minute" if seconds == 60 else f"every {seconds // 60} min"
    return f"every {seconds} s"


def _oldest_worker_start() -> float | None:
    births = [worker.birth_date for worker in Worker.all(connection=redis.client()) if worker.birth_date]
    return min(birth.timestamp() for birth in births) if births else None


def _first_due(task: registry.Periodic, worker_start: float | None) -> float | None:
    if task.queue is registry.UPKEEP:
        return worker_start + task.every if worker_start is not None else None
    return schedule.scheduled_due(task)


def _periodic(now: float) -> list[dict]:
    runs = schedule.last_runs()
    worker_start = _oldest_worker_start()
    rows = []
    for name, task in registry.periodic_tasks().items():
        run, due = runs.get(name), None
        if run is not None:
            late = now - run["at"] > 2 * task.every + LATE_SLACK
        else:
            due = _first_due(task, worker_start)
            late = due is None or now > due + LATE_SLACK
        rows.append({
            "name": name, "every": interval(task.every, aligned=task.queue is not registry.UPKEEP), "run": run,
            "at": datetime.fromtimestamp(run["at"], tz=UTC) if run else None, "late": late,
            "due": datetime.fromtimestamp(due, tz=UTC) if due is not None else None,
        })  # fmt: skip
    return rows


def page(request):
    _superuser(request)
    now = datetime.now(UTC).timestamp()
    context = {**admin.site.each_context(request), "title": "Ingestion health", "clickhouse": _clickhouse()}
    try:
        state = backlog.read(now)
        context.update(backlog=state, failed=_failed(), retrying=_retrying(), periodic=_periodic(now),
                       mark=_memory_mark(state))  # fmt: skip
        context["memory_share"] = state.used_memory / context["mark"] if context["mark"] else 0
    except RedisError as error:
        logger.warning("health page: Redis does not answer: %s", error)
        context["redis_error"] = f"Redis does not answer ({type(error).__name__}): the API answers 503 until it is back"
    return TemplateResponse(request, "admin/spool/health.html", context)


@require_POST
def requeue(request):
    _superuser(request)
    try:
        count = queues.requeue_failed()
    except RedisError as error:
        messages.error(request, f"Redis does not answer ({type(error).__name__}); nothing was requeued")
    else:
        messages.success(request, f"Requeued {count} failed job(s), each with a fresh set of retries.")
    return redirect("spool-explorer:health")
