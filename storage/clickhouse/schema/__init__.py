"""ClickHouse tables, as defined once in contract/tables.py: created by versioned migrations
(migrations/), applied by migrate.py; ddl.py says how a table is created on one server or on a cluster."""
