"""Every route: the landing page, the probes and metrics, the OpenAPI document and its viewers, the /track API (also
under /api), the queue pages, the events explorer and the admin."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from ingest.api.landing import landing
from ingest.api.views import HealthView, LiveView, ReadyView
from ingest.observe.views import metrics_view

urlpatterns = [
    path("", landing, name="landing"),  # the admin's "View site" (its site_url, "/") goes here
    path("healthz", HealthView.as_view(), name="healthz"),
    path("livez", LiveView.as_view(), name="livez"),
    path("readyz", ReadyView.as_view(), name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("", include("ingest.urls")),
    # Self-hosted SDKs are configured with apiUrl=https://host/api.
    path("api/", include(("ingest.urls", "ingest"), namespace="api")),
    path("admin/django-rq/", include("django_rq.urls")),
    path("admin/spool/", include("ingest.explorer.urls")),
    path("admin/", admin.site.urls),
]
