"""Fixtures: real Redis, ClickHouse and database; one ClickHouse database per run, Redis flushed per test."""
import uuid

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from ingest.pipeline import budget
from projects import auth
from projects.services import create_project
from storage.clickhouse import client as clickhouse
from storage.clickhouse.schema.migrate import migrate
from storage.redis import client as redis
from tests.support.agents import BROWSER_UA


@pytest.fixture(scope="session", autouse=True)
def clickhouse_database():
    """Create this run's ClickHouse database with the real migrations; drop it at the end."""
    database = clickhouse.database()
    migrate(database)
    yield database
    clickhouse.client(with_database=False).execute(f"DROP DATABASE IF EXISTS {database}")
    clickhouse.reset_clients()


@pytest.fixture(autouse=True)
def clean_redis():
    redis.client().flushdb()
    auth.forget_all()
    budget.forget()
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
