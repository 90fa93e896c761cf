"""`manage.py failed_jobs [--requeue]`: jobs that used up their retries, and running them again."""
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from storage.queue import blocks, queues


class Command(BaseCommand):
    help = "List the jobs that used up their retries (ClickHouse was away too long); --requeue runs them again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--requeue", action="store_true", help="put every failed job back on its queue")

    def handle(self, *args: Any, **options: Any) -> None:
        jobs = queues.failed_jobs()
        total = 0
        for job in jobs:
            reason = (job.exc_info or "").strip().splitlines()[-1:] or [""]
            ended = job.ended_at.isoformat(timespec="seconds") if job.ended_at else "-"
            events = blocks.events_in(job)  # with the chunks of a block it held when it failed
            total += events
            self.stdout.write(f"{job.id}  {job.origin}  {job.func_name}  events={events}  {ended}  {reason[0]}")
        self.stdout.write(f"{len(jobs)} failed jobs, {total} events")
        if options["requeue"]:
            self.stdout.write(f"requeued {queues.requeue_failed()} jobs")
