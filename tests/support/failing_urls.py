"""The project's routes plus two that fail as a bug would, for the tests of what error reports hold:
a DRF view after authentication (its frames hold the project with its salts, and the body), and a
plain Django view. Nothing of the project's own code is replaced."""
from django.urls import path
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urlpatterns
from ingest.api.authentication import ProjectAuthentication


class FailingView(APIView):
    authentication_classes = [ProjectAuthentication]

    def post(self, request):
        project = request.auth  # ProjectContext: the salts and the secret's hash
        body = request.data
        secret = body.get("clientSecret")
        raise RuntimeError(f"a bug for {project} (sent {secret})")


def failing_page(request):
    cookies = request.COOKIES  # noqa: F841 - a local variable of the failing frame
    raise LookupError("a bug in a page")


urlpatterns = [
    path("test-only/fails", FailingView.as_view()),
    path("test-only/page-fails", failing_page),
    *project_urlpatterns,
]
