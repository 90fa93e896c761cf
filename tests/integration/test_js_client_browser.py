"""Issue 20, live: the JS client (clients/js, spool-offline) in a real browser (Debian's headless
Chromium, driven by Playwright) against gunicorn, the worker and ClickHouse. The page is served by
the test from clients/js/dist (built here when missing). Every event is stored exactly once, with its
own time, in the client's session (contract §6.2 rule 0); the server's timeout is 6 s so that the
sessions end within the test."""
import functools
import subprocess
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sessions_app import identity
from tests.integration.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.support import stored
from tests.support.live import ROOT, LiveStack
from tests.support.waiting import eventually

JS = ROOT / "clients" / "js"
DAY_MS = 86_400_000
PAGE = """<!doctype html><meta charset="utf-8"><title>spool-offline</title>
<script type="module">
import { SpoolClient } from "./dist/index.js";
window.spool = new SpoolClient({ apiUrl: %(api)s, clientId: %(client_id)s });
window.drain = async () => {  // flush until nothing waits, waiting what the client asks (at most 2 s)
  for (let n = 0; n < 60 && (await window.spool.pending()) > 0; n++) {
    const result = await window.spool.flush();
    if ((await window.spool.pending()) > 0) await new Promise((r) => setTimeout(r, Math.min(result.retryAfterMs ?? 200, 2000)));
  }
  return window.spool.pending();
};
window.record = async (name, count, props = {}) => {  // events with their own times, a few ms apart
  const times = [];  // [before, after] each call: the event's time is between
  for (let i = 0; i < count; i++) {
    const before = Date.now();
    await window.spool.track(name, { i, ...props });
    times.push([before, Date.now()]);
    await new Promise((r) => setTimeout(r, 5));
  }
  return times;
};
window.ready = true;
</script>"""


def _built() -> Path:
    """clients/js/dist, built with npm (scripts/js-client.sh installs Node from Debian where it is missing)."""
    dist = JS / "dist"
    sources = max(path.stat().st_mtime for path in (JS / "src").glob("*.ts"))
    if not (dist / "index.js").exists() or (dist / "index.js").stat().st_mtime < sources:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS, check=True)
        subprocess.run(["npm", "run", "build"], cwd=JS, check=True, capture_output=True)
    return dist


class PageServer:
    """The app's own origin: a folder with the page and the client's dist, served over HTTP."""

    def __init__(self, folder: Path):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def app(tmp_path_factory, django_db_blocker):
    folder = tmp_path_factory.mktemp("app")
    (folder / "dist").symlink_to(_built())
    pages = PageServer(folder)
    with django_db_blocker.unblock():
        stack = LiveStack(tmp_path_factory.mktemp("js-live"), SESSION_TIMEOUT_SECONDS=6, SESSION_SWEEP_SECONDS=2)
        stack.start(workers=1, web_workers=2)
    project = stack.create_project("--name", "Web app", "--origin", pages.origin, "--no-secret")
    # A project with a quota of one event a minute (the Retry-After test), set in the stack's database.
    tiny = stack.create_project("--name", "Tiny quota", "--origin", pages.origin, "--no-secret")
    stack.manage("shell", "-c", "from projects.models import Project; Project.objects.filter("
                 f"client_id='{tiny['client_id']}').update(quota_events_per_minute=1, quota_burst=1)")  # fmt: skip
    (folder / "index.html").write_text(PAGE % {"api": f'"{stack.url}"', "client_id": f'"{project["client_id"]}"'})
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield {"stack": stack, "project": project, "pages": pages, "browser": browser, "tiny": tiny["client_id"]}
        browser.close()
    stack.stop()
    pages.close()


def _open(app, init_script: str = ""):
    context = app["browser"].new_context()
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.goto(f"{app['pages'].origin}/index.html")
    page.wait_for_function("window.ready === true")
    return context, page


def _rows(project_id: str, name: str) -> list[dict]:
    return stored.events(project_id, "name = %(n)s", {"n": name})


def _exactly_once(project_id: str, name: str, count: int) -> list[dict]:
    eventually(lambda: len(_rows(project_id, name)) >= count, 60, every=0.3, what=f"{count} events {name}")
    time.sleep(1)  # a second copy would show by now
    rows = _rows(project_id, name)
    raw = stored.count(project_id, f"name = '{name}'", final=False)
    assert len(rows) == count and len({row["properties"]["i"] for row in rows}) == count, (len(rows), raw)
    return rows


def _client_session(page, project_id: str) -> str:
    device, session = page.evaluate("[window.spool.getDeviceId(), window.spool.getSessionId()]")
    return identity.client_session_id_for(project_id, device, session)


def _ends(project_id: str, session_id: str) -> list[dict]:
    return stored.events(project_id, "name = 'session_end' AND session_id = %(s)s", {"s": session_id})


