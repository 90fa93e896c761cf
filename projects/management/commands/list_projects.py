"""`manage.py list_projects [--json]` (contract §9): every project, its settings and accepted rows."""
import json
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone
from redis.exceptions import RedisError

from projects import activity
from projects.models import Project


class Command(BaseCommand):
    help = "List the projects: ids, origins, backfill window, whether a secret is set, rows accepted."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="one JSON array, for scripts")

    def handle(self, *args, **options):
        projects = list(Project.objects.order_by("name"))
        try:
            counts = activity.accepted_summary([project.id for project in projects], timezone.now().date())
        except RedisError:
            counts = {}  # the projects are still worth listing; counts show as null / "?"
        rows: list[dict[str, Any]] = [
            {
                "project_id": project.id,
                "name": project.name,
                "client_id": str(project.client_id),
                "secret": project.has_secret,
                "origins": project.origins,
                "backfill_days": project.backfill_days,
                "ignore_cors_and_secret": project.ignore_cors_and_secret,
                "accepted_today": counts[project.id][0] if project.id in counts else None,
                "accepted_7_days": counts[project.id][1] if project.id in counts else None,
                "created_at": project.created_at.isoformat(timespec="seconds"),
            }
            for project in projects
        ]
        if options["json"]:
            self.stdout.write(json.dumps(rows))
            return
        header = ("project id", "name", "client id", "secret", "backfill", "today", "7 days", "origins")
        lines = [header] + [
            (row["project_id"], row["name"], row["client_id"], "yes" if row["secret"] else "no",
             f"{row['backfill_days']} d", _count(row["accepted_today"]), _count(row["accepted_7_days"]),
             ", ".join(row["origins"]) or "-")
            for row in rows
        ]  # fmt: skip
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        for line in lines:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
        self.stdout.write(f"{len(rows)} project(s)")


def _count(value) -> str:
    return "?" if value is None else f"{value:,}"
