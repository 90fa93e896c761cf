"""Contract §6.4 (r3): stock HTTP clients are server senders, stored; every crawler drop is counted,
per project and crawler name, in /metrics and on the project's admin page. Issue 18 finding 7: a
device sending with Python's or Java's stock client got `202 {"bot": ...}`, nothing stored, nothing
counted."""
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import stored
from tests.support.agents import BINGBOT_UA, GOOGLEBOT_UA
from tests.support.events import track
from tests.support.worker import drain

pytestmark = pytest.mark.django_db

# Every family the contract names, as those clients send it.
STOCK_CLIENTS = [
    "Python-urllib/3.11", "Java/17", "Java/1.8.0_292", "Dalvik/2.1.0 (Linux; U; Android 14; SM-S918B Build/UP1A)",
    "okhttp/4.12.0", "Go-http-client/1.1", "Go-http-client/2.0", "curl/8.5.0", "libcurl/7.88.1", "Wget/1.21.3",
    "Wget/1.21.3 (linux-gnu)", "python-requests/2.32.3", "python-httpx/0.27.0", "Python/3.11 aiohttp/3.9.5",
    "axios/1.7.9", "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "undici", "node",
    "MyApp/1.4.2 CFNetwork/1494.0.7 Darwin/23.4.0", "python-urllib3/2.0.7",
]  # fmt: skip
# A crawler names itself as one: the big engines, a `bot`/`crawler`/`spider` word, social previews.
CRAWLERS = [
    (GOOGLEBOT_UA, "Googlebot"), ("Googlebot/2.1", "Googlebot"), (BINGBOT_UA, "bingbot"),
    ("facebookexternalhit/1.1", "FacebookBot"), ("Twitterbot/1.0", "Twitterbot"), ("LinkedInBot/1.0", "LinkedInBot"),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "Slackbot-LinkExpanding"),
    ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", "SemrushBot"),
    ("WhatsApp/2.23.20.0", "WhatsApp"),
]  # fmt: skip


@pytest.mark.parametrize("user_agent", STOCK_CLIENTS)
def test_stock_http_clients_are_stored_as_servers(client_for, project, user_agent):
    sender = client_for(user_agent=user_agent)
    batch = sender.post("/track/batch", {"events": [track("drained", n=1), track("drained", n=2)]}, format="json")
    assert batch.status_code == 202 and batch.json() == {"accepted": 2, "rejected": []}
    single = sender.post("/track", track("single"), format="json")
    assert single.status_code == 200 and "bot" not in single.json()
    drain()
    rows = stored.events(project.id)
    assert sorted(row["name"] for row in rows) == ["drained", "drained", "single"]
    assert {row["device"] for row in rows} == {"server"}
    assert stored.count(project.id, "name = 'session_start'") == 0  # servers start no session


@pytest.mark.parametrize("user_agent, name", CRAWLERS)
def test_every_crawler_drop_is_counted_by_project_and_name(client_for, project, user_agent, name):
    from django.utils import timezone

    from storage.redis import counters

    bot = client_for(user_agent=user_agent)
    assert bot.post("/track", track("crawl"), format="json").json() == {"bot": {"name": name}}
    assert bot.post("/track/batch", {"events": [track("crawl")] * 3}, format="json").status_code == 202
    drain()
    assert stored.count(project.id) == 0
    assert counters.top_crawlers(project.id, timezone.now().date()) == [(name, 4)]
    totals = counters.crawler_totals()
    assert totals[(project.id, name, "events")] == 4 and totals[(project.id, name, "requests")] == 2


def test_crawler_drops_in_metrics(client_for, project, client, settings):
    settings.METRICS_TOKEN = "a-scraper-token-long-enough"
    bot = client_for(user_agent=GOOGLEBOT_UA)
    bot.post("/track/batch", {"events": [track("crawl")] * 5}, format="json")
    bot.post("/track", track("crawl"), format="json")
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer a-scraper-token-long-enough").content.decode()
    samples = {
        (sample.name, sample.labels.get("project"), sample.labels.get("crawler")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("spool_crawler_events_dropped_total", project.id, "Googlebot")] == 6
    assert samples[("spool_crawler_requests_dropped_total", project.id, "Googlebot")] == 2


def test_the_project_page_shows_the_top_crawlers_of_7_days(client_for, project, admin_client):
    for user_agent, times in ((GOOGLEBOT_UA, 3), (BINGBOT_UA, 1)):
        for _ in range(times):
            client_for(user_agent=user_agent).post("/track/batch", {"events": [track("crawl")] * 2}, format="json")
    page = admin_client.get(f"/admin/projects/project/{project.pk}/change/").content.decode()
    section = page[page.lower().index("crawlers, last 7 days") :]
    assert section.index("Googlebot") < section.index("bingbot")
    assert "<td>Googlebot</td><td>6</td>" in section and "<td>bingbot</td><td>2</td>" in section


def test_a_crawler_cannot_grow_the_names_without_bound(client_for, project):
    from django.utils import timezone

    from storage.redis import counters

    for number in range(counters.CRAWLER_NAMES_PER_PROJECT + 5):
        client_for(user_agent=f"Crawler{number}bot/1.0").post("/track", track("crawl"), format="json")
    top = dict(counters.top_crawlers(project.id, timezone.now().date(), most=100))
    assert len(top) == counters.CRAWLER_NAMES_PER_PROJECT + 1 and top["other"] == 5
