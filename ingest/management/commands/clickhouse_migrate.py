from django.conf import settings
from django.core.management.base import BaseCommand

from ingest import store
from ingest.clickhouse_migrations.runner import available, migrate


class Command(BaseCommand):
    help = "Create the ClickHouse database and tables (idempotent, versioned)."

    def handle(self, *args, **options):
        database = store.database()
        applied = migrate(database, settings.CLICKHOUSE_CLUSTER)
        where = f"cluster {settings.CLICKHOUSE_CLUSTER}" if settings.CLICKHOUSE_CLUSTER else "one server"
        if applied:
            self.stdout.write(f"ClickHouse {database} ({where}): applied {', '.join(applied)}")
        else:
            self.stdout.write(f"ClickHouse {database} ({where}): up to date ({len(available())} migrations)")
