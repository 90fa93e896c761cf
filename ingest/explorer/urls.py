"""Routes of the explorer and the health page, each behind the admin's login (admin_view)."""
from django.contrib import admin
from django.urls import path

from ingest.explorer import health, views

app_name = "spool-explorer"

staff = admin.site.admin_view

urlpatterns = [
    path("explorer/", staff(views.projects), name="projects"),
    path("explorer/<slug:project_id>/", staff(views.events), name="events"),
    path("explorer/<slug:project_id>/names/", staff(views.names), name="names"),
    path("explorer/<slug:project_id>/events/<uuid:event_id>/", staff(views.event), name="event"),
    path("explorer/<slug:project_id>/sessions/<path:session_id>/", staff(views.session), name="session"),
    path("explorer/<slug:project_id>/profiles/<path:profile_id>/", staff(views.profile), name="profile"),
    path("health/", staff(health.page), name="health"),
    path("health/requeue/", staff(health.requeue), name="requeue"),
]
