"""`manage.py clickhouse_migrate`: create the ClickHouse database and tables (storage/clickhouse/schema/migrate.py)."""
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from redis.exceptions import RedisError

from ingest.profiles import known
from storage.clickhouse import client as clickhouse
from storage.clickhouse.schema.migrate import available, migrate


class Command(BaseCommand):
    help = "Create the ClickHouse database and tables (idempotent, versioned)."

    def handle(self, *args: Any, **options: Any) -> None:
        database = clickhouse.database()
        applied = migrate(database, settings.CLICKHOUSE_CLUSTER)
        where = f"cluster {settings.CLICKHOUSE_CLUSTER}" if settings.CLICKHOUSE_CLUSTER else "one server"
        if applied:
            self.stdout.write(f"ClickHouse {database} ({where}): applied {', '.join(applied)}")
        else:
            self.stdout.write(f"ClickHouse {database} ({where}): up to date ({len(available())} migrations)")
        self._load_known_profiles()

    def _load_known_profiles(self) -> None:
        """Once per deployment: the API answers increments from Redis alone (issue 9, finding 12), so
        Redis must know the profiles stored before that release."""
        try:
            if known.loaded():
                return
            self.stdout.write(f"Redis: marked {known.load_stored()} known profiles")
        except RedisError as error:
            self.stderr.write(f"Redis does not answer ({error}); run `manage.py load_known_profiles` later")
