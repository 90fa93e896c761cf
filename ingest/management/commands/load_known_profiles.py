"""`manage.py load_known_profiles`: tell Redis which profiles ClickHouse holds (ingest/profiles/known.py)."""
from typing import Any

from django.core.management.base import BaseCommand

from ingest.profiles import known


class Command(BaseCommand):
    help = (
        "Mark every profile stored in ClickHouse as known in Redis, so that increments of them are accepted. "
        "clickhouse_migrate runs it once; run it again after Redis lost its data."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"marked {known.load_stored()} known profiles")
