"""`GET /metrics` in Prometheus text format, correct with any number of gunicorn workers and hosts.

Two sources (docs/operations.md#metrics):
- HTTP requests by route, method and status, and their duration, are counted in each web process
  by prometheus-client. Under gunicorn, `gunicorn.conf.py` gives the workers a shared
  PROMETHEUS_MULTIPROC_DIR, and every worker's scrape adds up all of them.
- Everything else is read from Redis at scrape time, where every process (web, worker,
  `replay_events`) already counts it exactly: rows accepted and rejected, crawler drops
  (storage/redis/counters.py),
  queue and buffer depths, the age of the oldest waiting job, pending session ends
  (storage/queue/backlog.py), ClickHouse insert time and failures. These are the same whichever web
  process, or host, is scraped.
"""
import logging
import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric

from storage.queue import backlog
from storage.redis import counters

logger = logging.getLogger(__name__)

REQUESTS = Counter(
    "spool_http_requests", "HTTP requests answered, by route, method and status.", ["route", "method", "status"],
    registry=None,
)  # fmt: skip
REQUEST_SECONDS = Histogram(
    "spool_http_request_duration_seconds", "Time to answer an HTTP request, by route.", ["route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0), registry=None,
)  # fmt: skip


# Label values come from a fixed set: every new value is a new series in every scrape, so a value a
# client chooses (any token is a valid HTTP method) would grow Prometheus without bound.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str | None) -> str:
    return method if method in METHODS else "other"


def status_label(status: int) -> str:
    return str(status) if 100 <= status <= 599 else "other"


def observe_request(route: str, method: str | None, status: int, seconds: float) -> None:
    REQUESTS.labels(route, method_label(method), status_label(status)).inc()
    REQUEST_SECONDS.labels(route).observe(seconds)


def _gauge(name: str, text: str, labels: list[str], values: list[tuple[list[str], float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text, labels=labels)
    for label_values, value in values:
        family.add_metric(label_values, value)
    return family


class SpoolCollector:
    """The metrics kept in Redis, read at each scrape (three round trips)."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("spool_redis_up", "1 when Redis answered this scrape.")
        try:
            accepted, rejected = counters.totals()
            state = backlog.read()
            inserts = counters.insert_stats()
            crawlers = counters.crawler_totals()
        except Exception as error:  # Redis away: say so, and still serve the request metrics
            logger.warning("metrics: Redis does not answer: %s", error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _events(accepted, rejected)
        yield from _crawlers(crawlers)
        yield from _backlog(state)
        yield from _inserts(inserts)


def _events(accepted: dict, rejected: dict) -> Iterator[Metric]:
    family = CounterMetricFamily(
        "spool_events_accepted", "Rows accepted (durably queued), by project.", labels=["project"]
    )
    for project, count in sorted(accepted.items()):
        family.add_metric([project], count)
    yield family
    family = CounterMetricFamily(
        "spool_events_rejected", "Rows rejected, by project, reason and code.", labels=["project", "reason", "code"]
    )
    for (project, reason, code), count in sorted(rejected.items()):
        family.add_metric([project, reason, code], count)
    yield family


def _crawlers(totals: dict) -> Iterator[Metric]:
    """Crawler traffic answered and not stored (contract §6.4 r3), by project and crawler name."""
    for kind, text in (("events", "Events of crawlers answered and not stored"), ("requests", "Crawler requests")):
        family = CounterMetricFamily(
            f"spool_crawler_{kind}_dropped", f"{text}, by project and crawler name.", labels=["project", "crawler"]
        )
        for (project, crawler, counted), count in sorted(totals.items()):
            if counted == kind:
                family.add_metric([project, crawler], count)
        yield family


def _backlog(state: backlog.Backlog) -> Iterator[Metric]:
    queues = [([q.name], q) for q in state.queues]
    yield _gauge("spool_queue_jobs", "Jobs waiting in each RQ queue.", ["queue"], [(n, q.waiting) for n, q in queues])
    yield _gauge("spool_queue_oldest_job_age_seconds", "How long the first waiting job of each queue has waited.",
                 ["queue"], [(n, q.oldest_age) for n, q in queues])  # fmt: skip
    yield _gauge("spool_queue_running_jobs", "Jobs running.", ["queue"], [(n, q.running) for n, q in queues])
    yield _gauge("spool_queue_scheduled_jobs", "Retries and periodic runs waiting for their time.", ["queue"],
                 [(n, q.scheduled) for n, q in queues])  # fmt: skip
    yield _gauge("spool_queue_failed_jobs", "Jobs that used up their retries (manage.py failed_jobs).", ["queue"],
                 [(n, q.failed) for n, q in queues])  # fmt: skip
    buffers = [([b.name], b) for b in state.buffers]
    yield _gauge("spool_buffer_items", "Packets waiting in each Redis buffer.", ["buffer"],
                 [(n, b.waiting) for n, b in buffers])  # fmt: skip
    yield _gauge("spool_buffer_oldest_age_seconds", "Age of the oldest packet in each buffer.", ["buffer"],
                 [(n, b.oldest_age) for n, b in buffers])  # fmt: skip
    yield _gauge("spool_session_ends_pending", "Sessions waiting for their session_end row.", ["kind"],
                 [(["live"], state.live_ends), (["historical"], state.historical_ends)])  # fmt: skip
    yield _gauge("spool_session_ends_overdue", "Pending session ends already due (the sweep is behind if it grows).",
                 [], [([], state.overdue_ends)])  # fmt: skip
    yield _gauge("spool_redis_used_memory_bytes", "Redis used_memory.", [], [([], state.used_memory)])
    yield _gauge("spool_redis_max_memory_bytes", "Redis maxmemory (0: none).", [], [([], state.max_memory)])


def _inserts(tables: dict) -> Iterator[Metric]:
    seconds = HistogramMetricFamily(
        "spool_clickhouse_insert_duration_seconds", "Time of each ClickHouse insert, by table.", labels=["table"]
    )
    rows = CounterMetricFamily("spool_clickhouse_inserted_rows", "Rows inserted into ClickHouse.", labels=["table"])
    failures = CounterMetricFamily(
        "spool_clickhouse_insert_failures", "ClickHouse inserts that failed (the job retries).", labels=["table"]
    )
    for table, stats in sorted(tables.items()):
        seconds.add_metric([table], [(bound, count) for bound, count in stats["buckets"]], stats["seconds"])
        rows.add_metric([table], stats["rows"])
        failures.add_metric([table], stats["failures"])
    yield from (seconds, rows, failures)


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # every gunicorn worker's request counts
    else:
        registry.register(REQUESTS)
        registry.register(REQUEST_SECONDS)
    registry.register(SpoolCollector())
    return registry


_REGISTRY = _registry()


def exposition() -> bytes:
    return generate_latest(_REGISTRY)
