"""`manage.py clickhouse_migrate`: create the ClickHouse database and tables (storage/schema/migrate.py)."""
from django.conf import settings
from django.core.management.base import BaseCommand

from storage import clickhouse
from storage.schema.migrate import available, migrate


class Command(BaseCommand):
    help = "Create the ClickHouse database and tables (idempotent, versioned)."

    def handle(self, *args, **options):
        database = clickhouse.database()
        applied = migrate(database, settings.CLICKHOUSE_CLUSTER)
        where = f"cluster {settings.CLICKHOUSE_CLUSTER}" if settings.CLICKHOUSE_CLUSTER else "one server"
        if applied:
            self.stdout.write(f"ClickHouse {database} ({where}): applied {', '.join(applied)}")
        else:
            self.stdout.write(f"ClickHouse {database} ({where}): up to date ({len(available())} migrations)")
