"""Issue 18 §4 and §5 in a real browser (Debian's Chromium, driven by Playwright), at 1366 px: every
admin page a newcomer opens fits the width (no clipped columns, no link wrapped a letter a line), the
charts draw (the explorer's with the vendored uPlot, the project's with dates and a scale), and each
page is photographed. `SPOOL_SCREENSHOTS=docs/screenshots` writes the pictures the README links
(scripts/screenshots.sh); otherwise they go to the test's own folder."""
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests.integration.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.agents import IPHONE_UA
from tests.support.events import at, now_ms, track
from tests.support.live import LiveStack
from tests.support.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)
WIDTH, HEIGHT = 1366, 900
PASSWORD = "pw-screens-1"
MAX_PNG_BYTES = 400_000
TALLEST = 1600
HOUR = 3_600_000


@pytest.fixture
def stack(tmp_path):
    live = LiveStack(tmp_path, DJANGO_SUPERUSER_PASSWORD=PASSWORD)
    try:
        live.manage("collectstatic", "--noinput", "-v0")
        live.start(workers=1, web_workers=2)
        live.manage("createsuperuser", "--noinput", "--username", "operator", "--email", "ops@example.com")
        yield live
    finally:
        live.stop()


def _send(stack, project: dict) -> None:
    """An afternoon of a device team: a phone's session, an offline drain of 2-day-old events, a
    server's events, and a few rows refused."""
    headers = {"openpanel-client-id": project["client_id"], "openpanel-client-secret": project["client_secret"]}
    phone = {**headers, "user-agent": IPHONE_UA, "x-forwarded-for": "81.2.69.142"}
    now = now_ms()
    session = [at("screen_view", now - 50 * 60_000 + i * 60_000, device="phone-1", __path=f"/screen/{i % 3}",
                  plan="pro" if i % 2 else "free") for i in range(12)]  # fmt: skip
    session.append({"type": "track", "payload": {"name": "purchase", "profileId": "user-42", "properties": {
        "__deviceId": "phone-1", "__timestamp": session[-1]["payload"]["properties"]["__timestamp"],
        "plan": "pro", "basket": "sku-1001,sku-2002,sku-3003 " * 6}}})  # fmt: skip
    offline = [at("sensor_reading", now - 2 * 24 * HOUR + i * HOUR, device="sensor-7", celsius=str(20 + i % 5))
               for i in range(20)]  # fmt: skip
    refused = [{"type": "track", "payload": {"name": "", "properties": {}}},
               {"type": "track", "payload": {"name": "n" * 400, "properties": {}}},
               {"type": "track", "payload": {"name": "bad_time", "properties": {"__timestamp": "not-a-time-" * 12}}},
               at("too_old", now - 40 * 24 * HOUR, device="sensor-7")]  # fmt: skip
    for body, sent_headers in (({"events": session}, phone), ({"events": offline + refused}, phone)):
        answer = requests.post(f"{stack.url}/track/batch", json=body, headers=sent_headers, timeout=30)
        assert answer.status_code == 202, answer.text
    server = {**headers, "user-agent": "python-requests/2.32.3"}
    for i in range(3):
        sent = requests.post(f"{stack.url}/track", json=track("invoice_sent", __deviceId="billing-server", n=str(i)),
                             headers=server, timeout=10)  # fmt: skip
        assert sent.status_code == 200


