"""`manage.py demo_project`: the local demo project that `make run` prints, created once and kept."""
import json
import shlex

from django.conf import settings
from django.core.management.base import BaseCommand

from projects.models import Project
from projects.services import create_project, rotate_secret

DEMO_ID = "demo"


class Command(BaseCommand):
    help = "Make sure the local demo project exists and print its credentials and a curl example."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="where the server answers (make run's)")

    def handle(self, *args, **options):
        # Secrets are stored hashed; the demo's is also kept in a local, git-ignored file so that
        # `make run` can show it again without changing it.
        state = settings.BASE_DIR / ".local" / "demo-project.json"
        project = Project.objects.filter(id=DEMO_ID).first()
        saved = json.loads(state.read_text()) if state.exists() else {}
        if project is None:
            project, secret = create_project("Demo", origins=["*"])  # slug of "Demo" is DEMO_ID
        elif saved.get("client_id") == str(project.client_id):
            secret = saved["client_secret"]
        else:
            secret = rotate_secret(project)
        credentials = {"project_id": project.id, "client_id": str(project.client_id), "client_secret": secret}
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps(credentials))
        event = json.dumps({"type": "track", "payload": {"name": "hello", "properties": {"source": "curl"}}})
        self.stdout.write("Demo project (keep these; the secret is stored hashed):")
        self.stdout.write(json.dumps(credentials, indent=2))
        self.stdout.write("Send an event:")
        self.stdout.write(
            f"curl -s {options['url']}/track -H 'content-type: application/json' "
            f"-H 'openpanel-client-id: {project.client_id}' -H 'openpanel-client-secret: {secret}' "
            f"-d {shlex.quote(event)}"
        )
