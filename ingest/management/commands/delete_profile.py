"""`manage.py delete_profile --project CLIENT_ID --profile ID` (contract §9): GDPR erasure of a profile
(ingest/profiles/erase.py), with a line in the admin's history that names it by fingerprint only."""
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.profiles.erase import erase_profile, fingerprint
from projects import audit
from projects.management.commands._project import add_project_arguments, project_by_client_id
from storage.clickhouse.queries import erasure


class Command(BaseCommand):
    help = (
        "Erase a profile: its events and profile rows in ClickHouse (a mutation, done in the background), "
        "its group memberships, its Redis state and the rejected-row samples that name it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_project_arguments(parser)
        parser.add_argument("--profile", required=True, help="the profile id")
        parser.add_argument("--wait", type=int, default=0, metavar="SECONDS",
                            help="wait up to this long for ClickHouse to finish the deletion")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_by_client_id(options["project"])
        profile_id = options["profile"].strip()
        if not profile_id:
            raise CommandError("--profile must not be blank")
        erased = erase_profile(project.id, profile_id, int(time.time() * 1000))
        audit.record(
            project,
            f"Erased a profile (GDPR), sha256 {fingerprint(profile_id)}: its events and profile rows "
            f"({', '.join(erased.tables)}), its Redis state and {erased.samples} rejected-row sample(s).",
            options["by"],
        )
        self.stdout.write(f"erased profile {profile_id!r} of {project.id}: hidden from the explorer now; "
                          f"ClickHouse deletes its rows from {', '.join(erased.tables)} in the background")  # fmt: skip
        if erased.queued_changes:
            self.stdout.write(
                f"note: {erased.queued_changes} profile change packet(s) were still queued; if the app sent "
                "changes for this profile just now, run this command again once they are applied"
            )
        deadline = time.monotonic() + options["wait"]
        while options["wait"] and erasure.pending_mutations() and time.monotonic() < deadline:
            time.sleep(0.5)
        if options["wait"]:
            pending = erasure.pending_mutations()
            self.stdout.write("ClickHouse has finished the deletion" if not pending
                              else f"ClickHouse is still working ({pending} mutation(s) pending)")  # fmt: skip
