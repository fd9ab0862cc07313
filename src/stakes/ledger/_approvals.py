"""Approval request storage: a persistent queue in the ledger's SQLite file, and a memory twin.

Storage only: who may approve what is decided by `stakes.control`. What is enforced here is the
state machine, as a compare-and-set:

```
pending --resolve(approved|denied) before expires_at--> approved | denied
pending --resolve(...) at or after expires_at---------> expired   (and ApprovalError)
pending --expire_due(now) with expires_at <= now-----> expired
approved --consume(id)-------------------------------> executed  (an approval runs once)
denied | expired | executed: final
```

Times are ISO-8601 UTC strings with microseconds and `Z` (`format_time`), which sort in time
order; methods taking a time accept a timezone-aware `datetime` or such a string.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from stakes.domain import Action
from stakes.errors import ApprovalError, LedgerError
from stakes.ledger._db import Database, Synchronous
from stakes.ledger._events import normalize_time

if TYPE_CHECKING:
    from stakes.ledger._sqlite import SqliteLedger

__all__ = ["MemoryRequestStore", "Request", "RequestStatus", "RequestStore", "SqliteRequestStore"]

RequestStatus = Literal["pending", "approved", "denied", "expired", "executed"]
_STATUSES = frozenset({"pending", "approved", "denied", "expired", "executed"})

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    agent TEXT NOT NULL,
    tool TEXT NOT NULL,
    args_hash TEXT NOT NULL,
    required_clearance TEXT,
    action TEXT NOT NULL,
    decision_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired',
                                           'executed')),
    resolved_by TEXT,
    resolved_at TEXT,
    note TEXT,
    approvers TEXT NOT NULL DEFAULT ''
)""",
    "CREATE INDEX IF NOT EXISTS requests_status ON requests (status, expires_at)",
)
_COLUMNS = (
    "id, created_at, expires_at, agent, tool, args_hash, required_clearance, action, "
    "decision_id, status, resolved_by, resolved_at, note, approvers"
)


@dataclass(frozen=True, slots=True)
class Request:
    """One approval request, as stored.

    Attributes:
        id: The request id.
        created_at: When it was created (ISO-8601 UTC, `Z`).
        expires_at: Its deadline: at or after this instant it can no longer be approved.
        agent: The requesting agent (bound by the host).
        tool: The action's tool.
        args_hash: `Action.args_hash()`: the exact (tool, args, resource) an approval covers.
        required_clearance: The clearance an approver needs (None when unrestricted).
        action: The action as canonical JSON text.
        decision_id: The `pending` decision that created it.
        status: `pending`, `approved`, `denied` or `expired`.
        resolved_by: Who approved or denied it (None while pending or when it expired).
        resolved_at: When it was resolved or expired.
        note: The approver's note.
        approvers: Who it admits, comma-separated (e.g. `human,cleared`); interpreted by
            `stakes.control`.
    """

    id: str
    created_at: str
    expires_at: str
    agent: str
    tool: str
    args_hash: str
    required_clearance: str | None
    action: str
    decision_id: str
    status: RequestStatus = "pending"
    resolved_by: str | None = None
    resolved_at: str | None = None
    note: str | None = None
    approvers: str = ""

    def to_action(self) -> Action:
        """The stored action, decoded.

        Raises:
            InputError: when the stored JSON is not a valid action.
        """
        return Action.from_json(json.loads(self.action))

    def to_json(self) -> dict[str, Any]:
        """The request as a JSON object (the action decoded)."""
        out = asdict(self)
        out["action"] = json.loads(self.action)
        return out


class RequestStore(Protocol):
    """Where approval requests live: SQLite next to the ledger, or memory in tests."""

    def create(self, request: Request) -> Request:
        """Store a new pending request."""
        ...

    def get(self, id: str) -> Request | None:
        """The request, or None."""
        ...

    def list(self, status: str | None = None) -> builtins.list[Request]:
        """All requests (of one status), oldest first."""
        ...

    def resolve(
        self, id: str, status: str, by: str, at: datetime | str, note: str | None = None
    ) -> Request:
        """Approve or deny a pending, unexpired request (compare-and-set)."""
        ...

    def consume(self, id: str) -> Request:
        """Mark an approved request `executed` (compare-and-set): an approval runs once."""
        ...

    def expire_due(self, now: datetime | str) -> builtins.list[Request]:
        """Expire every pending request whose deadline is at or before `now`."""
        ...


def _status(status: str) -> str:
    if status not in _STATUSES:
        raise ApprovalError(
            f"a request status is `pending`, `approved`, `denied`, `expired` or `executed`, "
            f"not `{status}`",
            code="approval.bad_status",
        )
    return status


