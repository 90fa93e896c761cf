"""The client's sessions (contract §6.2 rule 0): decided on the device, which sees its events in
order, and sent as `__sessionId`. A new session after `idle` seconds without events or once the
session is `longest` old (30 minutes and 24 hours, as PostHog's SDKs do; the same rule as
spool-offline, clients/js/src/session.ts); a device clock that jumps back by more than `idle`
starts one too."""
from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Session:
    id: str  # a UUID: 1 to 128 printable characters, as the contract asks
    started: float  # seconds, by the device clock (or the event's own time)
    last: float  # its latest event's time


@dataclass(frozen=True)
class SessionRule:
    idle: float = 1800.0
    longest: float = 86_400.0

    def starts_new(self, current: Session | None, at: float) -> bool:
        if current is None:
            return True
        return at - current.last > self.idle or at - current.started >= self.longest or at < current.started - self.idle

    def session_at(self, current: Session | None, at: float) -> Session:
        """The session an event at `at` belongs to, with its times moved on."""
        if current is None or self.starts_new(current, at):
            return Session(str(uuid.uuid4()), at, at)
        return Session(current.id, current.started, max(current.last, at))
