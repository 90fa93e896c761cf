"""Recording rejected rows (contract §9): exact counters per project, code and day, and a bounded sample.

On the request path this is one Redis round trip that never fails the request: it adds the
counters (storage/redis/counters.py, which the worker's rejections use too) and, while the project's
hourly allowance lasts, a Lua script pushes sample rows to the `rejected` buffer. The periodic job
`store-rejected-samples` (and opening the admin's sample list) moves them into the database, off
the request path (ingest/worker/rejected_samples.py).
"""
import json
import logging
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson
from django.conf import settings
from redis.exceptions import RedisError

from contract import messages
from ingest.pipeline.decode import InvalidLine
from ingest.pipeline.request import RequestInfo
from storage.queue import buffers
from storage.redis import client as redis
from storage.redis import counters, keys

if TYPE_CHECKING:  # accept.py imports this module
    from ingest.pipeline.accept import Rejection

logger = logging.getLogger(__name__)

ITEM_BYTES = 8 * 1024
SLOTS_SECONDS = 2 * 3600

SAMPLE = redis.Script(__file__, "sample_rejected", int)  # the slots left this hour

# Projects whose sample allowance is used up, with the hour it is used up for (saves sending
# samples that the script would drop). Per process; a new hour or a restart simply asks again.
_full: dict[str, str] = {}


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _clean(text: str) -> str:
    """Text that any database stores: no lone surrogates, no NUL characters."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def _raw(item: object) -> bytes:
    if isinstance(item, InvalidLine):
        return item.raw
    try:
        return orjson.dumps(item)
    except orjson.JSONEncodeError:  # nested deeper than orjson writes (254 levels)
        try:
            return json.dumps(item, ensure_ascii=False, default=str).encode("utf-8", "replace")
        except (ValueError, RecursionError):
            return b"(this row cannot be shown)"


def _sample(project_id: str, info: RequestInfo, item: object, rejection: "Rejection") -> bytes:
    raw = _raw(item)
    sample: messages.RejectedSample = {
            "id": uuid.uuid4().hex,
            "project_id": project_id,
            "received_ms": info.received_ms,
            "index": rejection.index,
            "reason": rejection.reason,
            "code": rejection.code,
            "error": _clean(rejection.error),
            "item": _clean(raw[:ITEM_BYTES].decode("utf-8", "replace")),
            "truncated": len(raw) > ITEM_BYTES,
            "sdk_name": _clean(info.sdk_name),
            "sdk_version": _clean(info.sdk_version),
        }
    return orjson.dumps(sample)


def record(project_id: str, info: RequestInfo, items: list, rejected: "list[Rejection]") -> None:
    """Count the rejected rows and offer samples of them. Never raises: ingestion must not suffer."""
    if not rejected:
        return
    try:
        _record(project_id, info, items, rejected)
    except RedisError as error:
        logger.warning("could not record %d rejected rows of project %s: %s", len(rejected), project_id, error)
    except Exception:
        logger.exception("could not record %d rejected rows of project %s", len(rejected), project_id)


def _labels(rejected: list) -> Counter:
    """Rejected rows by (reason, code), for /metrics."""
    return Counter((rejection.reason, rejection.code) for rejection in rejected)


def _record(project_id: str, info: RequestInfo, items: list, rejected: "list[Rejection]") -> None:
    moment = _utc(info.received_ms)
    hour = moment.strftime("%Y-%m-%dT%H")
    limit = settings.REJECTED_SAMPLES_PER_HOUR
    samples = []
    if _full.get(project_id) != hour:
        samples = [_sample(project_id, info, items[r.index], r) for r in rejected[:limit]]
    by_code = Counter(rejection.code for rejection in rejected)
    with redis.client().pipeline(transaction=False) as pipe:
        counters.add_rejected(pipe, project_id, moment.date().isoformat(), by_code)
        slots = [keys.rejected_sample_slots(project_id, hour), buffers.REJECTED_BUFFER.key]
        counters.queue_rejected_totals(pipe, project_id, _labels(rejected))
        SAMPLE.on(pipe, slots, [SLOTS_SECONDS, limit, *samples])
        left = SAMPLE.reply(pipe.execute()[-1])
    if samples and left <= 0:
        if len(_full) > 10_000:
            _full.clear()
        _full[project_id] = hour
