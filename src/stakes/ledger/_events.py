"""The ledger's event schema, version 1, and its pure builders.

Every event is one JSON object:

```
{"v": 1, "kind": "decision" | "request" | "resolution", "event_id": str,
 "time": "2026-05-09T07:35:25.123456Z", "decision_id": str, "policy_hash": str,
 "scorer_version": str, "thresholds": {tier: value}, "agent": str, "tool": str,
 "verdict": str | null, "redactions": [path, ...], "payload": {...}}
```

- `decision`: payload = `Decision.to_json()`, redacted; `verdict` is the decision's verdict.
- `request`: an approval request was created. payload = `{"request_id", "args_hash",
  "required_clearance", "expires_at", "requester", "approvers"}`; `verdict` is null.
- `resolution`: a request was approved, denied or expired. payload = `{"request_id", "status",
  "by", "note", "resolved_at"}`; `verdict` is null.

`redactions` lists the payload paths the redactor replaced. `policy_hash`, `scorer_version` and
`thresholds` are what was in force, so that any decision can be reproduced.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from json.encoder import encode_basestring as encode_string
from typing import TYPE_CHECKING, Any, Final, Literal, NoReturn

from stakes.errors import LedgerError
from stakes.ledger._chain import canonical

if TYPE_CHECKING:
    from stakes.domain import Decision
    from stakes.ledger._approvals import Request
    from stakes.ledger._redact import Redactor

__all__ = [
    "EVENT_KINDS",
    "Event",
    "EVENT_VERSION",
    "EventKind",
    "decision_event",
    "format_time",
    "parse_time",
    "request_event",
    "resolution_event",
]

EVENT_VERSION: Final = 1
"""The schema version written in every event's `v`."""

EventKind = Literal["decision", "request", "resolution"]
EVENT_KINDS: Final = frozenset({"decision", "request", "resolution"})


def format_time(moment: datetime) -> str:
    """A timezone-aware moment as ISO-8601 UTC with microseconds and `Z`.

    The format is fixed width (`YYYY-MM-DDTHH:MM:SS.ffffffZ`), so these strings sort and compare
    in time order.

    Raises:
        LedgerError: `ledger.naive_time` when `moment` has no timezone (it would be ambiguous).
    """
    if moment.tzinfo is None:
        raise LedgerError(
            f"times must be timezone-aware, got naive `{moment.isoformat()}`",
            code="ledger.naive_time",
        )
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 (twice as fast as strftime)
        moment.year, moment.month, moment.day,
        moment.hour, moment.minute, moment.second, moment.microsecond,
    )


def parse_time(text: str) -> datetime:
    """Parse an ISO-8601 time with a timezone (e.g. `format_time` output) into an aware datetime.

    Raises:
        LedgerError: `ledger.bad_time` when `text` is not ISO-8601 or has no timezone.
    """
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise LedgerError(
            f"not an ISO-8601 time: `{text}`", code="ledger.bad_time"
        ) from None
    if moment.tzinfo is None:
        raise LedgerError(f"time `{text}` has no timezone", code="ledger.bad_time")
    return moment


def normalize_time(moment: datetime | str) -> str:
    """`format_time` for a datetime, or a string re-formatted so that comparisons are exact."""
    return format_time(parse_time(moment) if isinstance(moment, str) else moment)


