"""Versioned ClickHouse DDL, applied in order by `manage.py clickhouse_migrate`.

Each migration is a module `NNNN_name.py` with `statements(schema) -> list[str]`. The schema helper
fills in the database, the table engine (single server or replicated) and ON CLUSTER, so the same
migration runs on one Debian 18.16 server, on a current release, and on a cluster.
"""
