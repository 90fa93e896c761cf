"""The django-rq queue pages for superusers only (issue 10, finding 4).

They show queued payloads (the events' raw properties) and can empty a queue, which loses events
that were already acknowledged. django-rq checks only `is_staff`, and its pages are reached two
ways (`/admin/django-rq/` and the admin's `/admin/django_rq/dashboard/`): both are gated here.
"""
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseForbidden

QUEUE_PAGES = ("/admin/django-rq/", "/admin/django_rq/")


class QueuePagesForSuperusers:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(QUEUE_PAGES) and not request.user.is_superuser:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), "/admin/login/")
            return HttpResponseForbidden("The queue pages are for superusers only.")
        return self.get_response(request)
