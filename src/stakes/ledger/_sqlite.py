"""The embedded ledger store: one SQLite file in WAL mode, hash-chained per partition."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from stakes.errors import LedgerError
from stakes.ledger._chain import GENESIS_HASH, Entry, Head, canonical, chain_hash
from stakes.ledger._db import Database, Synchronous
from stakes.ledger._events import Event
from stakes.ledger._verify import VerifyReport, verify

__all__ = ["SCHEMA_VERSION", "SqliteLedger"]

SCHEMA_VERSION: Final = 1
"""The ledger table layout version, kept in SQLite's `user_version`."""

_PAGE = 512

# The indexed query columns are stored (an index on a JSON-extracting generated column would
# parse every body again on insert); `SqliteLedger.verify` checks them against the hashed body.
# The other query columns are generated from the body, so they cannot disagree with it.
_STORED = ("event_id", "kind", "decision_id", "verdict")
_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY,
    partition TEXT NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    time TEXT GENERATED ALWAYS AS (json_extract(body, '$.time')) VIRTUAL,
    kind TEXT NOT NULL,
    decision_id TEXT,
    agent TEXT GENERATED ALWAYS AS (json_extract(body, '$.agent')) VIRTUAL,
    tool TEXT GENERATED ALWAYS AS (json_extract(body, '$.tool')) VIRTUAL,
    verdict TEXT,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS ledger_decision_id ON ledger (decision_id)",
    "CREATE INDEX IF NOT EXISTS ledger_kind_verdict ON ledger (kind, verdict)",
    # Append-only by construction; tampering then takes a deliberate DROP TRIGGER first.
    "CREATE TRIGGER IF NOT EXISTS ledger_no_update BEFORE UPDATE ON ledger "
    "BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS ledger_no_delete BEFORE DELETE ON ledger "
    "BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END",
)
# No index on `partition`: it would cost a page write per append. The tail of the file is
# almost always the partition's tail; otherwise the scan back stops at its last entry.
_TAIL = "SELECT seq, partition, hash FROM ledger ORDER BY seq DESC LIMIT 1"
_PARTITION_TAIL = "SELECT hash FROM ledger WHERE partition = ? ORDER BY seq DESC LIMIT 1"
_INSERT = (
    "INSERT INTO ledger (seq, partition, event_id, kind, decision_id, verdict, body, "
    "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ROW = "seq, body, prev_hash, hash"
_COLUMN_MISMATCH = (
    "SELECT min(seq) FROM ledger WHERE partition = ? AND json_valid(body) AND ("
    + " OR ".join(f"{c} IS NOT json_extract(body, '$.{c}')" for c in _STORED)
    + ")"
)


def _row(event: Mapping[str, Any]) -> tuple[str, str, str, Any, Any]:
    """`(body, event_id, kind, decision_id, verdict)` for one event, after minimal checks.

    The body is the event's canonical JSON: precomputed by the event builders, else computed.
    """
    if not isinstance(event, Mapping):
        raise LedgerError(
            f"an event must be a mapping, got {type(event).__name__}", code="ledger.bad_event"
        )
    event_id, kind = event.get("event_id"), event.get("kind")
    if not isinstance(event_id, str) or not event_id:
        raise LedgerError(
            "an event needs a non-empty string `event_id`", code="ledger.bad_event",
            field="event_id",
        )
    if not isinstance(kind, str) or not kind:
        raise LedgerError(
            f"event `{event_id}` needs a string `kind`", code="ledger.bad_event", field="kind"
        )
    body = event.body if type(event) is Event else canonical(event)
    return body, event_id, kind, event.get("decision_id"), event.get("verdict")


class SqliteLedger(Database):
    """The ledger in one SQLite file: append-only, hash-chained, safe across processes.

    Each partition is its own chain: `hash = chain_hash(prev_hash, seq, body)`, where `prev_hash`
    is the partition's previous entry's hash (64 zeros for its first) and `seq` the row's
    primary key, unique in the file. With one partition per file (the default) seqs are 1, 2,
    3, ... without gaps.

    Durability: `append` commits before it returns, in WAL mode. With `synchronous="NORMAL"` a
    committed append survives the process being killed (even `kill -9`) but may be lost on power
    failure or an OS crash; `"FULL"` survives those too, at the cost of an fsync per commit;
    `"OFF"` is for throwaway benchmarks.

    Concurrency: every append runs in `BEGIN IMMEDIATE`, reading the partition's tail inside the
    transaction, so any number of `SqliteLedger` objects and processes may append to one file and
    still form one valid chain. An object may be shared between threads.

    Args:
        path: The database file (created, with its directory, if missing).
        synchronous: SQLite's `synchronous` level: `NORMAL`, `FULL` or `OFF`.
        partition: The chain this object appends to and reads.

    Raises:
        LedgerError: when the file cannot be opened, or holds a newer schema version.
    """

    _integrity_code = "ledger.duplicate_event"

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Synchronous = "NORMAL",
        partition: str = "default",
    ) -> None:
        if not isinstance(partition, str) or not partition:
            raise LedgerError(
                "`partition` must be a non-empty string", code="ledger.bad_option",
                field="partition",
            )
        super().__init__(path, synchronous)
        self.partition = partition
        self._in_batch = False
        self._tail: tuple[int, str] | None = None  # valid only inside a write transaction
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"SqliteLedger({str(self.path)!r}, partition={self.partition!r})"

    # -- writing ---------------------------------------------------------------------

    def append(self, events: Sequence[Mapping[str, Any]]) -> list[int]:
        """Append events to this partition's chain in one transaction (the group commit).

        Outside `batch()` the transaction has committed when this returns, so every returned seq
        is durable (see the class docstring for what `synchronous` covers). Inside `batch()` the
        events commit when the batch exits. Either all events are appended or none.

        Args:
            events: Event objects (see `stakes.ledger` for the schema), each with a unique
                `event_id` and a `kind`. Serialized once, as canonical JSON.

        Returns:
            The seqs assigned, in order.

        Raises:
            LedgerError: `ledger.bad_event` for an event that is not a mapping or lacks
                `event_id`/`kind`; `ledger.duplicate_event` when an `event_id` is already in the
                file; `ledger.write_failed` when SQLite fails (nothing was appended).
        """
        rows = [_row(e) for e in events]
        if not rows:
            return []
        with self._lock:
            if self._in_batch:
                return self._guarded(lambda: self._insert_in_batch(rows))
            try:
                return self._transaction(lambda conn: self._insert(conn, rows))
            finally:
                self._tail = None

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Make every `append` inside the block one transaction, committed when the block exits.

        For bulk work (scoring a file, an evaluation run): one commit for thousands of events.
        The seqs `append` returns inside the block become durable only at exit; if the block
        raises, the whole batch is rolled back and those seqs are void. Batches nest (the
        outermost one commits). Other threads using this object wait until the batch ends.

        Raises:
            LedgerError: `ledger.write_failed` when the commit fails (nothing was appended).
        """
        with self._lock:
            if self._in_batch:
                yield
                return
            conn = self._connection()
            self._guarded(lambda: conn.execute("BEGIN IMMEDIATE"))
            self._in_batch = True
            try:
                yield
            except BaseException:
                self._rollback(conn)
                raise
            else:
                self._guarded(lambda: conn.execute("COMMIT"))
            finally:
                if conn.in_transaction:
                    self._rollback(conn)
                self._in_batch = False
                self._tail = None

    # -- reading ---------------------------------------------------------------------

    def head(self) -> Head:
        """This partition's last entry as a head (`Head(0, GENESIS_HASH)` when it is empty)."""
        rows = self._read(
            "SELECT seq, hash FROM ledger WHERE partition = ? ORDER BY seq DESC LIMIT 1",
            (self.partition,),
        )
        return Head(rows[0][0], rows[0][1]) if rows else Head(0, GENESIS_HASH)

    def entries(self, start: int = 1) -> Iterator[Entry]:
        """This partition's entries with `seq >= start`, in seq order (read in pages)."""
        seq = start
        while True:
            rows = self._read(
                f"SELECT {_ROW} FROM ledger WHERE partition = ? AND seq >= ? "
                f"ORDER BY seq LIMIT {_PAGE}",
                (self.partition, seq),
            )
            for row in rows:
                yield Entry(*row)
            if len(rows) < _PAGE:
                return
            seq = rows[-1][0] + 1

    def get_decision(self, decision_id: str) -> Entry | None:
        """The `decision` entry recorded for `decision_id` in this partition, or None."""
        rows = self._read(
            f"SELECT {_ROW} FROM ledger WHERE decision_id = ? AND kind = 'decision' "
            "AND partition = ? ORDER BY seq LIMIT 1",
            (decision_id, self.partition),
        )
        return Entry(*rows[0]) if rows else None

    def count(self) -> int:
        """The number of entries in this partition."""
        return int(
            self._read("SELECT count(*) FROM ledger WHERE partition = ?", (self.partition,))[0][0]
        )

    def verify(self, head: Head | None = None) -> VerifyReport:
        """Verify this partition's chain (see `stakes.ledger.verify` for what is detected).

        Also checks, inside SQLite, that every row's indexed columns (`event_id`, `kind`,
        `decision_id`, `verdict`, which are outside the hash) agree with its hashed body, so a
        query by column cannot be fooled; the first disagreeing row is reported as edited.

        Args:
            head: A head saved earlier (`head().to_json()`), to also detect a truncated tail or
                a chain recomputed after an edit.
        """
        mismatch = self._read(_COLUMN_MISMATCH, (self.partition,))[0][0]
        if mismatch is None:
            return verify(self.entries(), head=head)
        before = verify(itertools.takewhile(lambda e: e.seq < mismatch, self.entries()))
        if not before.ok:
            return before
        own = verify(itertools.islice(self.entries(start=mismatch), 1), after=before.last)
        if not own.ok:  # the chain is broken at that entry too: say how
            return VerifyReport(False, before.checked, own.first_bad_seq, own.problem, before.last)
        return VerifyReport(
            ok=False, checked=before.checked, first_bad_seq=mismatch,
            problem=f"entry {mismatch} was edited (indexed columns disagree with its body)",
            last=before.last,
        )

    # -- internals -------------------------------------------------------------------

    def _insert(
        self, conn: sqlite3.Connection, rows: list[tuple[str, str, str, Any, Any]]
    ) -> list[int]:
        """Chain and insert rows; the caller holds the write transaction."""
        if self._tail is None:
            last = conn.execute(_TAIL).fetchone()
            if last is None:
                self._tail = (0, GENESIS_HASH)
            elif last[1] == self.partition:
                self._tail = (last[0], last[2])
            else:
                mine = conn.execute(_PARTITION_TAIL, (self.partition,)).fetchone()
                self._tail = (last[0], mine[0] if mine else GENESIS_HASH)
        seq, prev = self._tail
        records = []
        for body, event_id, kind, decision_id, verdict in rows:
            seq += 1
            digest = chain_hash(prev, seq, body)
            records.append(
                (seq, self.partition, event_id, kind, decision_id, verdict, body, prev, digest)
            )
            prev = digest
        try:
            if len(records) == 1:
                conn.execute(_INSERT, records[0])
            else:
                conn.executemany(_INSERT, records)
        except BaseException:
            self._tail = None
            raise
        self._tail = (seq, prev)
        return [r[0] for r in records]

    def _insert_in_batch(self, rows: list[tuple[str, str, str, Any, Any]]) -> list[int]:
        """`_insert` inside the batch's transaction, all or nothing (a savepoint)."""
        conn = self._connection()
        conn.execute("SAVEPOINT stakes_append")
        try:
            seqs = self._insert(conn, rows)
        except BaseException:
            conn.execute("ROLLBACK TO stakes_append")
            raise
        finally:
            conn.execute("RELEASE stakes_append")
        return seqs

    def _migrate(self) -> None:
        def create(conn: sqlite3.Connection) -> None:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise LedgerError(
                    f"`{self.path}` has ledger schema version `{version}`; this stakes reads "
                    f"up to `{SCHEMA_VERSION}`",
                    code="ledger.schema_version", file=str(self.path),
                )
            for statement in _SCHEMA:
                conn.execute(statement)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

        self._transaction(create)
