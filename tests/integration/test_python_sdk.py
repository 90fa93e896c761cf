"""The published OpenPanel Python SDK (`openpanel` from PyPI), pointed at a running Spool, unchanged
(the example of docs/api.md)."""
import time

import pytest
from openpanel import OpenPanel

from tests.support import clickhouse
from tests.support.live import LiveStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    live = LiveStack(tmp_path_factory.mktemp("python-sdk"))
    try:
        yield live.start()
    finally:
        live.stop()


def test_python_sdk_events_land_in_clickhouse(stack):
    credentials = stack.create_project("--name", "Python SDK")
    op = OpenPanel(client_id=credentials["client_id"], client_secret=credentials["client_secret"], api_url=stack.url)
    op.track("py_signup", {"plan": "pro", "nested": {"level": 2}})
    op.identify("py-user", {"firstName": "Ada", "email": "ada@example.com"})
    op.track("py_after_identify")
    op.increment("py-user", "visits", 1)

    deadline, rows = time.time() + 30, {}
    while time.time() < deadline and not {"py_signup", "py_after_identify"} <= set(rows):
        time.sleep(0.3)
        rows = {row["name"]: row for row in clickhouse.events(credentials["project_id"])}
    assert {"py_signup", "py_after_identify"} <= set(rows)
    assert rows["py_signup"]["properties"] == {"plan": "pro", "nested.level": "2"}
    assert rows["py_signup"]["sdk_name"] == "python" and rows["py_signup"]["device"] == "server"
    assert rows["py_after_identify"]["profile_id"] == "py-user"
