"""ClickHouse: the client (client.py, the only module that talks to it), the schema (schema/: ddl,
migrate, migrations) and the SQL each feature reads it with (queries/, one file per feature)."""
