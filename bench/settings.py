"""Settings of the benchmark server: Spool's own, plus the floor views (bench/floor_urls.py)."""
from config.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.floor_urls"
