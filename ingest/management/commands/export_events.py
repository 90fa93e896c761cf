"""`manage.py export_events --project CLIENT_ID [--since] [--until] [--profile] [--output FILE]`
(contract §9): a project's events as NDJSON that `replay_events` reads back (ingest/replay/export.py)."""
import gzip
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.replay.export import ndjson_line
from projects.management.commands._project import add_project_arguments, project_by_client_id
from storage.clickhouse.queries import export

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def moment(text: str) -> datetime:
    """An ISO date or time (UTC unless it says otherwise)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"{text!r} is not an ISO date or time (2026-11-30, 2026-11-30T08:00:00Z)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Write a project's events as NDJSON (one track envelope per line) that replay_events reads back; "
        "a replay into the same project stores nothing twice. Session rows are not exported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_project_arguments(parser, by=False)
        parser.add_argument("--since", type=moment, default=EPOCH, help="event time from (ISO; default: all)")
        parser.add_argument("--until", type=moment, help="event time before (ISO; default: now + 1 day)")
        parser.add_argument("--profile", default="", help="only the events of this profile id")
        parser.add_argument("--output", "-o", default="-", help="a file (.gz: gzip-compressed); default stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_by_client_id(options["project"])
        until = options["until"] or datetime.now(UTC) + timedelta(days=1)
        if until <= options["since"]:
            raise CommandError("--until must be after --since")
        path = options["output"]
        out = sys.stdout.buffer if path == "-" else (gzip.open if path.endswith(".gz") else open)(path, "wb")
        count = 0
        try:
            for row in export.rows(project.id, options["since"], until, options["profile"]):
                out.write(ndjson_line(row))
                count += 1
        finally:
            if out is not sys.stdout.buffer:
                out.close()
            else:
                out.flush()
        self.stderr.write(f"exported {count:,} events of {project.id}" + (f" to {path}" if path != "-" else ""))