def _fits(page, what: str) -> None:
    """Nothing wider than the window: neither the page nor a table inside its scrolling box."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"{what}: the page is {width} px wide"
    clipped = page.evaluate(
        """() => [...document.querySelectorAll('.results, #result_list, .spool-detail')]
                 .filter(e => e.scrollWidth > e.clientWidth + 1)
                 .map(e => `${e.id || e.className}: ${e.scrollWidth} > ${e.clientWidth}: ` + [...e.querySelectorAll('*')]
                   .filter(c => c.getBoundingClientRect().right > e.getBoundingClientRect().right + 1)
                   .slice(0, 3).map(c => c.tagName + '.' + c.className + '#' + c.id).join(', '))"""
    )
    assert not clipped, f"{what}: clipped {clipped}"


def _shoot(page, folder: Path, name: str) -> None:
    """The page at 1366 px, from its top down to at most TALLEST px (a long list shows its head)."""
    path = folder / f"{name}.png"
    height = min(TALLEST, page.evaluate("document.documentElement.scrollHeight"))
    page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": WIDTH, "height": height})
    assert path.stat().st_size <= MAX_PNG_BYTES, f"{name}.png is {path.stat().st_size} bytes"


def test_every_admin_page_fits_1366_px_draws_its_charts_and_is_photographed(stack, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    project = stack.create_project("--name", "Field devices")
    _send(stack, project)
    folder = Path(os.environ.get("SPOOL_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="spool-chromium-")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                viewport={"width": WIDTH, "height": HEIGHT},
            )  # fmt: skip
            page = browser.new_page()
            page.goto(f"{stack.url}/admin/login/?next=/admin/")
            expect(page.locator("#site-name")).to_have_text("Spool")
            page.fill("#id_username", "operator")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")

            # The index: Spool's own section first, its links on one line each.
            expect(page.locator("#content-main .module caption").first).to_have_text("Spool")
            for link in ("Events explorer", "Ingestion health"):
                box = page.locator("#content-main").get_by_role("link", name=link, exact=True).bounding_box()
                assert box and box["height"] < 30 and box["width"] > 60, (link, box)
            _shoot(page, folder, "1-admin-index")
            _fits(page, "index")

            page.goto(f"{stack.url}/admin/projects/project/")
            expect(page.locator("#result_list")).to_contain_text("Field devices")
            for header in ("accepted today", "accepted, 7 d", "events"):
                expect(page.locator("#result_list thead")).to_contain_text(header, ignore_case=True)
            _shoot(page, folder, "2-project-list")
            _fits(page, "project list")

            page.click("#result_list a:text('Field devices')")
            eventually(lambda: _accepted_shown(page), timeout=30, what="the accepted rows on the project page")
            expect(page.locator(".spool-accepted-chart")).to_contain_text(time.strftime("%m-%d", time.gmtime()))
            expect(page.locator("label[for=id_ignore_cors_and_secret]")).to_have_text(
                "Accept any request with the client id (no origin or secret check)"
            )
            _shoot(page, folder, "3-project-page")
            _fits(page, "project page")

            page.goto(f"{stack.url}/admin/spool/explorer/")
            page.click("text=Field devices")
            rows = page.locator("#spool-events tr.spool-event")
            eventually(lambda: page.reload() or rows.count() >= 30, timeout=30, what="the events in the explorer")
            expect(page.locator(".spool-view-current")).to_contain_text("Arrived")
            expect(page.locator("#spool-events")).to_contain_text("sensor_reading")  # 2 days old, just arrived
            expect(page.locator("#spool-volume canvas").first).to_be_visible()
            expect(page.locator("#spool-volume .u-legend")).to_contain_text("screen_view")
            _shoot(page, folder, "4-explorer-arrived")
            _fits(page, "explorer")

            page.locator("#spool-events tr.spool-event", has_text="purchase").locator("a.spool-detail-link").click()
            expect(page.locator(".spool-raw")).to_contain_text('"profile_id": "user-42"')
            expect(page.locator(".spool-properties")).to_contain_text(("sku-1001,sku-2002,sku-3003 " * 6).strip())
            _shoot(page, folder, "5-event-detail")
            _fits(page, "event detail")

            page.goto(f"{stack.url}/admin/spool/explorer/{project['project_id']}/names/")
            expect(page.locator(".spool-names")).to_contain_text("sensor_reading")
            _shoot(page, folder, "6-event-names")
            _fits(page, "event names")

            page.goto(f"{stack.url}/admin/spool/explorer/{project['project_id']}/?name=screen_view")
            page.locator("#spool-events tr.spool-event").first.locator("td").nth(5).locator("a").click()
            expect(page.locator(".spool-session-summary")).to_contain_text("started")
            _shoot(page, folder, "7-session")
            _fits(page, "session")

            page.goto(f"{stack.url}/admin/spool/health/")
            expect(page.locator(".spool-periodic")).to_contain_text("daily at 00:00 UTC")
            eventually(lambda: page.reload() or page.locator(".spool-late").count() == 0, timeout=60,
                       what="no periodic job late once the worker scheduled them")  # fmt: skip
            _shoot(page, folder, "8-health")
            _fits(page, "health")

            page.goto(f"{stack.url}/admin/ingest/rejectedsample/")
            eventually(lambda: page.reload() or page.locator("#result_list tbody tr").count() >= 4, timeout=60,
                       what="the rejected samples")  # fmt: skip
            _shoot(page, folder, "9-rejected-samples")
            _fits(page, "rejected samples")
            browser.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _accepted_shown(page) -> bool:
    page.reload()
    return page.locator(".spool-accepted-today").inner_text().strip() not in ("", "0")
