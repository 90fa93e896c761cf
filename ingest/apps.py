"""The ingest app: the HTTP edge, the pipeline, the worker and their rejected-row samples."""
from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
