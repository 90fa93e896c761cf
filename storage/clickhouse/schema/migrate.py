"""Apply the ClickHouse migrations that a database has not seen yet. Safe to run again and again."""
import importlib
import pkgutil
from datetime import datetime, timezone
from types import ModuleType

from storage.clickhouse import client as clickhouse
from storage.clickhouse.schema import migrations
from storage.clickhouse.schema.ddl import Schema


def available() -> list[tuple[str, ModuleType]]:
    modules = pkgutil.iter_modules(migrations.__path__)
    names = sorted(info.name for info in modules if info.name[:1] == "m" and info.name[1:5].isdigit())
    return [(name, importlib.import_module(f"{migrations.__name__}.{name}")) for name in names]


def migrate(database: str, cluster: str = "") -> list[str]:
    """Create the database and every table; return the names of the migrations applied now."""
    schema = Schema(database=database, cluster=cluster)
    server = clickhouse.client(with_database=False)
    server.execute(f"CREATE DATABASE IF NOT EXISTS {database}{schema.on_cluster}")
    server.execute(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations{schema.on_cluster} "
        "(version String, applied_at DateTime('UTC')) ENGINE = MergeTree() ORDER BY version"
    )
    done = {row[0] for row in server.execute(f"SELECT version FROM {database}.schema_migrations")}
    applied = []
    for name, module in available():
        if name in done:
            continue
        for statement in module.statements(schema):
            server.execute(statement)
        server.execute(
            f"INSERT INTO {database}.schema_migrations (version, applied_at) VALUES",
            [(name, datetime.now(timezone.utc).replace(microsecond=0))],
        )
        applied.append(name)
    return applied
