"""What the project commands share: `--project CLIENT_ID` (or a project id) and `--by USERNAME`."""
import uuid

from django.core.management.base import CommandError

from projects.models import Project


def add_project_arguments(parser, by: bool = True) -> None:
    parser.add_argument("--project", required=True, metavar="CLIENT_ID", help="the project's client id (or id)")
    if by:
        parser.add_argument("--by", metavar="USERNAME", help="the admin user recorded in the project's history")


def project_by_client_id(client_id: str) -> Project:
    """The project of a client id (or of a project id, which operators know too), else a CommandError."""
    try:
        found = Project.objects.filter(client_id=uuid.UUID(client_id)).first()
    except ValueError:  # not a UUID: a project id, perhaps
        found = Project.objects.filter(id=client_id).first()
    if found is None:
        raise CommandError(f"no project has the client id (or project id) {client_id!r}")
    return found
