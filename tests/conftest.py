"""Fixtures: real Redis, ClickHouse and database; one ClickHouse database per run, Redis flushed per test."""
import uuid

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from ingest import keys, store
from ingest.clickhouse_migrations.runner import migrate
from projects import auth
from projects.services import create_project

BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


@pytest.fixture(scope="session", autouse=True)
def clickhouse_database():
    """Create this run's ClickHouse database with the real migrations; drop it at the end."""
    database = store.database()
    migrate(database)
    yield database
    store.client(with_database=False).execute(f"DROP DATABASE IF EXISTS {database}")
    store.reset_clients()


@pytest.fixture(autouse=True)
def clean_redis():
    keys.redis().flushdb()
    auth._cache.clear()
    yield


@pytest.fixture
def project(db):
    """A project with a secret; `project.secret` holds the clear secret."""
    # A fresh project id per test: ClickHouse rows outlive the test's database transaction.
    name = f"Test app {uuid.uuid4().hex[:8]}"
    created, secret = create_project(name, origins=["https://app.example.com", "*.example.org"])
    created.secret = secret
    return created


@pytest.fixture
def client_for(project):
    """An API client sending the project's credentials and a browser user agent."""

    def build(secret: bool = True, user_agent: str = BROWSER_UA, ip: str = "81.2.69.142", **headers) -> APIClient:
        client = APIClient()
        credentials = {"HTTP_OPENPANEL_CLIENT_ID": str(project.client_id), "HTTP_USER_AGENT": user_agent}
        if secret:
            credentials["HTTP_OPENPANEL_CLIENT_SECRET"] = project.secret
        if ip:
            credentials["HTTP_X_FORWARDED_FOR"] = ip
        credentials.update(headers)
        client.credentials(**credentials)
        return client

    return build


@pytest.fixture
def api(client_for):
    return client_for()


@pytest.fixture
def geoip(tmp_path, settings):
    from tests.support.geoip import build_city_database

    settings.GEOIP_PATH = build_city_database(tmp_path / "city.mmdb")
    yield settings.GEOIP_PATH


def pytest_report_header(config):
    return f"ClickHouse: {settings.CLICKHOUSE_URL}  Redis: {settings.CACHES['default']['LOCATION']}"