def test_events_recorded_offline_are_sent_when_the_browser_is_back_online(app):
    project_id = app["project"]["project_id"]
    context, page = _open(app)
    context.set_offline(True)
    times = page.evaluate("window.record('while_offline', 30)")
    result = page.evaluate("window.spool.flush()")
    assert result["error"] and page.evaluate("window.spool.pending()") == 30  # nothing got through
    time.sleep(1)
    context.set_offline(False)  # the browser's `online` event: the client drains by itself
    rows = _exactly_once(project_id, "while_offline", 30)
    for row in rows:
        before, after = times[int(row["properties"]["i"])]
        assert before <= row["ms"] <= after  # its own time, not when it was sent
    session = _client_session(page, project_id)
    assert {row["session_id"] for row in rows} == {session}
    eventually(lambda: _ends(project_id, session), 60, every=0.5, what="the session's end")
    [start] = stored.events(project_id, "name = 'session_start' AND session_id = %(s)s", {"s": session})
    assert start["ms"] == min(row["ms"] for row in rows) - 100
    context.close()


def test_a_reload_in_the_middle_of_a_flush_stores_every_event_once(app):
    project_id = app["project"]["project_id"]
    context, page = _open(app)
    delivered = []

    def hold(route):
        # The batch reaches Spool, which stores it; its answer never reaches the page: reloaded meanwhile.
        delivered.append(route.fetch(timeout=30_000).status)

    page.route("**/track/batch", hold)
    times = page.evaluate("window.record('reloaded', 200)")
    page.evaluate("void window.spool.flush()")
    eventually(lambda: delivered, 30, every=0.1, what="the first batch at Spool")
    assert delivered == [202]
    page.reload()
    page.wait_for_function("window.ready === true")
    page.unroute("**/track/batch")
    # The answer was never read, so the reloaded page still holds the batch and sends it again (its own
    # drain on load may already be doing so): the same insert ids, stored once.
    assert page.evaluate("window.drain()") == 0
    rows = _exactly_once(project_id, "reloaded", 200)
    for row in rows:
        before, after = times[int(row["properties"]["i"])]
        assert before <= row["ms"] <= after
    assert {row["session_id"] for row in rows} == {_client_session(page, project_id)}  # the session outlived the reload
    context.close()


def test_a_clock_two_days_fast_is_corrected_to_the_true_times(app):
    project_id = app["project"]["project_id"]
    fast = f"{{ const shift = {2 * DAY_MS}, real = Date.now.bind(Date); Date.now = () => real() + shift; }}"
    context, page = _open(app, fast)
    before = int(time.time() * 1000)
    device_times = page.evaluate("window.record('fast_clock', 20)")
    after = int(time.time() * 1000)
    assert device_times[0][0] >= before + 2 * DAY_MS - 1_000  # the page's clock is two days ahead
    assert page.evaluate("window.drain()") == 0
    rows = _exactly_once(project_id, "fast_clock", 20)
    for row in rows:
        true_ms = device_times[int(row["properties"]["i"])][0] - 2 * DAY_MS
        assert abs(row["ms"] - true_ms) < 5_000 and before - 5_000 <= row["ms"] <= after + 5_000
        assert row["properties"]["__clock_skew_ms"]
    context.close()


def test_a_malformed_event_is_dead_lettered_and_the_rest_goes_on(app):
    project_id = app["project"]["project_id"]
    context, page = _open(app)
    page.evaluate("window.record('before_bad', 3)")
    page.evaluate("window.spool.track('x'.repeat(81), { i: 99 })")  # a name longer than 80: refused
    page.evaluate("window.record('after_bad', 3)")
    assert page.evaluate("window.drain()") == 0
    _exactly_once(project_id, "before_bad", 3)
    _exactly_once(project_id, "after_bad", 3)
    [dead] = page.evaluate("window.spool.deadLetters()")
    assert dead["code"] == "invalid_field" and "name" in dead["error"]
    context.close()


def test_a_page_can_read_retry_after(app):
    """Retry-After is not a CORS-safelisted header: without Access-Control-Expose-Headers a page's
    script reads null, and the client could not wait as long as Spool asks."""
    context, page = _open(app)
    answers = page.evaluate(
        """async ([url, clientId]) => {
            const answers = [];
            for (let n = 0; n < 3; n++) {
              const body = JSON.stringify({ events: [{ type: "track", payload: { name: "q" + n } }] });
              const response = await fetch(url, { method: "POST", body,
                headers: { "content-type": "application/json", "openpanel-client-id": clientId } });
              answers.push({ status: response.status, retryAfter: response.headers.get("Retry-After") });
            }
            return answers;
        }""",
        [f"{app['stack'].url}/track/batch", app["tiny"]],
    )
    refused = [answer for answer in answers if answer["status"] == 429]
    assert refused, answers
    assert all(answer["retryAfter"] and int(answer["retryAfter"]) >= 1 for answer in refused), answers
    context.close()
