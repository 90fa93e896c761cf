"""The worker's job table (ingest/worker/registry.py): every job and task names a function that exists,
and storage, given the table when Django started, enqueues by name."""
from rq.utils import import_attribute

from contract import jobs
from ingest.worker import registry
from storage.queue import queues


def test_every_job_and_task_names_a_function():
    paths = [spec.function for spec in registry.JOBS] + [task.func for task in registry.periodic_tasks().values()]
    assert all(callable(import_attribute(path)) for path in paths)


def test_every_job_name_of_the_contract_has_one_entry():
    names = {value for name, value in vars(jobs).items() if name.isupper()}
    assert sorted(spec.name for spec in registry.JOBS) == sorted(names)


def test_storage_knows_the_jobs_by_name_and_by_their_paths_old_and_new():
    assert queues.spec(jobs.PROCESS_EVENTS).function == registry.PROCESS_EVENTS
    assert queues.job_name(registry.PROCESS_EVENTS) == jobs.PROCESS_EVENTS
    assert queues.job_name("ingest.jobs.process_events") == jobs.PROCESS_EVENTS
    assert queues.job_name("some.other.function") is None


def test_the_periodic_runner_is_not_retried_and_gets_its_timeout():
    options = queues.job_options(jobs.RUN_PERIODIC)
    assert options == {"timeout": registry.PERIODIC_TIMEOUT, "result_ttl": 0}
    assert queues.job_options(jobs.DRAIN_EVENTS)["retry"].max >= 1
