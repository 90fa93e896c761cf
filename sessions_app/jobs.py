"""Scheduled work of sessions (ingest/worker/schedule.py runs it every SESSION_SWEEP_SECONDS)."""
import time

from sessions_app.ends import close_historical_sessions, close_live_sessions
from sessions_app.starts import delete_moved


def close_sessions() -> dict:
    now_ms = int(time.time() * 1000)
    return {
        "live": close_live_sessions(now_ms),
        "historical": close_historical_sessions(now_ms),
        "moved_starts_deleted": delete_moved(),
    }
