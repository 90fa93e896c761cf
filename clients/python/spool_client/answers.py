"""Reading the server's answer to a batch (contract §4): which rows were taken, which are refused
for good (dead letters), and which the server failed on and wants again."""
from __future__ import annotations

import json
from dataclasses import dataclass, field


class UnreadableAnswer(Exception):
    """A 2xx that is not a batch answer: the server may or may not have taken the rows, so they
    stay and go again (their insert ids collapse on the server). `stop` means trying again
    cannot help (the server took this client for a crawler)."""

    def __init__(self, message: str, stop: bool = False):
        super().__init__(message)
        self.stop = stop


@dataclass
class Verdict:
    """By position in the request: the rows to delete, to dead-letter, and to keep."""

    accepted: list[int] = field(default_factory=list)
    dead: list[tuple[int, str, str]] = field(default_factory=list)  # (index, code, error)
    kept: list[tuple[int, str]] = field(default_factory=list)  # (index, error): `internal`, sent again later
    clock_skew_ms: int | None = None


def read_batch_answer(body: bytes, count: int) -> Verdict:
    """The verdict on the `count` rows of a request answered 2xx with `body`.

    Only `validation` is final. Any other reason (`internal`, or one a later server may add) keeps
    the row: sending a row twice costs nothing, losing it cannot be undone."""
    try:
        answer = json.loads(body)
    except ValueError:
        raise UnreadableAnswer(f"the answer is not JSON: {body[:200]!r}") from None
    if not isinstance(answer, dict):
        raise UnreadableAnswer(f"the answer is not a JSON object: {body[:200]!r}")
    if "bot" in answer and "accepted" not in answer:
        raise UnreadableAnswer("the server took this User-Agent for a crawler and stored nothing", stop=True)
    if not isinstance(answer.get("accepted"), int) or not isinstance(answer.get("rejected", []), list):
        raise UnreadableAnswer(f"the answer is not a batch answer: {body[:200]!r}")
    verdict = Verdict(clock_skew_ms=_int_or_none(answer.get("clockSkewMs")))
    refused: set[int] = set()
    for entry in answer.get("rejected", []):
        index = entry.get("index") if isinstance(entry, dict) else None
        if not isinstance(index, int) or not 0 <= index < count or index in refused:
            continue
        refused.add(index)
        error = str(entry.get("error") or "")
        if entry.get("reason") == "validation":
            verdict.dead.append((index, str(entry.get("code") or "validation"), error))
        else:
            verdict.kept.append((index, error or f"rejected: {entry.get('reason')}"))
    verdict.accepted = [index for index in range(count) if index not in refused]
    return verdict


def _int_or_none(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def error_text(status: int, body: bytes) -> str:
    """`413 payload_too_large: request body larger than ...` from a Spool error answer, or the
    status and the start of whatever else answered (a proxy's HTML page)."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and "error" in answer:
        return f"{status} {answer.get('error')}: {answer.get('message', '')}".rstrip(": ")
    snippet = body[:120].decode("utf-8", "replace").strip()
    return f"{status} {snippet}" if snippet else f"HTTP {status}"


def error_code(body: bytes, default: str) -> str:
    try:
        answer = json.loads(body)
    except ValueError:
        return default
    code = answer.get("error") if isinstance(answer, dict) else None
    return code if isinstance(code, str) and code else default
