"""The names of the jobs that wait in Redis, by which the API and storage enqueue them. Which function
runs each, on which queue, with what timeout and retries, is the worker's table
(ingest/worker/registry.py), given to storage when Django starts (ingest/apps.py)."""

PROCESS_EVENTS = "process_events"  # a chunk of events, written to ClickHouse
DRAIN_EVENTS = "drain_events"  # the single-event buffer, turned into chunks
DRAIN_PROFILE_CHANGES = "drain_profile_changes"  # the profile buffer, applied in order
STORE_REJECTED_SAMPLES = "store_rejected_samples"  # samples of rejected rows, moved into the database
RUN_PERIODIC = "run_periodic"  # one run of a periodic task
