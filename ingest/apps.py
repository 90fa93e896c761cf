"""The ingest app: the HTTP edge, the pipeline, the worker and their rejected-row samples."""
from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Ingestion"  # the admin's section and breadcrumbs

    def ready(self) -> None:
        # Storage enqueues jobs by name: the worker's registry says which function runs each.
        from ingest.worker import registry

        registry.install()
