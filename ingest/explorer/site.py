"""The admin site, branded: "Spool" in the header, and Spool's own pages (the events explorer and
the ingestion health page) as the first section of the index and the sidebar, before the models."""
from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest
from django.urls import reverse

# The index's sections, in this order; apps not named here follow, alphabetically.
SECTIONS = ("spool", "projects", "ingest", "django_rq", "axes", "auth")
# Section and page names in plain words, where the apps' own are code names ("DJANGO_RQ", "Axes").
RENAMED = {"django_rq": "Queues", "axes": "Sign-in attempts (django-axes)"}
PAGES_RENAMED = {"Django-RQ": "Queue pages (django-rq)"}


def _page(name: str, url_name: str) -> dict:
    return {"name": name, "object_name": url_name, "admin_url": reverse(url_name), "view_only": True,
            "perms": {"view": True}}  # fmt: skip


def spool_section(request: HttpRequest) -> dict:
    pages = [_page("Events explorer", "spool-explorer:projects")]
    if request.user.is_superuser:
        pages.append(_page("Ingestion health", "spool-explorer:health"))
    return {"name": "Spool", "app_label": "spool", "app_url": reverse("spool-explorer:projects"),
            "has_module_perms": True, "models": pages}  # fmt: skip


class SpoolAdminSite(admin.AdminSite):
    site_header = "Spool"
    site_title = "Spool admin"
    index_title = "Spool administration"
    # The sidebar takes 275 px of 1366: the explorer's and the project list's columns need them. The
    # index and the breadcrumbs lead everywhere it did.
    enable_nav_sidebar = False

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        if app_label is None and request.user.is_active and request.user.is_staff:
            apps.append(spool_section(request))
        for app in apps:
            app["name"] = RENAMED.get(app["app_label"], app["name"])
            for page in app["models"]:
                page["name"] = PAGES_RENAMED.get(page["name"], page["name"])
        rank = {label: position for position, label in enumerate(SECTIONS)}
        return sorted(apps, key=lambda app: (rank.get(app["app_label"], len(SECTIONS)), app["name"].lower()))


class SpoolAdminConfig(AdminConfig):
    default_site = "ingest.explorer.site.SpoolAdminSite"
