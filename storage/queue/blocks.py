"""Big blocks: a `process_events` job takes the chunk jobs waiting behind it into its own insert
(ingest/worker/write.py), bounded in events and in bytes.

The jobs it takes move, in one script, from the queue to the owner's companion list, which outlives
the run: a run that fails puts them back at the head of the queue, and only once the block is written
are they deleted. A block is bounded by the events it holds (BLOCK_EVENTS) and by the bytes of its
chunks' data as serialized at enqueue (settings.WORKER_BLOCK_BYTES; each chunk job's hash says its
size, `spool_bytes`, so nothing is decoded to choose): a block's memory is a bounded multiple of that
(docs/performance.md, "Issue 17: a block's memory"). A run that finds its owner still holding a block
is a run after its worker died mid-block, perhaps killed by the block itself (out of memory): it is
split, every chunk then runs alone, so that no block kills its worker on every retry.
"""
from typing import NamedTuple

from rq.job import Job

from contract import jobs
from storage.queue import queues
from storage.redis import client as redis
from storage.redis import keys

MAX_COMPANIONS = 100


class Held(NamedTuple):
    ids: list[str]
    again: bool  # held by the owner already: its last run ended without a result (its worker died)

    @classmethod
    def of(cls, reply: list) -> "Held":
        """take_companions.lua's reply: {1 when held already (0: taken now), id...}."""
        return cls([job_id.decode() for job_id in reply[1:]], again=bool(reply[0]))


TAKE_COMPANIONS = redis.Script(__file__, "take_companions", Held.of)
GIVE_BACK_COMPANIONS = redis.Script(__file__, "give_back_companions", int)
FINISH_COMPANIONS = redis.Script(__file__, "finish_companions", int)


def take_companions(owner: Job, events: int, size: int) -> Held:
    """The chunk jobs waiting at the head of `owner`'s queue, up to `events` events and `size` bytes of
    chunk data in all, now held by `owner`; or the ones it held already (`again`)."""
    return TAKE_COMPANIONS(
        [queues.queue(owner.origin).key, keys.companions(owner.id), Job.key_for(owner.id)],
        [max(0, events), max(0, size), Job.key_for(""), MAX_COMPANIONS],
    )


def companion_chunks(owner: Job, ids: list[str]) -> list[tuple[str, object]]:
    """(job id, chunk) of each companion job that can be read; the others go back to the tail of the
    queue, to run on their own as before (RQ fails a job it cannot read)."""
    found, unread = [], []
    connection = redis.client()
    for job_id, job in zip(ids, Job.fetch_many(ids, connection=connection, serializer=queues.JobSerializer)):
        try:
            if job is None or queues.job_name(job.func_name) != jobs.PROCESS_EVENTS:
                raise ValueError("not a chunk job")
            if len(job.args) != 1:
                raise ValueError("not a chunk job")
            found.append((job_id, job.args[0]))
        except Exception:
            unread.append(job_id)
    _to_tail(owner, unread)
    return found


def _to_tail(owner: Job, ids: list[str]) -> None:
    if not ids:
        return
    with redis.client().pipeline(transaction=True) as pipe:
        for job_id in ids:
            pipe.lrem(keys.companions(owner.id), 1, job_id)
        pipe.rpush(queues.queue(owner.origin).key, *ids)
        pipe.execute()


def give_back_companions(owner: Job, ids: list[str], alone: bool = False) -> None:
    """Put companion jobs of `owner` back at the head of its queue in their order; `alone` marks each
    to run on its own (a block split after its worker died)."""
    if not ids:
        return
    GIVE_BACK_COMPANIONS(
        [queues.queue(owner.origin).key, keys.companions(owner.id)], ["1" if alone else "0", Job.key_for(""), *ids]
    )


def finish_companions(owner: Job, ids: list[str]) -> None:
    """The companions' rows are written: their jobs and the owner's list go."""
    FINISH_COMPANIONS([keys.companions(owner.id)], [Job.key_for(""), *ids])


def events_held(owner_id: str) -> int:
    """The events of the companion jobs `owner_id` holds (counted from their descriptions)."""
    client = redis.client()
    ids = [job_id.decode() for job_id in client.lrange(keys.companions(owner_id), 0, -1)]
    if not ids:
        return 0
    with client.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(Job.key_for(job_id), "description")
        descriptions = pipe.execute()
    return sum(queues.events_described(found.decode()) for found in descriptions if found)


def events_in(job: Job) -> int:
    """The events a `process_events` job stands for: its own and those of the companions it holds (a
    failed owner whose worker died mid-block keeps them until it is requeued)."""
    return queues.events_in(job) + events_held(job.id)
