"""The django-rq queue pages for superusers only (issue 10, finding 4; issue 17, finding 11).

They show queued payloads (the events' raw properties) and can empty a queue, which loses events
that were already acknowledged. django-rq checks only `is_staff`, and its pages are reached two
ways (`/admin/django-rq/` and the admin's `/admin/django_rq/dashboard/`). The gate looks at the view
the URL resolved to, not at the path: a path prefix changes with SCRIPT_NAME (a sub-path deployment,
or the header gunicorn takes from loopback peers) while the URL still resolves to the same view.
"""
from collections.abc import Callable
from typing import cast

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseForbidden
from django.http.response import HttpResponseBase
from django.urls import ResolverMatch, reverse

QUEUE_APP = "django_rq"  # the package, its URL namespace, and the prefix of its admin URL names


def is_queue_page(request: HttpRequest, view_func: Callable) -> bool:
    """Whether the resolved view is one of django-rq's, whichever URL reached it."""
    match = cast(ResolverMatch, request.resolver_match)  # process_view runs once the URL is resolved
    if QUEUE_APP in match.namespaces or (match.url_name or "").startswith(f"{QUEUE_APP}_"):
        return True
    # The admin wraps each view with functools.wraps, which keeps the module of the view it wraps.
    module = getattr(view_func, "__module__", "") or ""
    return module == QUEUE_APP or module.startswith(f"{QUEUE_APP}.")


class QueuePagesForSuperusers:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable, view_args: tuple, view_kwargs: dict
    ) -> HttpResponseBase | None:
        if request.user.is_superuser or not is_queue_page(request, view_func):
            return None
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        return HttpResponseForbidden("The queue pages are for superusers only.")
