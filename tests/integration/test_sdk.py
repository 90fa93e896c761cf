"""The published OpenPanel SDKs (@openpanel/sdk from npm, openpanel from PyPI) against a running Spool."""
import json
import shutil
import subprocess
import time

import pytest

from tests.support import stored
from tests.support.live import ROOT, LiveStack
from tests.support.waiting import eventually

SDK_DIR = ROOT / ".local" / "sdk"
SCRIPT = """
const { OpenPanel } = require('@openpanel/sdk');
const [apiUrl, clientId, clientSecret] = process.argv.slice(2);
(async () => {
  const op = new OpenPanel({ apiUrl, clientId, clientSecret });
  const answers = [];
  answers.push(await op.track('sdk_first', { plan: 'pro', nested: { level: 2 } }));
  answers.push(await op.track('sdk_second'));
  await op.identify({ profileId: 'sdk-user', firstName: 'Ada', email: 'ada@example.com' });
  answers.push(await op.track('sdk_after_identify'));
  await op.increment({ profileId: 'sdk-user', property: 'visits', value: 1 });
  answers.push(await op.revenue(1999, { currency: 'EUR' }));
  console.log(JSON.stringify({ answers, deviceId: op.getDeviceId(), sessionId: op.getSessionId() }));
})().catch((error) => { console.error(error); process.exit(1); });
"""


def _install_sdk() -> None:
    if (SDK_DIR / "node_modules" / "@openpanel" / "sdk").exists():
        return
    SDK_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(SDK_DIR), "@openpanel/sdk@1"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory, django_db_blocker):
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed to test the published JS SDK (apt-get install nodejs npm)")
    _install_sdk()
    with django_db_blocker.unblock():
        live = LiveStack(tmp_path_factory.mktemp("sdk")).start()
    yield live
    live.stop()


@pytest.mark.parametrize("suffix", ["", "/", "/api", "/api/"])
def test_js_sdk_events_land_in_clickhouse(stack, suffix):
    credentials = stack.create_project("--name", f"SDK {suffix or 'root'}")
    script = SDK_DIR / "run.js"
    script.write_text(SCRIPT)
    result = subprocess.run(
        ["node", str(script), stack.url + suffix, credentials["client_id"], credentials["client_secret"]],
        cwd=SDK_DIR, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    for answer in output["answers"]:
        assert answer["deviceId"] and answer["sessionId"]
    assert output["deviceId"] == output["answers"][-1]["deviceId"]

    project_id = credentials["project_id"]
    wanted = {"sdk_first", "sdk_second", "sdk_after_identify", "revenue"}
    eventually(lambda: wanted <= {row["name"] for row in stored.events(project_id)}, what=f"events {wanted}")
    rows = {row["name"]: row for row in stored.events(project_id)}
    assert {"sdk_first", "sdk_second", "sdk_after_identify", "revenue"} <= set(rows)
    first = rows["sdk_first"]
    assert first["properties"] == {"plan": "pro", "nested.level": "2"}
    assert first["sdk_name"] == "node" and first["device"] == "server"
    assert first["device_id"] == output["answers"][0]["deviceId"]
    assert first["session_id"] == output["answers"][0]["sessionId"]
    assert rows["sdk_after_identify"]["profile_id"] == "sdk-user"
    assert rows["revenue"]["revenue"] == 1999


def test_python_sdk_events_land_in_clickhouse(stack):
    from openpanel import OpenPanel

    credentials = stack.create_project("--name", "Python SDK")
    with OpenPanel(credentials["client_id"], credentials["client_secret"], api_url=stack.url) as client:
        client.track("py_first", {"plan": "pro"})
        client.identify("py-user", {"firstName": "Grace", "properties": {"team": "navy"}})
        client.track("py_after_identify")
        time.sleep(1.5)  # the SDK sends from a background thread
        client.increment("py-user", "visits", 2)
        client.alias("py-user", "other")  # refused with a 400; the SDK only prints it
        time.sleep(1.5)
    project_id = credentials["project_id"]

    def arrived():
        profile = stored.profile(project_id, "py-user")
        names = {row["name"] for row in stored.events(project_id)}
        return {"py_first", "py_after_identify"} <= names and profile and profile["properties"].get("visits")

    eventually(arrived, what="the Python SDK's events and profile")
    rows = {row["name"]: row for row in stored.events(project_id)}
    assert rows["py_first"]["properties"] == {"plan": "pro"}
    assert rows["py_first"]["sdk_name"] == "python"
    assert rows["py_after_identify"]["profile_id"] == "py-user"
    profile = stored.profile(project_id, "py-user")
    assert profile["first_name"] == "Grace"
    assert profile["properties"]["team"] == "navy" and profile["properties"]["visits"] == "2"
