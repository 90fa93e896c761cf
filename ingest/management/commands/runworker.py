"""`manage.py runworker`: django-rq's `rqworker` on every Spool queue (storage.queue.queues.NAMES, the one
list), with the scheduler that runs periodic jobs and retries. rqworker's options apply too."""
from typing import Any

from django.core.management.base import CommandParser
from django_rq.management.commands import rqworker

from storage.queue import queues


class Command(rqworker.Command):
    help = "Run a worker on every Spool queue (events, sessions, default, bulk) with the scheduler."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        # rqworker turns its default verbosity (1) into RQ's INFO level, over the configured logging:
        # a line per job and per scheduler round, ~24 a minute when idle. -v 1 brings them back.
        parser.set_defaults(verbosity=0)
        parser.add_argument(
            "--no-scheduler", action="store_true", help="leave periodic jobs and retries to other workers"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        options["with_scheduler"] = not options.pop("no_scheduler")
        super().handle(*(args or queues.NAMES), **options)
