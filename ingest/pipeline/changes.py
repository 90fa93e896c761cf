"""The stored shape of a profile or group change (identify, increment, decrement, group, assign_group),
and the flattening of the properties an item carries, with its row codes."""
from typing import Any

from ingest.enrich.properties import InvalidProperty, flatten
from ingest.enrich.text import clean
from ingest.pipeline import codes
from ingest.pipeline.serializers import ItemError

IDENTIFY_FIELDS = (("firstName", "first_name"), ("lastName", "last_name"), ("email", "email"), ("avatar", "avatar"))


def flat(properties: dict, max_keys: int, prefix: str = "properties") -> dict[str, str]:
    try:
        return flatten(properties, max_keys)
    except InvalidProperty as error:
        if ":" in str(error):  # a value: "a.b: number out of range"
            raise ItemError(f"{prefix}.{error}") from None
        raise ItemError(f"{prefix}: {error}", codes.TOO_LARGE) from None


def profile_change(kind: str, payload: dict, max_keys: int) -> dict:
    """The stored shape of identify / increment / decrement / group / assign_group."""
    change: dict[str, Any] = {"type": kind}
    if kind == "identify":
        change["profile_id"] = payload["profileId"]
        for source, target in IDENTIFY_FIELDS:
            if payload.get(source):
                change[target] = clean(payload[source]).strip()
        if payload.get("properties"):
            change["properties"] = flat(payload["properties"], max_keys, "payload.properties")
    elif kind in ("increment", "decrement"):
        change.update(profile_id=payload["profileId"], property=payload["property"], value=payload.get("value") or 1)
    elif kind == "group":
        change.update(id=payload["id"], group_type=payload["type"], name=payload["name"])
        change["properties"] = flat(payload.get("properties") or {}, max_keys, "payload.properties")
    elif kind == "assign_group":
        change["group_ids"] = list(payload["groupIds"])
        if payload.get("profileId"):
            change["profile_id"] = payload["profileId"]
    return change
