"""`manage.py rotate_salts`: a new salt for every project (or those named), the newest two kept."""
from django.core.management.base import BaseCommand

from projects.models import Project
from projects.services import rotate_salts


class Command(BaseCommand):
    help = "Add a new salt to every project (or the ones named) and keep only the newest two."

    def add_arguments(self, parser):
        parser.add_argument("--project", action="append", default=[], help="project id; repeat for more")

    def handle(self, *args, **options):
        projects = Project.objects.all()
        if options["project"]:
            projects = projects.filter(id__in=options["project"])
        count = rotate_salts(projects)
        self.stdout.write(f"rotated the salts of {count} project(s)")
