"""`manage.py rotate_secret --project CLIENT_ID` (contract §9): a new client secret, printed once as JSON."""
import json
import uuid

from django.core.management.base import BaseCommand, CommandError

from projects import audit, services
from projects.models import Project


def project_by_client_id(client_id: str) -> Project:
    """The project of a client id (or of a project id, which operators know too), else a CommandError."""
    try:
        found = Project.objects.filter(client_id=uuid.UUID(client_id)).first()
    except ValueError:  # not a UUID: a project id, perhaps
        found = Project.objects.filter(id=client_id).first()
    if found is None:
        raise CommandError(f"no project has the client id (or project id) {client_id!r}")
    return found


class Command(BaseCommand):
    help = "Give a project a new client secret (the old one stops working) and print it once as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, metavar="CLIENT_ID", help="the project's client id (or id)")
        parser.add_argument("--by", metavar="USERNAME", help="the admin user recorded in the history")

    def handle(self, *args, **options):
        project = project_by_client_id(options["project"])
        secret = services.rotate_secret(project)
        audit.record(project, "Rotated the client secret (manage.py rotate_secret).", options["by"])
        self.stdout.write(
            json.dumps({"project_id": project.id, "client_id": str(project.client_id), "client_secret": secret})
        )
