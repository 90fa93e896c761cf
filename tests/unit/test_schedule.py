"""Periodic runs are aligned to multiples of their period (UTC midnight for a day), one job id per run."""
import pytest

from ingest.worker.registry import DAY, Periodic


@pytest.mark.parametrize(
    "every, now, due",
    [
        (30, 0, 30),
        (30, 29.9, 30),
        (30, 30, 60),  # a run due now is the one being run: the next is one period later
        (30, 1_000_015, 1_000_020),
        (DAY, 1_764_460_800 - 1, 1_764_460_800),  # 2025-11-30 00:00 UTC
        (DAY, 1_764_460_800, 1_764_460_800 + DAY),
    ],
)
def test_next_due(every, now, due):
    assert Periodic("x", "m.f", every, "default").next_due(now) == due


def test_one_job_id_per_run():
    task = Periodic("close-sessions", "m.f", 30, "sessions")
    assert task.job_id(60) == task.job_id(60) != task.job_id(90)
