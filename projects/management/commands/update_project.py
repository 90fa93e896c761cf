"""`manage.py update_project --project CLIENT_ID [...]`: change a project's settings (contract §9 r2),
print the project's settings as JSON."""
import json
import uuid

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from projects.models import MAX_BACKFILL_DAYS, Project
from projects.services import update_project


class Command(BaseCommand):
    help = "Change a project's origins, backfill window, quota, burst or active flag; prints its settings."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, metavar="CLIENT_ID", help="the project's client id")
        parser.add_argument("--origin", action="append", help="an allowed origin; repeat for more (replaces the list)")
        parser.add_argument("--backfill-days", type=int, help=f"1 to {MAX_BACKFILL_DAYS}")
        parser.add_argument("--quota", type=int, metavar="EVENTS_PER_MINUTE", help="0: back to the default")
        parser.add_argument("--burst", type=int, metavar="EVENTS", help="0: back to the default")
        active = parser.add_mutually_exclusive_group()
        active.add_argument("--disable", action="store_true", help="refuse every request (401)")
        active.add_argument("--enable", action="store_true")

    def handle(self, *args, **options):
        project = self._project(options["project"])
        changes: dict = {}
        if options["origin"] is not None:
            changes["allowed_origins"] = "\n".join(options["origin"])
        if options["backfill_days"] is not None:
            changes["backfill_days"] = options["backfill_days"]
        for option, field in (("quota", "quota_events_per_minute"), ("burst", "quota_burst")):
            if options[option] is not None:
                if options[option] < 0:
                    raise CommandError(f"--{option} must be 0 (the default) or more")
                changes[field] = options[option] or None
        if options["disable"] or options["enable"]:
            changes["active"] = bool(options["enable"])
        try:
            update_project(project, changes)
        except ValidationError as error:
            problems = [f"{field}: {text}" for field, texts in error.message_dict.items() for text in texts]
            raise CommandError("; ".join(problems)) from None
        self.stdout.write(json.dumps(describe(project)))

    @staticmethod
    def _project(client_id: str) -> Project:
        try:
            return Project.objects.get(client_id=uuid.UUID(client_id))
        except (ValueError, Project.DoesNotExist):
            raise CommandError(f"no project has the client id {client_id!r}") from None


def describe(project: Project) -> dict:
    return {
        "project_id": project.id,
        "client_id": str(project.client_id),
        "name": project.name,
        "active": project.active,
        "origins": project.origins,
        "backfill_days": project.backfill_days,
        "quota_events_per_minute": project.quota_events_per_minute,
        "quota_burst": project.quota_burst,
    }
