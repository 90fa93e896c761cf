"""Copies of one event on two days (ingest/worker/copies.py): the pure decisions, as tables."""
import pytest

from ingest.enrich.time import DAY_MS
from ingest.worker.copies import FUTURE_DAYS, Copy, decide, mark

CTX = {"project_id": "p"}
DAY = 20_000  # a UTC day number


def copy(row_id: str, stored: int, natural: int | None = None) -> Copy:
    return Copy("p", row_id, "e", natural if natural is not None else stored, stored, natural is not None)


def test_a_copy_is_read_from_its_queued_event():
    assert Copy.of(CTX, {"id": "a", "name": "e", "ts": DAY * DAY_MS + 5}) == Copy("p", "a", "e", DAY, DAY, False)
    marked = Copy.of(CTX, {"id": "a", "name": "e", "ts": DAY * DAY_MS + 5, "sent": (DAY + 1) * DAY_MS})
    assert marked == Copy("p", "a", "e", DAY + 1, DAY, True)


@pytest.mark.parametrize(
    ("copies", "stored", "kept"),
    [
        ([copy("a", DAY)], {}, [True]),  # nothing stored: written
        ([copy("a", DAY)], {("p", "a"): DAY}, [True]),  # stored that day: written, ClickHouse collapses them
        ([copy("a", DAY + 1)], {("p", "a"): DAY}, [False]),  # stored on another day: dropped
        ([copy("a", DAY, DAY + 1), copy("a", DAY + 1)], {}, [True, False]),  # two in one block: the first
        ([copy("a", DAY), copy("a", DAY)], {}, [True, True]),  # twice that day: both, they collapse
        ([copy("a", DAY), copy("b", DAY + 1)], {("p", "a"): DAY + 1}, [False, True]),  # each on its own
    ],
)  # fmt: skip
def test_a_copy_is_written_unless_its_id_is_stored_on_another_day(copies, stored, kept):
    assert decide(copies, stored, {}) == kept


def test_the_block_remembers_what_it_keeps():
    kept: dict = {}
    assert decide([copy("a", DAY)], {}, kept) == [True]
    assert decide([copy("a", DAY + 1, DAY + 1)], {}, kept) == [False]  # a later chunk of the block
    assert kept == {("p", "a"): DAY}


def test_far_future_days_share_one_mark():
    assert mark(DAY + FUTURE_DAYS, DAY) == str(DAY + FUTURE_DAYS)
    assert mark(DAY + FUTURE_DAYS + 1, DAY) == mark(DAY + 10 * FUTURE_DAYS, DAY) == "future"
