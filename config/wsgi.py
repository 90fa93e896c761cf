"""WSGI entry point: config.wsgi:application."""
import gc
import os
import sys

from django.core.wsgi import get_wsgi_application

from config import SettingError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
try:
    application = get_wsgi_application()
except SettingError as error:  # a wrong setting: its one line, then gunicorn stops ("failed to boot")
    print(f"spool: {error}", file=sys.stderr, flush=True)
    raise SystemExit(3) from None  # gunicorn's WORKER_BOOT_ERROR: the master halts instead of respawning

# A 2000-event batch allocates ~100k objects that live until the answer, so the cyclic GC ran often,
# its full collections walking every long-lived object of the process too (modules, URL patterns, DRF
# fields: ~100k more): ~20 ms per batch (docs/performance.md). Load the URLconf and views now, freeze
# what exists (the collector skips it from then on), and collect young objects somewhat less often:
# 5,000, not more, as single events leave cyclic garbage and a collection of 50,000 such objects
# stalls a request for 20-60 ms. A batch's parsed body is freed by reference counting
# (ingest.views releases it), not left to the GC.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018 - imports every view module before the freeze
gc.collect()
gc.freeze()
gc.set_threshold(5_000, 20, 20)
