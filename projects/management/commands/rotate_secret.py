"""`manage.py rotate_secret --project CLIENT_ID` (contract §9): a new client secret, printed once as JSON."""
import json

from django.core.management.base import BaseCommand

from projects import audit, services
from projects.management.commands._project import add_project_arguments, project_by_client_id


class Command(BaseCommand):
    help = "Give a project a new client secret (the old one stops working) and print it once as JSON."

    def add_arguments(self, parser):
        add_project_arguments(parser)

    def handle(self, *args, **options):
        project = project_by_client_id(options["project"])
        secret = services.rotate_secret(project)
        audit.record(project, "Rotated the client secret (manage.py rotate_secret).", options["by"])
        self.stdout.write(
            json.dumps({"project_id": project.id, "client_id": str(project.client_id), "client_secret": secret})
        )
