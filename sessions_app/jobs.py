"""Scheduled work of sessions (the worker's upkeep runs it every SESSION_SWEEP_SECONDS: ingest/worker/schedule.py)."""
import time
from collections.abc import Callable

from sessions_app.ends import close_historical_sessions, close_live_sessions
from sessions_app.starts import delete_moved


def close_sessions(go_on: Callable[[], bool] = lambda: True) -> dict:
    """End what is due; `go_on()` turning false (the worker stops) ends the sweep between two rounds."""
    now_ms = int(time.time() * 1000)
    return {
        "live": close_live_sessions(now_ms, go_on),
        "historical": close_historical_sessions(now_ms, go_on) if go_on() else 0,
        "moved_starts_deleted": delete_moved() if go_on() else 0,
    }
