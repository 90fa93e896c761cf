"""Issue 11, done when: a real browser (Debian's headless Chromium, driven by Playwright) signs in to the
admin, opens the events explorer of a project in live mode, an event is sent, and it appears."""
import os
import shutil
import tempfile

import pytest
import requests

from tests.support.events import track
from tests.support.live import LiveStack

pytestmark = pytest.mark.django_db(transaction=True)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture
def stack(tmp_path):
    live = LiveStack(tmp_path, DJANGO_SUPERUSER_PASSWORD="pw-browser-1")
    try:
        live.manage("collectstatic", "--noinput", "-v0")  # the admin's CSS and JS, as `make run` serves them
        live.start(workers=1, web_workers=2)
        live.manage("createsuperuser", "--noinput", "--username", "operator", "--email", "ops@example.com")
        yield live
    finally:
        live.stop()


def test_an_event_sent_appears_in_the_explorer_in_live_mode(stack):
    from playwright.sync_api import expect, sync_playwright

    project = stack.create_project("--name", "Browser app")
    profile = tempfile.mkdtemp(prefix="spool-chromium-")
    try:
        with sync_playwright() as playwright:
            # A fresh profile folder of its own (--user-data-dir), never a downloaded browser.
            browser = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            page = browser.new_page()
            page.goto(f"{stack.url}/admin/login/?next=/admin/")
            page.fill("#id_username", "operator")
            page.fill("#id_password", "pw-browser-1")
            page.click("input[type=submit]")
            page.click("text=Events explorer")
            page.click("text=Browser app")
            page.click("text=live mode")
            expect(page.locator(".spool-live")).to_be_visible()
            expect(page.locator("#spool-events")).to_contain_text("No events in this range")

            headers = {"openpanel-client-id": project["client_id"], "openpanel-client-secret": project["client_secret"]}
            sent = requests.post(f"{stack.url}/track", json=track("hello_from_the_test", plan="pro"), headers=headers,
                                 timeout=10)  # fmt: skip
            assert sent.status_code == 200
            row = page.locator("#spool-events tr.spool-event", has_text="hello_from_the_test")
            expect(row).to_be_visible(timeout=30_000)  # polled in, the page was not reloaded
            expect(row).to_contain_text("plan=pro")
            browser.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_chromium_is_there():
    # `make test` installs it (scripts/test-tools.sh); the browser test must run, never skip.
    assert os.access(CHROMIUM, os.X_OK), "chromium is missing: run scripts/test-tools.sh (apt-get install chromium)"
