"""The SQLite store: group commit, batches, several writers, reads, errors."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from stakes.domain import Decision, canonical_json
from stakes.errors import LedgerError
from stakes.ledger import (
    GENESIS_HASH,
    SCHEMA_VERSION,
    Head,
    MemoryLedger,
    Recorder,
    Redactor,
    SqliteLedger,
    chain_hash,
)

MakeDecision = Callable[..., Decision]


def event(n: int, **extra: Any) -> dict[str, Any]:
    return {"v": 1, "kind": "decision", "event_id": f"e-{n}", "decision_id": f"d-{n}",
            "verdict": "allow", "agent": "bot", "tool": "t", "payload": {"n": n}, **extra}


def test_append_returns_committed_consecutive_seqs(db: Path) -> None:
    with SqliteLedger(db) as store:
        assert store.head() == Head(0, GENESIS_HASH)
        assert store.count() == 0
        assert store.append([event(1)]) == [1]
        assert store.append([event(n) for n in range(2, 12)]) == list(range(2, 12))
        assert store.append([]) == []
        # committed: a second connection sees every row at once
        with closing(sqlite3.connect(db)) as other:
            assert other.execute("SELECT count(*) FROM ledger").fetchone()[0] == 11
        entries = list(store.entries())
        assert [e.seq for e in entries] == list(range(1, 12))
        assert entries[0].prev_hash == GENESIS_HASH
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
        assert all(e.hash == chain_hash(e.prev_hash, e.seq, e.body) for e in entries)
        assert entries[4].body == canonical_json(event(5))
        assert store.head() == entries[-1].head
        assert store.count() == 11
        assert [e.seq for e in store.entries(start=9)] == [9, 10, 11]


def test_query_columns_follow_the_body(ledger: SqliteLedger, recorder: Recorder,
                                       make_decision: MakeDecision) -> None:
    recorder.record(make_decision(1))
    with closing(sqlite3.connect(ledger.path)) as conn:
        row = conn.execute("SELECT partition, event_id, time, kind, decision_id, agent, tool, "
                           "verdict FROM ledger").fetchone()
    assert row == ("default", "e-1", "2026-05-09T07:35:25.123456Z", "decision", "d-1",
                   "ops-bot", "shell.run", "allow")


def test_get_decision(ledger: SqliteLedger, recorder: Recorder,
                      make_decision: MakeDecision) -> None:
    recorder.record_many(make_decision(n) for n in range(1, 4))
    entry = ledger.get_decision("d-2")
    assert entry is not None
    assert entry.seq == 2
    assert entry.event["payload"]["action"]["id"] == "a-2"
    assert ledger.get_decision("d-404") is None


def test_a_batch_commits_once_at_exit(db: Path) -> None:
    with SqliteLedger(db) as store:
        with store.batch():
            assert store.append([event(1)]) == [1]
            with store.batch():  # nested: joins the outer batch
                assert store.append([event(2), event(3)]) == [2, 3]
            with closing(sqlite3.connect(db)) as other:  # not visible before the commit
                assert other.execute("SELECT count(*) FROM ledger").fetchone()[0] == 0
        assert store.count() == 3
        assert store.verify().ok


def _failing_batch(store: SqliteLedger | MemoryLedger) -> None:
    with store.batch():
        store.append([event(1), event(2)])
        raise RuntimeError("boom")


def test_a_failed_batch_appends_nothing(db: Path) -> None:
    with SqliteLedger(db) as store:
        store.append([event(0)])
        with pytest.raises(RuntimeError):
            _failing_batch(store)
        assert store.count() == 1
        assert store.append([event(3)]) == [2]
        assert store.verify().ok


def test_a_failed_append_appends_nothing(db: Path) -> None:
    with SqliteLedger(db) as store:
        store.append([event(1)])
        with pytest.raises(LedgerError) as caught:
            store.append([event(2), event(1)])  # duplicate event id in the second row
        assert caught.value.code == "ledger.duplicate_event"
        assert store.count() == 1
        assert store.append([event(2)]) == [2]
        assert store.verify().ok


@pytest.mark.parametrize(
    ("bad", "field"),
    [({"kind": "decision"}, "event_id"), ({"event_id": "", "kind": "x"}, "event_id"),
     ({"event_id": "e"}, "kind")],
)
def test_malformed_events_are_refused(ledger: SqliteLedger, bad: dict[str, Any],
                                      field: str) -> None:
    with pytest.raises(LedgerError) as caught:
        ledger.append([event(1), bad])
    assert caught.value.code == "ledger.bad_event"
    assert caught.value.context["field"] == field
    assert ledger.count() == 0


def test_rows_cannot_be_updated_or_deleted_through_sqlite(ledger: SqliteLedger) -> None:
    ledger.append([event(1)])
    with closing(sqlite3.connect(ledger.path)) as conn:
        for sql in ("UPDATE ledger SET body = '{}'", "DELETE FROM ledger"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)


def test_two_objects_on_one_file_keep_one_chain(db: Path) -> None:
    first, second = SqliteLedger(db), SqliteLedger(db)
    try:
        seqs = []
        for n in range(20):
            store = first if n % 2 == 0 else second
            seqs += store.append([event(n)])
        assert seqs == list(range(1, 21))
        assert first.verify().ok
        assert second.verify().ok
        assert first.head() == second.head()
    finally:
        first.close()
        second.close()


def test_threads_sharing_one_object(db: Path) -> None:
    with SqliteLedger(db) as store:
        def work(k: int) -> None:
            for n in range(25):
                store.append([event(1000 * k + n)])

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert store.count() == 100
        assert store.verify().ok


def test_partitions_are_separate_chains(db: Path) -> None:
    with SqliteLedger(db, partition="a") as a, SqliteLedger(db, partition="b") as b:
        for n in range(6):
            (a if n % 3 else b).append([event(n)])
        assert a.count() == 4
        assert b.count() == 2
        assert [e.seq for e in b.entries()] == [1, 4]
        assert b.verify().ok
        assert a.verify(head=a.head()).ok
        assert next(iter(b.entries())).prev_hash == GENESIS_HASH


def test_closed_ledger_refuses_work(db: Path) -> None:
    store = SqliteLedger(db)
    store.close()
    store.close()  # idempotent
    with pytest.raises(LedgerError) as caught:
        store.append([event(1)])
    assert caught.value.code == "ledger.closed"


def test_bad_options(db: Path) -> None:
    with pytest.raises(LedgerError) as caught:
        SqliteLedger(db, synchronous="SOMETIMES")  # type: ignore[arg-type]
    assert caught.value.code == "ledger.bad_option"
    with pytest.raises(LedgerError):
        SqliteLedger(db, partition="")


def test_a_newer_schema_is_refused(db: Path) -> None:
    SqliteLedger(db).close()
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(LedgerError) as caught:
        SqliteLedger(db)
    assert caught.value.code == "ledger.schema_version"


def test_full_synchronous_and_a_missing_directory(tmp_path: Path) -> None:
    with SqliteLedger(tmp_path / "deep" / "er" / "l.db", synchronous="FULL") as store:
        assert store.append([event(1)]) == [1]
        with closing(sqlite3.connect(store.path)) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unopenable_path(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(LedgerError) as caught:
        SqliteLedger(tmp_path / "dir.db")
    assert caught.value.code == "ledger.open_failed"


def test_memory_ledger_read_side(make_decision: MakeDecision) -> None:
    memory = MemoryLedger()
    recorder = Recorder(memory, redactor=Redactor(),
                        policy_hash="p", scorer_version="1", thresholds={})
    recorder.record_many(make_decision(n) for n in range(1, 4))
    assert memory.count() == 3
    assert memory.head().seq == 3
    found = memory.get_decision("d-2")
    assert found is not None
    assert found.seq == 2
    assert memory.get_decision("d-9") is None
    with pytest.raises(RuntimeError):
        _failing_batch(memory)
    assert memory.count() == 3
    assert [e.seq for e in memory.entries(start=3)] == [3]


def test_a_failed_append_inside_a_batch_appends_nothing(db: Path) -> None:
    with SqliteLedger(db) as store:
        with store.batch():
            store.append([event(1)])
            with pytest.raises(LedgerError):
                store.append([event(2), event(3), event(1)])  # the third is a duplicate
            assert store.append([event(4)]) == [2]
        assert [e.event["event_id"] for e in store.entries()] == ["e-1", "e-4"]
        assert store.verify().ok