def _checked(request: Request) -> Request:
    """Validate a new request and normalize its times."""
    if request.status != "pending":
        raise ApprovalError(
            f"a new request must be `pending`, got `{request.status}`",
            code="approval.bad_request", field="status",
        )
    if not request.id:
        raise ApprovalError("a request needs an id", code="approval.bad_request", field="id")
    try:
        created, expires = normalize_time(request.created_at), normalize_time(request.expires_at)
    except LedgerError as exc:
        raise ApprovalError(exc.message, code="approval.bad_request") from None
    return replace(request, created_at=created, expires_at=expires)


def _transition(
    request: Request | None, id: str, status: str, by: str, at: str, note: str | None
) -> tuple[Request, ApprovalError | None]:
    """The compare-and-set: `(stored request, error to raise after storing it)`."""
    if status not in ("approved", "denied"):
        raise ApprovalError(
            f"a request is resolved as `approved` or `denied`, not `{status}`",
            code="approval.bad_status",
        )
    if request is None:
        raise ApprovalError(f"no request `{id}`", code="approval.unknown")
    if request.status != "pending":
        raise ApprovalError(
            f"request `{id}` is already `{request.status}`", code="approval.not_pending"
        )
    if at >= request.expires_at:
        expired = replace(request, status="expired", resolved_at=at)
        return expired, ApprovalError(
            f"request `{id}` expired at `{request.expires_at}`", code="approval.expired"
        )
    final: RequestStatus = "approved" if status == "approved" else "denied"
    return replace(request, status=final, resolved_by=by, resolved_at=at, note=note), None


def _consumed(request: Request | None, id: str, conn: sqlite3.Connection | None) -> Request:
    """The approved -> executed transition, writing it through `conn` when given."""
    if request is None:
        raise ApprovalError(f"no request `{id}`", code="approval.unknown")
    if request.status != "approved":
        raise ApprovalError(f"request `{id}` is `{request.status}`, not approved (an approval "
                            "runs once)", code="approval.not_approved")
    if conn is not None:
        conn.execute("UPDATE requests SET status = 'executed' WHERE id = ? AND status = "
                     "'approved'", (id,))
    return replace(request, status="executed")


class SqliteRequestStore(Database):
    """The approval queue in a SQLite file (normally the ledger's own), safe across processes.

    Every change runs in one `BEGIN IMMEDIATE` transaction, so a compare-and-set holds even when
    several processes resolve the same request at once.

    Args:
        path: The database file (created if missing).
        synchronous: SQLite's `synchronous` level (see `SqliteLedger`).
    """

    def __init__(self, path: str | Path, *, synchronous: Synchronous = "NORMAL") -> None:
        super().__init__(path, synchronous)
        try:
            self._transaction(lambda conn: [conn.execute(statement) for statement in _SCHEMA])
        except BaseException:
            self.close()
            raise

    @classmethod
    def for_ledger(cls, ledger: SqliteLedger) -> SqliteRequestStore:
        """A store in the same file as `ledger`, with the same connection settings."""
        return cls(ledger.path, synchronous=ledger.synchronous)

    def create(self, request: Request) -> Request:
        """Store a new pending request; returns it with normalized times.

        Raises:
            ApprovalError: `approval.duplicate` when the id exists; `approval.bad_request`
                when it is not pending or its times are not ISO-8601 with a timezone.
        """
        request = _checked(request)

        def insert(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    f"INSERT INTO requests ({_COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    _row(request),
                )
            except sqlite3.IntegrityError:
                raise ApprovalError(
                    f"request `{request.id}` already exists", code="approval.duplicate"
                ) from None

        self._transaction(insert)
        return request

    def get(self, id: str) -> Request | None:
        """The request with this id, or None."""
        rows = self._read(f"SELECT {_COLUMNS} FROM requests WHERE id = ?", (id,))
        return _from_row(rows[0]) if rows else None

    def list(self, status: str | None = None) -> builtins.list[Request]:
        """All requests, or those with `status`, oldest first (then by id).

        Raises:
            ApprovalError: `approval.bad_status` for a status that does not exist.
        """
        if status is None:
            rows = self._read(f"SELECT {_COLUMNS} FROM requests ORDER BY created_at, id")
        else:
            rows = self._read(
                f"SELECT {_COLUMNS} FROM requests WHERE status = ? ORDER BY created_at, id",
                (_status(status),),
            )
        return [_from_row(r) for r in rows]

    def resolve(
        self, id: str, status: str, by: str, at: datetime | str, note: str | None = None
    ) -> Request:
        """Approve or deny request `id` as a compare-and-set.

        Only a `pending` request whose `expires_at` is after `at` changes. A pending request at or
        past its deadline becomes `expired` (that change is stored) and the call raises.

        Raises:
            ApprovalError: `approval.unknown`, `approval.not_pending`, `approval.expired`, or
                `approval.bad_status` when `status` is not `approved` or `denied`.
        """
        when = normalize_time(at)

        def cas(conn: sqlite3.Connection) -> tuple[Request, ApprovalError | None]:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM requests WHERE id = ?", (id,)).fetchall()
            stored, error = _transition(
                _from_row(rows[0]) if rows else None, id, status, by, when, note
            )
            conn.execute(
                "UPDATE requests SET status = ?, resolved_by = ?, resolved_at = ?, note = ? "
                "WHERE id = ? AND status = 'pending'",
                (stored.status, stored.resolved_by, stored.resolved_at, stored.note, id),
            )
            return stored, error

        stored, error = self._transaction(cas)
        if error is not None:
            raise error
        return stored

    def consume(self, id: str) -> Request:
        """Mark approved request `id` as `executed`, once (compare-and-set).

        Raises:
            ApprovalError: `approval.unknown`, or `approval.not_approved` when it is not (or no
                longer) approved, e.g. because it already ran.
        """

        def cas(conn: sqlite3.Connection) -> Request:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM requests WHERE id = ?", (id,)).fetchall()
            return _consumed(_from_row(rows[0]) if rows else None, id, conn)

        return self._transaction(cas)

    def expire_due(self, now: datetime | str) -> builtins.list[Request]:
        """Mark every pending request with `expires_at <= now` as `expired`; returns them."""
        when = normalize_time(now)

        def expire(conn: sqlite3.Connection) -> builtins.list[Request]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM requests WHERE status = 'pending' AND expires_at <= ? "
                "ORDER BY created_at, id",
                (when,),
            ).fetchall()
            conn.execute(
                "UPDATE requests SET status = 'expired', resolved_at = ? "
                "WHERE status = 'pending' AND expires_at <= ?",
                (when, when),
            )
            return [replace(_from_row(r), status="expired", resolved_at=when) for r in rows]

        return self._transaction(expire)


