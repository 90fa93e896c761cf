"""What the end rows of a sweep's batch of live sessions take from ClickHouse (sessions_app/ends.py):
Redis keeps a live session bounded (sessions_app/bounds.py), and what it does not keep whole is in
the session's stored rows. docs/sessions.md, "What a session keeps in Redis"."""
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from django.conf import settings

from sessions_app import bounds, rules, starts
from storage.clickhouse.queries import sessions as queries
from storage.redis import keys


def _days(first_ms: int, last_ms: int) -> set[date]:
    """The UTC days from the one of `first_ms` to the one of `last_ms`."""
    first, last = (datetime.fromtimestamp(ms / 1000, tz=UTC).date() for ms in (first_ms, last_ms))
    return {first + timedelta(days=n) for n in range((last - first).days + 1)}


_NO_CONTEXT = rules.context({column: "" for column in rules.CONTEXT_COLUMNS} | {"latitude": None, "longitude": None})


def _start_wait_ms() -> int:
    """How long a session's end waits for its start row: as long as its chunk's job may be retried
    (a ClickHouse outage ends; the sweep may run before the retries) and ten minutes more."""
    return (sum(settings.JOB_RETRY_INTERVALS) + 600) * 1000


class StoredFacts:
    """What the end rows of a batch of live sessions take from ClickHouse. For the whole batch, in one
    query: the context of each session from its start row (Redis does not keep it). Per project that
    needs them: the screen views of sessions with more than bounds.SEEN of them (Redis remembers the
    ids of the latest only, so a view sent again may have been counted twice); and, for a session
    whose profile id was too long to keep, or whose start row is not stored after _start_wait_ms(),
    the aggregates of its stored events. A session whose start row is not stored yet waits (its
    chunk's job is being retried): its end would have no context."""

    def __init__(self, closing: list[tuple[str, dict]], now_ms: int):
        self.contexts = starts.stored_of_live(closing)  # one query for the batch, whatever its projects
        self.views: dict[tuple[str, str], int] = {}
        self.stats: dict[tuple[str, str], dict] = {}
        patience = now_ms - rules.timeout_ms() - _start_wait_ms()
        self.waiting = {(project_id, state["sid"]) for project_id, state in closing
                        if (project_id, state["sid"]) not in self.contexts and state["last"] > patience}  # fmt: skip
        by_project: dict[str, list[dict]] = defaultdict(list)
        for project_id, state in closing:
            if (project_id, state["sid"]) not in self.waiting:
                by_project[project_id].append(state)
        for project_id, states in by_project.items():
            self._read(project_id, states)

    def _read(self, project_id: str, states: list[dict]) -> None:
        """The rarer queries, one per project that needs them."""
        many = [state for state in states if state["views"] > bounds.SEEN]
        if many:
            dates = set().union(*(_days(state["first"], state["last"]) for state in many))
            counted = queries.screen_views(project_id, dates, [state["sid"] for state in many])
            self.views.update({(project_id, sid): views for sid, views in counted.items()})
        unsure = [state for state in states if (project_id, state["sid"]) not in self.contexts
                  or keys.is_profile_digest(state.get("profile", ""))]  # fmt: skip
        if unsure:
            dates = set().union(*(_days(state["first"], state["last"]) for state in unsure))
            found = queries.session_stats(project_id, dates, [state["sid"] for state in unsure])
            self.stats.update({(project_id, sid): stats for sid, stats in found.items()})

    def waits(self, project_id: str, state: dict) -> bool:
        return (project_id, state["sid"]) in self.waiting

    def context(self, project_id: str, state: dict) -> dict:
        key = (project_id, state["sid"])
        if key in self.contexts:
            return self.contexts[key].context
        return rules.context(self.stats[key]) if key in self.stats else _NO_CONTEXT

    def device(self, project_id: str, state: dict) -> str:
        """The session's device id, whole (Redis keeps it as its key ref: keys.key_ref)."""
        key = (project_id, state["sid"])
        if key in self.contexts:
            return self.contexts[key].device_id
        return self.stats.get(key, {}).get("device_id") or state["device"]

    def screen_views(self, project_id: str, state: dict) -> int:
        if state["views"] <= bounds.SEEN:
            return state["views"]
        # More than SEEN distinct fingerprints were counted: at least SEEN + 1 distinct screen views.
        return max(self.views.get((project_id, state["sid"]), 0), bounds.SEEN + 1)

    def profile(self, project_id: str, state: dict) -> str:
        ref = state.get("profile") or ""
        if keys.is_profile_digest(ref):
            ref = self.stats.get((project_id, state["sid"]), {}).get("profile_id", "")
        return ref or self.device(project_id, state)
