"""Tampering with a real SQLite ledger is caught, at the entry that was tampered with."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stakes.domain import Decision
from stakes.errors import LedgerIntegrityError
from stakes.ledger import (
    GENESIS_HASH,
    Entry,
    Head,
    MemoryLedger,
    Recorder,
    Redactor,
    SqliteLedger,
    chain_hash,
    verify,
)

N = 20
MakeDecision = Callable[..., Decision]
COLUMNS = "partition, event_id, kind, decision_id, verdict, body, prev_hash, hash"


def _fill(store: SqliteLedger | MemoryLedger, make_decision: MakeDecision, n: int = N) -> Head:
    recorder = Recorder(store, redactor=Redactor(), policy_hash="p" * 64,
                        scorer_version="rules-1", thresholds={"elevated": 0.4})
    recorder.record_many(make_decision(i) for i in range(1, n + 1))
    return store.head()


@pytest.fixture
def saved(db: Path, make_decision: MakeDecision) -> Head:
    """A closed ledger of N decision events on `db`, and its head saved as JSON."""
    with SqliteLedger(db) as store:
        head = _fill(store, make_decision)
    return Head.from_json(head.to_json())


@contextmanager
def tamper(db: Path) -> Iterator[sqlite3.Connection]:
    """A raw connection with the append-only triggers dropped, committed at exit."""
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("DROP TRIGGER ledger_no_update")
        conn.execute("DROP TRIGGER ledger_no_delete")
        yield conn
        conn.commit()


def _check(db: Path, head: Head | None = None) -> tuple[int | None, str | None, bool]:
    with SqliteLedger(db) as store:
        report = store.verify(head=head)
    return report.first_bad_seq, report.problem, report.ok


def test_untouched_ledger_verifies(db: Path, saved: Head) -> None:
    with SqliteLedger(db) as store:
        report = store.verify(head=saved)
        assert report.ok
        assert report.checked == N
        assert report.problem is None
        assert report.last == saved == store.head()
        assert [e.seq for e in store.entries()] == list(range(1, N + 1))


@pytest.mark.parametrize("seq", range(1, N + 1))
def test_editing_a_body_is_caught_at_that_entry(db: Path, saved: Head, seq: int) -> None:
    with tamper(db) as conn:
        conn.execute("UPDATE ledger SET body = replace(body, '/srv/app/', '/etc/') "
                     "WHERE seq = ?", (seq,))
    for head in (None, saved):
        bad, problem, ok = _check(db, head)
        assert not ok
        assert bad == seq
        assert problem == f"entry {seq} was edited (hash mismatch)"


@pytest.mark.parametrize("seq", range(1, N + 1))
def test_deleting_an_entry_is_caught_at_that_entry(db: Path, saved: Head, seq: int) -> None:
    with tamper(db) as conn:
        conn.execute("DELETE FROM ledger WHERE seq = ?", (seq,))
    bad, problem, ok = _check(db, saved)
    assert not ok
    assert bad == seq
    if seq < N:
        assert problem == f"entry {seq} is missing (seq gap)"
        assert _check(db)[:2] == (seq, problem)  # no saved head needed for a gap
    else:
        assert problem == f"ledger ends at {N - 1} but the saved head is at {N} (truncated)"


def _swap_rows(conn: sqlite3.Connection, i: int, j: int) -> None:
    rows = {s: conn.execute(f"SELECT {COLUMNS} FROM ledger WHERE seq = ?", (s,)).fetchone()
            for s in (i, j)}
    conn.execute("DELETE FROM ledger WHERE seq IN (?, ?)", (i, j))
    for seq, source in ((i, j), (j, i)):
        conn.execute(f"INSERT INTO ledger (seq, {COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (seq, *rows[source]))


@pytest.mark.parametrize(("i", "j"), [(i, i + 1) for i in range(1, N)] + [(1, N), (5, 15)])
def test_swapping_two_rows_is_caught_at_the_first(db: Path, saved: Head, i: int, j: int) -> None:
    with tamper(db) as conn:
        _swap_rows(conn, i, j)
    for head in (None, saved):
        bad, problem, ok = _check(db, head)
        assert not ok
        assert bad == i
        assert problem == f"entry {i} is out of order (prev_hash does not link)"


@pytest.mark.parametrize("i", [1, 7, N - 1])
def test_swapping_two_bodies_is_caught_at_the_first(db: Path, saved: Head, i: int) -> None:
    with tamper(db) as conn:
        a, b = (conn.execute("SELECT body FROM ledger WHERE seq = ?", (s,)).fetchone()[0]
                for s in (i, i + 1))
        conn.execute("UPDATE ledger SET body = ? WHERE seq = ?", (b, i))
        conn.execute("UPDATE ledger SET body = ? WHERE seq = ?", (a, i + 1))
    bad, problem, ok = _check(db, saved)
    assert not ok
    assert bad == i
    assert problem == f"entry {i} was edited (hash mismatch)"


@pytest.mark.parametrize("seq", [1, 10, N])
def test_editing_an_indexed_column_is_caught(db: Path, saved: Head, seq: int) -> None:
    with tamper(db) as conn:
        conn.execute("UPDATE ledger SET verdict = 'block' WHERE seq = ?", (seq,))
    bad, problem, ok = _check(db, saved)
    assert not ok
    assert bad == seq
    assert problem == f"entry {seq} was edited (indexed columns disagree with its body)"


def test_truncation_is_caught_only_against_a_saved_head(db: Path, saved: Head) -> None:
    with tamper(db) as conn:
        conn.execute("DELETE FROM ledger WHERE seq > 17")
    assert _check(db) == (None, None, True)  # a shorter chain is still a valid chain
    bad, problem, ok = _check(db, saved)
    assert (bad, ok) == (18, False)
    assert problem == f"ledger ends at 17 but the saved head is at {N} (truncated)"


def test_a_recomputed_chain_is_caught_only_against_a_saved_head(db: Path, saved: Head) -> None:
    with tamper(db) as conn:
        rows = conn.execute("SELECT seq, body, prev_hash FROM ledger ORDER BY seq").fetchall()
        prev = rows[9][2]
        for seq, body, _ in rows[9:]:  # edit entry 10 and rewrite every hash after it
            if seq == 10:
                body = body.replace("/srv/app/", "/etc/")
            digest = chain_hash(prev, seq, body)
            conn.execute("UPDATE ledger SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                         (body, prev, digest, seq))
            prev = digest
    assert _check(db) == (None, None, True)
    bad, problem, ok = _check(db, saved)
    assert (bad, ok) == (N, False)
    assert problem == f"entry {N}'s hash differs from the saved head (chain recomputed)"


def test_entries_appended_after_the_saved_head_are_fine(
    db: Path, saved: Head, make_decision: MakeDecision
) -> None:
    with SqliteLedger(db) as store:
        _fill(store, lambda n: make_decision(100 + n), n=3)
        report = store.verify(head=saved)
        assert report.ok
        assert report.checked == N + 3


def test_truncated_then_appended_is_a_recomputed_chain(
    db: Path, saved: Head, make_decision: MakeDecision
) -> None:
    with tamper(db) as conn:
        conn.execute("DELETE FROM ledger WHERE seq > 15")
    with SqliteLedger(db) as store:
        _fill(store, lambda n: make_decision(100 + n), n=8)
        report = store.verify(head=saved)
    assert not report.ok
    assert report.first_bad_seq == N
    assert "chain recomputed" in (report.problem or "")


def test_incremental_verification_after_a_verified_head(
    db: Path, saved: Head, make_decision: MakeDecision
) -> None:
    with SqliteLedger(db) as store:
        _fill(store, lambda n: make_decision(100 + n), n=5)
        report = verify(store.entries(start=saved.seq + 1), after=saved)
        assert report.ok
        assert report.checked == 5
        assert report.last == store.head()
        wrong = Head(saved.seq, "f" * 64)
        assert not verify(store.entries(start=saved.seq + 1), after=wrong).ok


def test_report_raises_on_request(db: Path, saved: Head) -> None:
    with tamper(db) as conn:
        conn.execute("DELETE FROM ledger WHERE seq = 3")
    with SqliteLedger(db) as store:
        report = store.verify()
    with pytest.raises(LedgerIntegrityError) as caught:
        report.raise_if_failed()
    assert caught.value.code == "ledger.integrity"
    assert caught.value.context["seq"] == 3


def test_pure_verify_on_hand_built_entries() -> None:
    bodies = ['{"kind":"decision","n":1}', '{"kind":"decision","n":2}']
    first = Entry(1, bodies[0], GENESIS_HASH, chain_hash(GENESIS_HASH, 1, bodies[0]))
    second = Entry(2, bodies[1], first.hash, chain_hash(first.hash, 2, bodies[1]))
    assert verify([first, second]).ok
    assert verify([]).ok
    assert verify([]).last == Head(0, GENESIS_HASH)
    assert verify([second, first]).problem == "entry 1 is missing (seq gap)"
    assert verify([first, first]).problem == "entry 1 is out of order (seq does not increase)"
    assert verify([first], head=Head(0, "a" * 64)).first_bad_seq == 0
    assert first.event == {"kind": "decision", "n": 1}


def test_memory_ledger_chains_exactly_like_sqlite(db: Path, make_decision: MakeDecision) -> None:
    memory = MemoryLedger()
    with SqliteLedger(db) as store:
        for target in (memory, store):
            ids = (f"e-{n}" for n in itertools.count(1))
            recorder = Recorder(
                target, redactor=Redactor(), policy_hash="p", scorer_version="1", thresholds={},
                clock=lambda: datetime(2026, 1, 1, tzinfo=UTC), ids=ids.__next__,
            )
            recorder.record_many(make_decision(i) for i in range(1, 6))
        assert list(store.entries()) == list(memory.entries())
        assert store.head() == memory.head()
    assert memory.verify(head=memory.head()).ok
