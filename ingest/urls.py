"""The ingestion routes (served at the root and under /api)."""
from django.urls import path

from ingest.api.views import BatchView, DeviceIdView, TrackView

urlpatterns = [
    path("track", TrackView.as_view(), name="track"),
    path("track/batch", BatchView.as_view(), name="track-batch"),
    path("track/device-id", DeviceIdView.as_view(), name="track-device-id"),
]
