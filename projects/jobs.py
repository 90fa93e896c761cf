"""Scheduled work of projects."""
from projects import services


def rotate_salts() -> int:
    """Daily at 00:00 UTC (ingest.schedule): a new salt for every project, the newest two kept."""
    return services.rotate_salts()
