"""The SQL of profiles and groups (ingest/profiles): the newest stored version of documents, and every
stored profile's id. Parameterised; nothing from a request is spliced in."""
from collections.abc import Iterator

from contract.tables import GROUPS, PROFILES
from storage.clickhouse import client as clickhouse

DOCUMENTS_SQL = "SELECT {columns} FROM {db}.{table} FINAL WHERE project_id = %(project_id)s AND id IN %(ids)s"
PROFILE_IDS_SQL = "SELECT DISTINCT project_id, id FROM {db}.profiles"


def documents_sql(kind: str, db: str) -> str:
    table = PROFILES if kind == "profile" else GROUPS
    return DOCUMENTS_SQL.format(columns=", ".join(table.insert_columns), db=db, table=table.name)


def stored_documents(kind: str, project_id: str, ids: list[str]) -> list[dict]:
    """The newest stored version of profiles or groups (`kind`: "profile" | "group"), as column dicts."""
    if not ids:
        return []
    table = PROFILES if kind == "profile" else GROUPS
    rows = clickhouse.execute(documents_sql(kind, clickhouse.database()), {"project_id": project_id, "ids": tuple(ids)})
    return [dict(zip(table.insert_columns, row)) for row in rows]


def profile_ids() -> Iterator[tuple[str, str]]:
    """(project id, profile id) of every stored profile, streamed in blocks."""
    return clickhouse.execute_iter(PROFILE_IDS_SQL.format(db=clickhouse.database()))
