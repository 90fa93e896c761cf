"""Routes of the explorer and the health page, each behind the admin's login (admin_view)."""
from django.contrib import admin
from django.urls import path

from ingest.explorer import health, views

app_name = "spool-explorer"

urlpatterns = [
    path("explorer/", admin.site.admin_view(views.projects), name="projects"),
    path("explorer/<slug:project_id>/", admin.site.admin_view(views.events), name="events"),
    path("explorer/<slug:project_id>/sessions/<path:session_id>/", admin.site.admin_view(views.session), name="session"),
    path("explorer/<slug:project_id>/profiles/<path:profile_id>/", admin.site.admin_view(views.profile), name="profile"),
    path("health/", admin.site.admin_view(health.page), name="health"),
    path("health/requeue/", admin.site.admin_view(health.requeue), name="requeue"),
]