class MemoryRequestStore:
    """The request store in memory: same methods and state machine, for tests."""

    def __init__(self) -> None:
        self._requests: dict[str, Request] = {}
        self._lock = threading.Lock()

    def create(self, request: Request) -> Request:
        """Store a new pending request (see `SqliteRequestStore.create`)."""
        request = _checked(request)
        with self._lock:
            if request.id in self._requests:
                raise ApprovalError(
                    f"request `{request.id}` already exists", code="approval.duplicate"
                )
            self._requests[request.id] = request
        return request

    def get(self, id: str) -> Request | None:
        """The request with this id, or None."""
        with self._lock:
            return self._requests.get(id)

    def list(self, status: str | None = None) -> builtins.list[Request]:
        """All requests, or those with `status`, oldest first (then by id)."""
        if status is not None:
            _status(status)
        with self._lock:
            found = [r for r in self._requests.values() if status is None or r.status == status]
        return sorted(found, key=lambda r: (r.created_at, r.id))

    def resolve(
        self, id: str, status: str, by: str, at: datetime | str, note: str | None = None
    ) -> Request:
        """Approve or deny as a compare-and-set (see `SqliteRequestStore.resolve`)."""
        when = normalize_time(at)
        with self._lock:
            stored, error = _transition(self._requests.get(id), id, status, by, when, note)
            self._requests[id] = stored
        if error is not None:
            raise error
        return stored

    def consume(self, id: str) -> Request:
        """Mark approved request `id` as `executed`, once (see `SqliteRequestStore.consume`)."""
        with self._lock:
            stored = _consumed(self._requests.get(id), id, None)
            self._requests[id] = stored
        return stored

    def expire_due(self, now: datetime | str) -> builtins.list[Request]:
        """Expire every pending request with `expires_at <= now`; returns them."""
        when = normalize_time(now)
        with self._lock:
            due = sorted(
                (r for r in self._requests.values()
                 if r.status == "pending" and r.expires_at <= when),
                key=lambda r: (r.created_at, r.id),
            )
            for r in due:
                self._requests[r.id] = replace(r, status="expired", resolved_at=when)
            return [self._requests[r.id] for r in due]


def _row(r: Request) -> tuple[Any, ...]:
    return (
        r.id, r.created_at, r.expires_at, r.agent, r.tool, r.args_hash, r.required_clearance,
        r.action, r.decision_id, r.status, r.resolved_by, r.resolved_at, r.note, r.approvers,
    )


def _from_row(row: tuple[Any, ...]) -> Request:
    status = row[9]
    if status not in _STATUSES:  # the CHECK constraint makes this unreachable short of tampering
        raise LedgerError(f"request `{row[0]}` has unknown status `{status}`",
                          code="ledger.bad_request_row")
    return Request(
        id=row[0], created_at=row[1], expires_at=row[2], agent=row[3], tool=row[4],
        args_hash=row[5], required_clearance=row[6], action=row[7], decision_id=row[8],
        status=status, resolved_by=row[10], resolved_at=row[11], note=row[12],
        approvers=row[13],
    )
