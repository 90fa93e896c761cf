"""ClickHouse: the only module that talks to it. Connections, parameterised queries, bulk columnar
inserts. The SQL text itself lives in storage (schema/, queries.py); apps call functions, not SQL."""
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

# On import, clickhouse-driver builds a table of every date from 1900 to 2299 (146k date objects in
# two dicts: ~15 MB in every web worker, which reads no Date column). Its lazy table (the variable is
# spelled so) gives the same dates, each made when first met (issue 13, B4). Set before the import.
os.environ.setdefault("CLICKHOUSE_DRIVER_LASY_DATE_LUT", "1970-01-01:1970-01-01")

from clickhouse_driver import Client, errors  # noqa: E402
from clickhouse_driver.util.helpers import parse_url  # noqa: E402
from django.conf import settings

from contract.tables import Table
from storage.redis import counters

logger = logging.getLogger(__name__)
_local = threading.local()

# Errors that say ClickHouse is away or busy, not that the rows are wrong: the job waits and retries.
# The driver checks values on our side before sending (a None in a String column is an
# AttributeError, a number too large a TypeMismatchError): those are the rows' fault.
UNAVAILABLE = (
    errors.NetworkError, errors.SocketTimeoutError, errors.ServerException, errors.UnexpectedPacketFromServerError,
    errors.UnknownPacketFromServerError, EOFError, OSError,
)  # fmt: skip


def database() -> str:
    return urlsplit(settings.CLICKHOUSE_URL).path.strip("/") or "default"


def _new_client(url: str, **timeouts: float) -> Client:
    host, options = parse_url(url)
    options.setdefault("connect_timeout", 3)
    options.setdefault("send_receive_timeout", 60)
    options.update(timeouts)
    # A Distributed insert returns once every shard holds the rows, so that a read right after
    # a job sees them (no effect on a single server).
    options["settings"] = {**options.get("settings", {}), "insert_distributed_sync": 1}
    return Client(host, **options)


def client(with_database: bool = True) -> Client:
    """One connection per thread (clickhouse-driver clients are not thread-safe)."""
    key = (settings.CLICKHOUSE_URL, with_database)
    cached = getattr(_local, "clients", {})
    if key not in cached:
        url = settings.CLICKHOUSE_URL
        if not with_database:
            parts = urlsplit(url)
            url = parts._replace(path="/default").geturl()
        cached[key] = _new_client(url)
        _local.clients = cached
    return cached[key]


def ping(timeout: float = 2) -> None:
    """Raise unless ClickHouse answers within `timeout` seconds (on a connection of its own, so
    that a hung server costs the health check `timeout`, not the 60 s an insert may take)."""
    probe = reader(timeout)
    try:
        probe.execute("SELECT 1")
    finally:
        probe.disconnect()


def reset_clients() -> None:
    for connection in getattr(_local, "clients", {}).values():
        connection.disconnect()
    _local.clients = {}


def _forget_inherited_clients() -> None:
    # A forked child must not share its parent's sockets; it opens its own on first use.
    _local.clients = {}


os.register_at_fork(after_in_child=_forget_inherited_clients)


def execute(sql: str, params: dict | None = None, **kwargs: Any) -> Any:
    return client().execute(sql, params, **kwargs)


def execute_iter(sql: str, params: dict | None = None) -> Iterator[Any]:
    """Rows of a large result, streamed block by block instead of held whole."""
    return client().execute_iter(sql, params, settings={"max_block_size": 100_000})


def insert(table: Table, rows: list[dict]) -> int:
    """Write rows (dicts keyed by the table's columns) in one columnar INSERT; return how many."""
    if not rows:
        return 0
    names = table.insert_columns
    columns = [[row[name] for row in rows] for name in names]
    started, ok = time.monotonic(), False
    try:
        client().execute(f"INSERT INTO {database()}.{table.name} ({', '.join(names)}) VALUES", columns, columnar=True)
        ok = True
    finally:
        _count_insert(table.name, time.monotonic() - started, len(rows), ok)
    return len(rows)


def _count_insert(table: str, seconds: float, rows: int, ok: bool) -> None:
    """The insert's time or failure, for /metrics; never in the way of the insert itself."""
    try:
        counters.record_insert(table, seconds, rows, ok)
    except Exception as error:  # Redis away: the job's own outcome matters more than its metric
        logger.warning("could not count a ClickHouse insert into %s: %s", table, error)


def reader(timeout: float = 5) -> Client:
    """A connection of its own for pages that read (the explorer, the health page): a hung or
    absent server costs the page `timeout` seconds, and the query at most as long on the server."""
    probe = _new_client(
        settings.CLICKHOUSE_URL, connect_timeout=timeout, send_receive_timeout=timeout, sync_request_timeout=timeout
    )
    probe.settings = {**probe.settings, "max_execution_time": int(max(1, timeout))}
    return probe
