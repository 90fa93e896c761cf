"""The schema and the queries Spool sends also run on a current ClickHouse (contract §8).

The suite's server is Debian's 18.16; chdb embeds a current engine (26.x) in-process. The very
statements of the migrations and the very SQL of the worker's reads are run on it here.
"""
import tempfile
from datetime import date

import pytest
from chdb import session as chdb_session
from clickhouse_driver import Client

from contract.rows import event_row
from contract.tables import ALL, EVENTS
from storage.clickhouse.queries import copies as copies_queries
from storage.clickhouse.queries import profiles as profiles_queries
from storage.clickhouse.queries import sessions as sessions_queries
from storage.clickhouse.schema.ddl import Schema
from storage.clickhouse.schema.migrate import available

DB = "spool"
PARAMS = Client("127.0.0.1")  # only its parameter escaping is used; it never connects


def sql(query: str, params: dict | None = None) -> str:
    return PARAMS.substitute_params(query, params or {}, PARAMS.connection.context) if params else query


@pytest.fixture(scope="module")
def engine():
    with tempfile.TemporaryDirectory() as folder:
        current = chdb_session.Session(folder)
        current.query(f"CREATE DATABASE IF NOT EXISTS {DB}")
        for _, module in available():
            for statement in module.statements(Schema(DB)):
                current.query(statement)
        yield current
        current.close()


def rows(engine, query: str, params: dict | None = None) -> list[list[str]]:
    result = engine.query(sql(query, params), "TabSeparated").bytes().decode()
    return [line.split("\t") for line in result.splitlines()]


def insert_events(engine, events: list[dict]) -> None:
    ctx = {
        "project_id": "p1", "received_ms": 1_795_000_000_000, "sdk_name": "web", "sdk_version": "1",
        "geo": {"country": "GB", "city": "London", "region": "England", "latitude": 51.5, "longitude": -0.1},
        "agent": {"os": "iOS", "os_version": "17", "browser": "Safari", "browser_version": "17",
                  "device": "mobile", "brand": "Apple", "model": "iPhone"},
    }  # fmt: skip
    values = []
    for event in events:
        row = event_row(ctx, event)
        values.append(sql("(" + ", ".join(f"%({i})s" for i in range(len(EVENTS.insert_columns))) + ")",
                          {str(i): row[column] for i, column in enumerate(EVENTS.insert_columns)}))  # fmt: skip
    columns = ", ".join(f"`{column}`" for column in EVENTS.insert_columns)
    engine.query(f"INSERT INTO {DB}.events ({columns}) VALUES {', '.join(values)}")


def test_every_table_has_the_defined_columns(engine):
    for table in ALL:
        described = rows(engine, f"DESCRIBE TABLE {DB}.{table.name}")
        # TabSeparated escapes quotes: DateTime(\'UTC\').
        assert [(name, kind.replace("\\'", "'")) for name, kind, *_ in described] == list(table.stored), table.name


def test_every_table_is_created_with_its_engine_and_key(engine):
    tables = {name: (kind, key) for name, kind, key in rows(
        engine, f"SELECT name, engine, sorting_key FROM system.tables WHERE database = '{DB}'"
    )}  # fmt: skip
    assert tables["events"] == ("ReplacingMergeTree", "project_id, toDate(created_at), name, id")
    assert tables["profiles"][0] == tables["groups"][0] == "ReplacingMergeTree"


def test_the_historical_session_query_runs_and_collapses_repeated_rows(engine):
    start = 1_795_000_000_000 // 1_800_000 * 1_800_000
    event = {"id": "6f1c2b7a-1111-4222-8333-444455556666", "name": "screen_view", "ts": start + 60_000,
             "device_id": "d1", "session_id": "s1", "path": "/a", "properties": {"k": "v"}}  # fmt: skip
    later = dict(event, id="6f1c2b7a-1111-4222-8333-444455556667", ts=start + 600_000, path="/b", profile_id="u1")
    insert_events(engine, [event, later, event])  # the first one twice: a re-sent row
    day = date.fromtimestamp(start / 1000)
    [stats] = rows(engine, sessions_queries.SESSION_STATS_SQL.format(db=DB), {"project_id": "p1", "dates": (day,), "sessions": ("s1",)})
    session_id, device, first, last, views, exit_path, profile = stats[:7]
    assert (session_id, device, exit_path, profile) == ("s1", "d1", "/b", "u1")
    assert int(last) - int(first) == 540_000 and int(views) == 2


def test_profile_reads_run(engine):
    engine.query(
        f"INSERT INTO {DB}.profiles (id, project_id, first_name, `properties.key`, `properties.value`, groups, "
        "created_at, updated_at, version) VALUES ('u1', 'p1', 'Ada', ['plan'], ['pro'], ['g'], now(), now(), 1), "
        "('u1', 'p1', 'Ada L.', ['plan'], ['team'], ['g'], now(), now(), 2)"
    )
    [row] = rows(engine, profiles_queries.documents_sql("profile", DB), {"project_id": "p1", "ids": ("u1",)})
    assert row[2] == "Ada L." and row[-1] == "2"
    assert rows(engine, profiles_queries.PROFILE_IDS_SQL.format(db=DB)) == [["p1", "u1"]]


def test_the_session_start_queries_run(engine):
    start = 1_796_000_000_000 // 1_800_000 * 1_800_000
    first = {"id": "7f1c2b7a-1111-4222-8333-444455556666", "name": "session_start", "ts": start + 60_000,
             "device_id": "d1", "session_id": "s2", "properties": {}}  # fmt: skip
    earlier = dict(first, ts=start - 86_400_000)  # the same row, moved to the day before
    insert_events(engine, [first, earlier])
    day = date.fromtimestamp(start / 1000)
    days = (day, date.fromtimestamp((start - 86_400_000) / 1000))
    found = rows(engine, sessions_queries.STORED_STARTS_SQL.format(db=DB), {"project_id": "p1", "dates": days, "sessions": ("s2",)})
    assert found == [["s2", str(start - 86_400_000)]]
    delete = sessions_queries.DELETE_STARTS_SQL.format(table=f"{DB}.events")
    engine.query(sql(delete, {"rows": (("p1", first["id"], day.isoformat()),)}) + " SETTINGS mutations_sync = 1")
    assert rows(engine, f"SELECT toDate(created_at) FROM {DB}.events WHERE session_id = 's2'") == [[days[1].isoformat()]]


def test_the_queries_of_copies_on_two_days_run(engine):
    """ingest/worker/copies.py: where an event's copy is stored, by id, in `event_days` and in the events."""
    row_id, day = "8f1c2b7a-1111-4222-8333-444455556666", 20_500
    engine.query(f"INSERT INTO {DB}.event_days VALUES ('p1', '{row_id}', toDate(20501), toDate(20500))")
    params = {"project_id": "p1", "days": (date(2026, 2, 17),), "ids": (row_id,)}
    found = rows(engine, copies_queries.EVENT_DAYS_SQL.format(db=DB), params)
    assert found == [[row_id, str(day)]]
    assert rows(engine, copies_queries.EVENT_DAYS_SINCE_SQL.format(db=DB), {"since": date(2026, 2, 17)}) == [["p1", "20501"]]
    insert_events(engine, [{"id": row_id, "name": "ahead", "ts": day * 86_400_000 + 5, "device_id": "d1",
                            "session_id": "s3", "properties": {}}])  # fmt: skip
    params = {"project_id": "p1", "days": (date(2026, 2, 16),), "names": ("ahead",), "ids": (row_id,)}
    assert rows(engine, copies_queries.STORED_ON_SQL.format(db=DB), params) == [[row_id, str(day)]]
