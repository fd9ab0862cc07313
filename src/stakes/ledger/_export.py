"""Export the ledger as JSONL: the raw event stream, or labeled examples for training scorers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from stakes.ledger._chain import Entry, canonical

__all__ = ["export_jsonl"]

_HARMFUL = frozenset({"block", "terminate", "defer", "edit"})


class _Writer(Protocol):
    def write(self, text: str, /) -> Any: ...


class _Readable(Protocol):
    def entries(self, start: int = 1) -> Iterator[Entry]: ...


def label_for(verdict: str, resolution: str | None = None) -> str:
    """The training label of an escalated decision.

    - `block`, `terminate`, `defer`, `edit` => `harmful` (a control protocol stopped or replaced
      the action);
    - `allow` => `benign` (it went through the protocol steps and was let through);
    - `pending` => `unknown`, unless its approval request was resolved: `approved` => `benign`,
      `denied` => `harmful`, `expired` => `unknown` (nobody judged it).
    """
    if verdict in _HARMFUL:
        return "harmful"
    if verdict == "allow":
        return "benign"
    if resolution == "approved":
        return "benign"
    if resolution == "denied":
        return "harmful"
    return "unknown"


def export_jsonl(ledger: _Readable, fp: _Writer, *, labels: bool = False) -> int:
    """Write the ledger to `fp` as JSONL, in seq order.

    Without `labels`, one event per line, exactly as stored (canonical JSON, no re-encoding).

    With `labels`, only `decision` events whose payload has control protocol steps (the
    escalated ones; the routine tier has none) are written, one per line as
    `{"action": <redacted action>, "label": ..., "verdict": ..., "decision_id": ...}`, with the
    label from `label_for`: block/terminate/defer/edit => harmful, allow => benign, pending =>
    unknown unless a later `resolution` event for its request says approved (benign) or denied
    (harmful).

    Args:
        ledger: Anything with `entries()`: a `SqliteLedger` or `MemoryLedger`.
        fp: A text stream.
        labels: Export labeled examples instead of events.

    Returns:
        The number of lines written.
    """
    written = 0
    if not labels:
        for entry in ledger.entries():
            fp.write(entry.body + "\n")
            written += 1
        return written
    examples: list[dict[str, Any]] = []
    resolutions: dict[str, str] = {}
    for entry in ledger.entries():
        event = entry.event
        payload = event.get("payload") or {}
        kind = event.get("kind")
        if kind == "resolution":
            resolutions[str(payload.get("request_id"))] = str(payload.get("status"))
        elif kind == "decision" and payload.get("steps"):
            examples.append(payload)
    for payload in examples:
        verdict = str(payload.get("verdict"))
        request_id = payload.get("request_id")
        resolution = resolutions.get(str(request_id)) if request_id else None
        line = {
            "action": payload.get("action"),
            "label": label_for(verdict, resolution),
            "verdict": verdict,
            "decision_id": payload.get("decision_id"),
        }
        fp.write(canonical(line) + "\n")
        written += 1
    return written
