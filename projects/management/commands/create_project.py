"""`manage.py create_project`: a new project, its credentials printed once as JSON (contract §9)."""
import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from projects.models import MAX_BACKFILL_DAYS
from projects.services import create_project


class Command(BaseCommand):
    help = "Create a project and print its credentials as JSON (the secret is shown only now)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--origin", action="append", default=[], help="an allowed origin; repeat for more")
        parser.add_argument("--backfill-days", type=int, default=5, help=f"1 to {MAX_BACKFILL_DAYS}")
        parser.add_argument("--no-secret", action="store_true", help="browser-only project: origins are checked")

    def handle(self, *args, **options):
        try:
            project, secret = create_project(
                options["name"],
                origins=options["origin"],
                backfill_days=options["backfill_days"],
                with_secret=not options["no_secret"],
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(
            json.dumps({"project_id": project.id, "client_id": str(project.client_id), "client_secret": secret})
        )
