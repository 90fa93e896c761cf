"""Who sent a request: its IP, user agent, geo and SDK, read once per request (contract §4: shared work
done once), and the per-request caches of device ids."""
import time
from dataclasses import dataclass, field

from django.conf import settings

from contract.messages import JobContext
from ingest.enrich.geo import Geo, locate
from ingest.enrich.ip import sender_ip
from ingest.enrich.text import clean
from ingest.enrich.ua import Agent, parse_agent
from projects.auth import ProjectContext
from sessions_app.identity import device_id


@dataclass(slots=True)
class RequestInfo:
    received_ms: int
    ip: str
    user_agent: str
    agent: Agent
    geo: Geo
    origin: str = ""
    sdk_name: str = ""
    sdk_version: str = ""
    request_id: str = ""  # the X-Request-ID of the answer; logs name it
    clock_skew_ms: int = 0  # a batch's correction of its `__timestamp`s: received_at − sentAt (contract §5.1)
    # The operator replays an export (`replay_events`): a `spool:<row id>` insert id is that row's id.
    # Never set from a request: a client cannot choose a row id (docs/api.md, "Sending again safely").
    exported_ids: bool = False

    def job_context(self, project: ProjectContext) -> JobContext:
        """The plain-data part of the request that travels with its events to the worker."""
        return {
            "project_id": project.id,
            "backfill_days": project.backfill_days,
            "received_ms": self.received_ms,
            "ip": self.ip,
            "geo": self.geo.fields(),
            "agent": self.agent.fields(),
            "sdk_name": self.sdk_name,
            "sdk_version": self.sdk_version,
        }


def read_request(
    meta: dict, received_ms: int | None = None, request_id: str = "", with_secret: bool = False
) -> RequestInfo:
    """`with_secret`: the caller proved the project's secret, so its forwarded-IP headers count."""
    info = sender_info(
        received_ms=received_ms if received_ms is not None else int(time.time() * 1000),
        ip=sender_ip(meta, with_secret, settings),
        user_agent=meta.get("HTTP_USER_AGENT", "") or "",
        origin=meta.get("HTTP_ORIGIN", "") or "",
        sdk_name=meta.get("HTTP_OPENPANEL_SDK_NAME", "") or "",
        sdk_version=meta.get("HTTP_OPENPANEL_SDK_VERSION", "") or "",
    )
    info.request_id = request_id
    return info


def sender_info(
    received_ms: int, ip: str, user_agent: str, origin: str = "", sdk_name: str = "", sdk_version: str = ""
) -> RequestInfo:
    """What is known of a sender, enriched (user agent parsed, IP located): from a request, or
    stated by an operator (`replay_events --ip --user-agent`). Header text reaches columns, so it
    loses its control characters (a header may carry any byte; contract §3 r2)."""
    user_agent = clean(user_agent)
    return RequestInfo(
        received_ms=received_ms,
        ip=ip,
        user_agent=user_agent,
        agent=parse_agent(user_agent),
        geo=locate(ip),
        origin=origin,
        sdk_name=clean(sdk_name).strip()[:64],
        sdk_version=clean(sdk_version).strip()[:64],
    )


@dataclass(slots=True)
class RequestMemo:
    """Per-request caches: device ids and geo per IP (an `__ip` override repeats across items)."""

    project: ProjectContext
    info: RequestInfo
    devices: dict[str, tuple[str, str]] = field(default_factory=dict)
    # The limits every item is held to, read once (a Django setting costs a lazy-object lookup).
    max_keys: int = field(default_factory=lambda: settings.MAX_PROPERTY_KEYS)
    max_event_bytes: int = field(default_factory=lambda: settings.MAX_EVENT_BYTES)

    def device_candidates(self, ip: str) -> tuple[str, str]:
        found = self.devices.get(ip)
        if found is None:
            ua, project = self.info.user_agent, self.project
            current = device_id(ua, ip, project.id, project.current_salt)
            previous = device_id(ua, ip, project.id, project.previous_salt)
            found = self.devices[ip] = (current, previous)
        return found
