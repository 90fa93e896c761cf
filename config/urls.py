from django.contrib import admin
from django.urls import include, path

from ingest.views import HealthView

urlpatterns = [
    path("healthz", HealthView.as_view(), name="healthz"),
    path("", include("ingest.urls")),
    # Self-hosted SDKs are configured with apiUrl=https://host/api.
    path("api/", include(("ingest.urls", "ingest"), namespace="api")),
    path("admin/django-rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
]
