"""The tables the migrations create are exactly the ones storage/schema/tables.py defines, so that
every reader of that definition (inserts, row builders, the tests) matches the database (contract §8)."""
from storage import clickhouse
from storage.schema.tables import ALL


def test_every_migrated_table_has_the_defined_columns_in_order():
    for table in ALL:
        described = clickhouse.execute(f"DESCRIBE TABLE {clickhouse.database()}.{table.name}")
        assert [(name, kind) for name, kind, *_ in described] == list(table.stored), table.name
