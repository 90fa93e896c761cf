"""`manage.py check_worker`: exit 0 when a Spool worker on this host has sent its heartbeat lately,
1 otherwise. The worker container's health check (docker/compose.yml)."""
import socket
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rq import Worker

from storage.redis import client as redis

FRESH_SECONDS = 60  # a worker beats every few seconds while idle (its TTL is 40 s)


class Command(BaseCommand):
    help = "Exit 0 when a worker of this host has sent a heartbeat in the last minute."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--any-host", action="store_true", help="accept a worker on any host")

    def handle(self, *args: Any, **options: Any) -> None:
        host = socket.gethostname()
        now = time.time()
        try:
            workers = Worker.all(connection=redis.client())
        except Exception as error:
            raise CommandError(f"Redis does not answer: {error}") from None
        fresh = [
            worker.name for worker in workers
            if (options["any_host"] or worker.hostname == host)
            and worker.last_heartbeat and now - worker.last_heartbeat.timestamp() < FRESH_SECONDS
        ]  # fmt: skip
        if not fresh:
            raise CommandError(f"no worker of {'any host' if options['any_host'] else host} has beaten lately")
        self.stdout.write(f"ok: {', '.join(fresh)}")
