"""The tables the migrations create are exactly the ones contract/tables.py defines, so that
every reader of that definition (inserts, row builders, the tests) matches the database (contract §8)."""
from contract.tables import ALL
from storage.clickhouse import client as clickhouse


def test_every_migrated_table_has_the_defined_columns_in_order():
    for table in ALL:
        described = clickhouse.execute(f"DESCRIBE TABLE {clickhouse.database()}.{table.name}")
        assert [(name, kind) for name, kind, *_ in described] == list(table.stored), table.name
