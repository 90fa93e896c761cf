"""Versioned ClickHouse DDL, applied in order by `manage.py clickhouse_migrate` (storage/clickhouse/schema/migrate.py).

Each migration is a module `mNNNN_name.py` with `statements(schema) -> list[str]`. The schema helper
(storage/clickhouse/schema/ddl.py) fills in the database, the table engine (single server or replicated) and
ON CLUSTER, so the same migration runs on one Debian 18.16 server, on a current release, and on a
cluster. A migration that has been applied anywhere is frozen; a new one takes its columns from
contract/tables.py.
"""
