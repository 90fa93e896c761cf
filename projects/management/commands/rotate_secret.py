"""`manage.py rotate_secret --project CLIENT_ID [--grace SECONDS]` (contract §9 r3): a new client
secret, printed once as JSON. With a grace the old secret is still accepted that long."""
import json

from django.core.management.base import BaseCommand, CommandError

from projects import audit, services
from projects.management.commands._project import add_project_arguments, project_by_client_id


class Command(BaseCommand):
    help = (
        "Give a project a new client secret and print it once as JSON. Without --grace the old secret is "
        "refused at once (a leaked secret); with --grace SECONDS it is accepted that much longer."
    )

    def add_arguments(self, parser):
        add_project_arguments(parser)
        parser.add_argument(
            "--grace", type=int, default=0, metavar="SECONDS",
            help=f"accept the old secret this long (0 to {services.MAX_GRACE_SECONDS}) while devices are updated",
        )  # fmt: skip

    def handle(self, *args, **options):
        project = project_by_client_id(options["project"])
        grace = options["grace"]
        try:
            secret = services.rotate_secret(project, grace_seconds=grace)
        except ValueError as error:
            raise CommandError(str(error)) from None
        kept = f", the old one accepted for {grace} s" if grace and project.previous_secret_until else ""
        audit.record(project, f"Rotated the client secret{kept} (manage.py rotate_secret).", options["by"])
        answer = {"project_id": project.id, "client_id": str(project.client_id), "client_secret": secret}
        if project.previous_secret_until:
            answer["old_secret_until"] = f"{project.previous_secret_until:%Y-%m-%dT%H:%M:%SZ}"  # as the header says it
        self.stdout.write(json.dumps(answer))
