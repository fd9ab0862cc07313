"""The approval request store: a compare-and-set state machine, in SQLite and in memory."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from stakes.domain import Action
from stakes.errors import ApprovalError, LedgerError
from stakes.ledger import (
    MemoryRequestStore,
    Request,
    RequestStore,
    SqliteLedger,
    SqliteRequestStore,
    format_time,
)

T0 = datetime(2026, 5, 9, 12, 0, tzinfo=UTC)
ACTION = Action(tool="sql.migrate", args={"sql": "DROP TABLE users"}, agent="ops-bot",
                resource="db://prod/app")


def pending(n: int = 1, ttl: timedelta = timedelta(hours=1), **extra: Any) -> Request:
    return Request(
        id=f"req-{n}", created_at=format_time(T0 + timedelta(seconds=n)),
        expires_at=format_time(T0 + ttl), agent="ops-bot", tool=ACTION.tool,
        args_hash=ACTION.args_hash(), required_clearance="critical",
        action='{"tool":"sql.migrate","args":{"sql":"DROP TABLE users"},'
               '"agent":"ops-bot","resource":"db://prod/app"}',
        decision_id=f"d-{n}", approvers="human,cleared", **extra,
    )


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, db: Path) -> Iterator[RequestStore]:
    if request.param == "memory":
        yield MemoryRequestStore()
        return
    with SqliteRequestStore(db) as sqlite_store:
        yield sqlite_store


def test_create_get_list(store: RequestStore) -> None:
    first = store.create(pending(1))
    store.create(pending(2))
    assert store.get("req-1") == first
    assert store.get("req-404") is None
    assert [r.id for r in store.list()] == ["req-1", "req-2"]
    assert [r.id for r in store.list("pending")] == ["req-1", "req-2"]
    assert store.list("approved") == []
    assert first.to_action() == ACTION
    assert first.to_json()["action"]["args"] == {"sql": "DROP TABLE users"}


def test_create_refuses_duplicates_and_bad_requests(store: RequestStore) -> None:
    store.create(pending(1))
    cases = [(pending(1), "approval.duplicate"),
             (replace(pending(2), status="approved"), "approval.bad_request"),
             (replace(pending(3), expires_at="tomorrow"), "approval.bad_request"),
             (replace(pending(4), id=""), "approval.bad_request")]
    for request, code in cases:
        with pytest.raises(ApprovalError) as caught:
            store.create(request)
        assert caught.value.code == code


def test_times_are_normalized_to_utc_z(store: RequestStore) -> None:
    created = store.create(replace(pending(1), created_at="2026-05-09T14:00:00+02:00"))
    assert created.created_at == "2026-05-09T12:00:00.000000Z"


@pytest.mark.parametrize("status", ["approved", "denied"])
def test_resolve_once(store: RequestStore, status: str) -> None:
    store.create(pending(1))
    at = T0 + timedelta(minutes=5)
    done = store.resolve("req-1", status, "alice", at, "looks fine")
    assert (done.status, done.resolved_by, done.note) == (status, "alice", "looks fine")
    assert done.resolved_at == format_time(at)
    assert store.get("req-1") == done
    for again in ("approved", "denied"):  # the compare-and-set: a second resolve fails
        with pytest.raises(ApprovalError) as caught:
            store.resolve("req-1", again, "bob", at, None)
        assert caught.value.code == "approval.not_pending"
    assert store.get("req-1") == done


def test_an_expired_request_cannot_be_approved(store: RequestStore) -> None:
    store.create(pending(1, ttl=timedelta(minutes=10)))
    at = T0 + timedelta(minutes=10)  # exactly at the deadline: too late
    with pytest.raises(ApprovalError) as caught:
        store.resolve("req-1", "approved", "alice", at)
    assert caught.value.code == "approval.expired"
    stored = store.get("req-1")
    assert stored is not None
    assert stored.status == "expired"
    assert stored.resolved_by is None
    with pytest.raises(ApprovalError) as again:
        store.resolve("req-1", "approved", "alice", T0)
    assert again.value.code == "approval.not_pending"


def test_unknown_and_bad_status(store: RequestStore) -> None:
    with pytest.raises(ApprovalError) as caught:
        store.resolve("req-404", "approved", "alice", T0)
    assert caught.value.code == "approval.unknown"
    store.create(pending(1))
    with pytest.raises(ApprovalError) as bad:
        store.resolve("req-1", "expired", "alice", T0)
    assert bad.value.code == "approval.bad_status"
    assert store.get("req-1") == pending(1)


def test_expire_due(store: RequestStore) -> None:
    store.create(pending(1, ttl=timedelta(minutes=1)))
    store.create(pending(2, ttl=timedelta(minutes=5)))
    store.create(pending(3, ttl=timedelta(minutes=1)))
    store.resolve("req-3", "denied", "alice", T0 + timedelta(seconds=30))
    now = T0 + timedelta(minutes=2)
    expired = store.expire_due(format_time(now))  # a string works as well as a datetime
    assert [(r.id, r.status, r.resolved_at) for r in expired] == [
        ("req-1", "expired", format_time(now))]
    assert store.expire_due(now) == []
    assert [r.id for r in store.list("pending")] == ["req-2"]
    assert [r.id for r in store.list("expired")] == ["req-1"]


def test_the_queue_lives_in_the_ledger_file(db: Path) -> None:
    with SqliteLedger(db) as ledger, SqliteRequestStore.for_ledger(ledger) as store:
        store.create(pending(1))
        ledger.append([{"event_id": "e-1", "kind": "request", "decision_id": "d-1"}])
    with closing(sqlite3.connect(db)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"ledger", "requests"} <= tables
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE requests SET status = 'maybe'")


def test_two_stores_on_one_file_resolve_once(db: Path) -> None:
    with SqliteRequestStore(db) as a, SqliteRequestStore(db) as b:
        a.create(pending(1))
        assert b.resolve("req-1", "approved", "alice", T0).status == "approved"
        with pytest.raises(ApprovalError) as caught:
            a.resolve("req-1", "denied", "bob", T0)
        assert caught.value.code == "approval.not_pending"


def test_closed_store(db: Path) -> None:
    store = SqliteRequestStore(db)
    store.close()
    with pytest.raises(LedgerError) as caught:
        store.get("req-1")
    assert caught.value.code == "ledger.closed"


def test_listing_an_unknown_status(store: RequestStore) -> None:
    with pytest.raises(ApprovalError) as caught:
        store.list("maybe")
    assert caught.value.code == "approval.bad_status"
