"""`manage.py set_aside`: what the worker set aside (storage/queue/poison.py), and taking it back or dropping it."""
from datetime import UTC, datetime
from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandParser

from contract.messages import SetAside
from storage.queue import buffers, poison


class Command(BaseCommand):
    help = (
        "List the items the worker could not process and set aside, with their errors; --requeue puts "
        "them back where they came from (after a fix), --drop / --drop-all removes them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", choices=poison.SOURCES, help="only this buffer or queue")
        parser.add_argument("--requeue", action="store_true", help="put the items back where they came from")
        parser.add_argument("--drop", nargs="+", metavar="ID", default=[], help="remove these items for good")
        parser.add_argument("--drop-all", action="store_true", help="remove every listed item for good")
        parser.add_argument("--json", action="store_true", help="one JSON object per item")
        parser.add_argument("--limit", type=int, default=100, help="items listed per source (default 100)")

    def handle(self, *args: Any, **options: Any) -> None:
        sources = [options["source"]] if options["source"] else list(poison.SOURCES)
        if options["requeue"]:
            for source in sources:
                self.stdout.write(f"{source}: requeued {buffers.requeue_set_aside(source)}")
            return
        if options["drop"] or options["drop_all"]:
            ids = None if options["drop_all"] else set(options["drop"])
            for source in sources:
                self.stdout.write(f"{source}: dropped {len(poison.take(source, ids))}")
            return
        counts = poison.counts()
        for source in sources:
            for entry in poison.listed(source, options["limit"]):
                self.stdout.write(orjson.dumps(entry).decode() if options["json"] else self._line(entry))
        total = sum(counts[source] for source in sources)
        detail = ", ".join(f"{source} {counts[source]}" for source in sources)
        self.stdout.write(f"{total} items set aside ({detail})")

    @staticmethod
    def _line(entry: SetAside) -> str:
        when = datetime.fromtimestamp(entry["at_ms"] / 1000, tz=UTC).isoformat(timespec="seconds")
        item = entry["item"] if len(entry["item"]) <= 120 else entry["item"][:119] + "…"
        return f"{entry['id']}  {entry['source']}  {when}  {entry['project_id'] or '-'}  {entry['error']}  {item}"
