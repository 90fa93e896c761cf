"""The admin's ingestion health page (superusers): queue and buffer lengths with the oldest waiting
item, failed jobs (requeue), the last run of each periodic job, pending session ends, ClickHouse
reachable or not, and Redis memory against its mark. Each part that cannot be read says so."""
import logging
from datetime import UTC, datetime

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST
from redis.exceptions import RedisError

from ingest.worker import registry, schedule
from storage.clickhouse import client as clickhouse
from storage.queue import backlog, blocks, queues
from storage.redis import reserve

logger = logging.getLogger(__name__)
FAILED_SHOWN = 50


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


def _failed() -> list[dict]:
    jobs = queues.failed_jobs()[:FAILED_SHOWN]
    return [
        {"id": job.id, "queue": job.origin, "func": job.func_name, "events": blocks.events_in(job),
         "ended": job.ended_at, "error": ((job.exc_info or "").strip().splitlines() or [""])[-1]}
        for job in jobs
    ]  # fmt: skip


def _periodic(now: float) -> list[dict]:
    runs = schedule.last_runs()
    rows = []
    for name, task in registry.periodic_tasks().items():
        run = runs.get(name)
        late = run is None or now - run["at"] > 2 * task.every + 60
        rows.append({"name": name, "every": task.every, "run": run,
                     "at": datetime.fromtimestamp(run["at"], tz=UTC) if run else None, "late": late})  # fmt: skip
    return rows


def page(request):
    _superuser(request)
    now = datetime.now(UTC).timestamp()
    context = {**admin.site.each_context(request), "title": "Ingestion health", "clickhouse": _clickhouse()}
    try:
        state = backlog.read(now)
        context.update(backlog=state, failed=_failed(), periodic=_periodic(now), mark=_memory_mark(state))
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