class Event(dict[str, Any]):
    """A ledger event: a read-only dict that carries its canonical JSON.

    `body` is exactly `canonical(event)`, computed once by the builder, so that a store
    hashes and writes it without serializing the event again.
    """

    __slots__ = ("body",)

    def __init__(self, fields: dict[str, Any], body: str) -> None:
        super().__init__(fields)
        self.body = body

    def __reduce__(self) -> tuple[type[Event], tuple[dict[str, Any], str]]:
        return (Event, (dict(self), self.body))  # copy, deepcopy and pickle keep it whole

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("ledger events are read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _read_only
    __ior__ = _read_only


def _text(value: str | None) -> str:
    return "null" if value is None else encode_string(value)


def _event(
    kind: EventKind,
    fields: tuple[str, datetime, str, str, str, str | None],
    context: tuple[str, str, Mapping[str, float]],
    payload: Any,
    redactor: Redactor | None,
) -> Event:
    """Build an event and its body, serializing the payload once.

    The body is assembled in canonical key order (agent, decision_id, event_id, kind, payload,
    policy_hash, redactions, scorer_version, thresholds, time, tool, v, verdict) from
    `canonical_json` pieces, so it equals `canonical(event)`.
    """
    event_id, time, decision_id, agent, tool, verdict = fields
    policy_hash, scorer_version, thresholds = context
    if redactor is not None:
        payload, redactions, payload_json = redactor.redact_json(payload)
    else:
        redactions, payload_json = [], canonical(payload)
    stamp = format_time(time)
    thresholds = dict(thresholds)
    event = {
        "v": EVENT_VERSION,
        "kind": kind,
        "event_id": event_id,
        "time": stamp,
        "decision_id": decision_id,
        "policy_hash": policy_hash,
        "scorer_version": scorer_version,
        "thresholds": thresholds,
        "agent": agent,
        "tool": tool,
        "verdict": verdict,
        "redactions": redactions,
        "payload": payload,
    }
    try:
        body = "".join((
            '{"agent":', encode_string(agent),
            ',"decision_id":', encode_string(decision_id),
            ',"event_id":', encode_string(event_id),
            ',"kind":"', kind,
            '","payload":', payload_json,
            ',"policy_hash":', encode_string(policy_hash),
            ',"redactions":', canonical(redactions) if redactions else "[]",
            ',"scorer_version":', encode_string(scorer_version),
            ',"thresholds":', canonical(thresholds) if thresholds else "{}",
            ',"time":"', stamp,
            '","tool":', encode_string(tool),
            ',"v":', str(EVENT_VERSION),
            ',"verdict":', _text(verdict),
            "}",
        ))
    except TypeError:  # a field that is not a string: let the encoder decide, slowly
        body = canonical(event)
    return Event(event, body)


def decision_event(
    decision: Decision,
    *,
    event_id: str,
    time: datetime,
    policy_hash: str,
    scorer_version: str,
    thresholds: Mapping[str, float],
    redactor: Redactor | None,
) -> Event:
    """The `decision` event for `decision` (pure: same inputs, same event).

    Args:
        decision: What the gate decided.
        event_id: A unique id for this event.
        time: When it is recorded (timezone-aware).
        policy_hash: The hash of the compiled policy in force.
        scorer_version: The triage scorer's version.
        thresholds: The tier thresholds in force, `{tier: risk threshold}`.
        redactor: Applied to the payload (`decision.to_json()`); None writes it unredacted.

    Raises:
        LedgerError: `ledger.naive_time` when `time` has no timezone.
    """
    return _event(
        "decision",
        (event_id, time, decision.id, decision.action.agent, decision.action.tool,
         str(decision.verdict)),
        (policy_hash, scorer_version, thresholds),
        decision.to_json(),
        redactor,
    )


def request_event(
    request: Request,
    *,
    event_id: str,
    time: datetime,
    policy_hash: str,
    scorer_version: str,
    thresholds: Mapping[str, float],
    redactor: Redactor | None = None,
) -> Event:
    """The `request` event: approval request `request` was created (pure).

    The payload carries the request id, the SHA-256 of the arguments it is bound to, the
    clearance it needs, its deadline, the requesting agent and who it admits.
    """
    payload = {
        "request_id": request.id,
        "args_hash": request.args_hash,
        "required_clearance": request.required_clearance,
        "expires_at": request.expires_at,
        "requester": request.agent,
        "approvers": request.approvers,
    }
    return _event(
        "request",
        (event_id, time, request.decision_id, request.agent, request.tool, None),
        (policy_hash, scorer_version, thresholds),
        payload,
        redactor,
    )


def resolution_event(
    request: Request,
    *,
    event_id: str,
    time: datetime,
    policy_hash: str,
    scorer_version: str,
    thresholds: Mapping[str, float],
    redactor: Redactor | None = None,
) -> Event:
    """The `resolution` event: `request` was approved, denied or expired (pure).

    Raises:
        LedgerError: `ledger.bad_event` when `request` is still pending.
    """
    if request.status == "pending":
        raise LedgerError(
            f"request `{request.id}` is still pending: there is no resolution to record",
            code="ledger.bad_event",
        )
    payload = {
        "request_id": request.id,
        "status": request.status,
        "by": request.resolved_by,
        "note": request.note,
        "resolved_at": request.resolved_at,
    }
    return _event(
        "resolution",
        (event_id, time, request.decision_id, request.agent, request.tool, None),
        (policy_hash, scorer_version, thresholds),
        payload,
        redactor,
    )
