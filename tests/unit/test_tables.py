"""Each table is defined once (contract/tables.py); rows and inserts take their columns from it."""
import re

from contract.rows import event_row
from contract.tables import EVENTS, PROFILES

CTX = {
    "project_id": "p", "received_ms": 1_700_000_000_123, "backfill_days": 5, "ip": "", "sdk_name": "web",
    "sdk_version": "1.0",
    "geo": {"country": "GB", "city": "London", "region": "England", "latitude": 51.5, "longitude": -0.1},
    "agent": {"os": "iOS", "os_version": "17", "browser": "Safari", "browser_version": "17", "device": "mobile",
              "brand": "Apple", "model": "iPhone"},
}  # fmt: skip


def test_nested_columns_are_stored_and_inserted_as_arrays():
    assert ("properties.key", "Array(String)") in EVENTS.stored
    assert EVENTS.insert_columns[:3] == ("id", "project_id", "name")
    assert "properties" not in EVENTS.insert_columns
    assert PROFILES.blank_row()["version"] == 0 and EVENTS.blank_row()["latitude"] is None


def test_an_event_row_has_exactly_the_table_columns_in_order():
    event = {"type": "track", "name": "tap", "ts": 1_700_000_000_456, "properties": {"a": "1"}, "id": "i",
             "device_id": "d", "session_id": "s", "path": "/x"}  # fmt: skip
    row = event_row(CTX, event)
    assert tuple(row) == EVENTS.insert_columns
    assert (row["created_at"], row["created_at_ms"], row["received_at"]) == (1_700_000_000, 456, 1_700_000_000)
    assert row["profile_id"] == "d"  # an anonymous event's profile is its device
    assert (row["properties.key"], row["properties.value"], row["path"], row["country"]) == (["a"], ["1"], "/x", "GB")


def test_an_event_of_its_own_place_and_agent_overrides_the_request():
    event = {"type": "track", "name": "tap", "ts": 0, "properties": {}, "id": "i", "device_id": "d", "session_id": "s",
             "geo": {**CTX["geo"], "country": "US"}, "agent": {**CTX["agent"], "os": "Android"}}  # fmt: skip
    row = event_row(CTX, event)
    assert (row["country"], row["os"]) == ("US", "Android")


def test_the_geo_and_agent_groups_are_one_definition_read_everywhere():
    from dataclasses import fields

    from contract import messages
    from ingest.enrich.geo import Geo
    from ingest.enrich.properties import UA_OVERRIDES
    from ingest.enrich.ua import Agent
    from ingest.replay.export import AGENT as EXPORTED_AGENT
    from storage.clickhouse.queries.sessions import SESSION_STATS_COLUMNS, SESSION_STATS_SQL

    assert messages.GEO == ("country", "city", "region", "latitude", "longitude")
    assert messages.AGENT == ("os", "os_version", "browser", "browser_version", "device", "brand", "model")
    assert set(messages.GEO + messages.AGENT) <= set(EVENTS.insert_columns)
    assert dict(EVENTS.columns)["latitude"] == "Nullable(Float32)" and dict(EVENTS.columns)["os"] == "String"
    assert Geo(country="FR", latitude=1.5).fields() == {**dict.fromkeys(messages.GEO, ""), "country": "FR",
                                                        "latitude": 1.5, "longitude": None}  # fmt: skip
    assert set(messages.AGENT) <= {field.name for field in fields(Agent)}
    assert tuple(Agent(os="iOS").fields()) == messages.AGENT
    assert dict(EXPORTED_AGENT)["os_version"] == "__osVersion" and set(UA_OVERRIDES.values()) == set(messages.AGENT)
    # The stats query reads the context columns in the order its rows are named by.
    first = re.findall(r"argMin\((\w+), t\)", SESSION_STATS_SQL)
    assert first == ["device_id", *SESSION_STATS_COLUMNS[7:]]
