"""The store interface the recorder writes to, and its in-memory implementation."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from stakes.ledger._chain import GENESIS_HASH, Entry, Head, canonical, chain_hash
from stakes.ledger._sqlite import _row
from stakes.ledger._verify import VerifyReport, verify

__all__ = ["LedgerStore", "MemoryLedger"]


class LedgerStore(Protocol):
    """Where the recorder writes: one method.

    Implementations: `SqliteLedger` (embedded), `MemoryLedger` (tests, benchmarks); a PostgreSQL
    store plugs in the same way.
    """

    def append(self, events: Sequence[Mapping[str, Any]]) -> list[int]:
        """Append `events` atomically to one hash chain; return their seqs once durable.

        A store must chain with `chain_hash(prev_hash, seq, canonical(event))`, assign
        increasing seqs, and must not return before the events are as durable as it promises.
        """
        ...


class MemoryLedger:
    """An in-memory ledger with the same chain, hashing and read side as `SqliteLedger`.

    Nothing survives the process; everything else behaves the same, including `batch()` (a
    failed batch is rolled back).
    """

    def __init__(self) -> None:
        self._entries: list[Entry] = []
        self._lock = threading.RLock()
        self._batch_depth = 0

    def append(self, events: Sequence[Mapping[str, Any]]) -> list[int]:
        """Append events to the chain (see `SqliteLedger.append`).

        Raises:
            LedgerError: `ledger.bad_event` for an event without `event_id` or `kind`.
        """
        bodies = [_row(e)[0] for e in events]
        with self._lock:
            head = self._entries[-1].head if self._entries else Head(0, GENESIS_HASH)
            seq, prev = head.seq, head.hash
            seqs = []
            for body in bodies:
                seq += 1
                digest = chain_hash(prev, seq, body)
                self._entries.append(Entry(seq, body, prev, digest))
                seqs.append(seq)
                prev = digest
            return seqs

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group appends; if the block raises, the appends made inside it are removed."""
        with self._lock:
            mark = len(self._entries)
            self._batch_depth += 1
            try:
                yield
            except BaseException:
                if self._batch_depth == 1:
                    del self._entries[mark:]
                raise
            finally:
                self._batch_depth -= 1

    def head(self) -> Head:
        """The last entry's seq and hash (`Head(0, GENESIS_HASH)` when empty)."""
        with self._lock:
            return self._entries[-1].head if self._entries else Head(0, GENESIS_HASH)

    def entries(self, start: int = 1) -> Iterator[Entry]:
        """Entries with `seq >= start`, in order."""
        with self._lock:
            snapshot = self._entries[max(start, 1) - 1:]
        return iter(snapshot)

    def get_decision(self, decision_id: str) -> Entry | None:
        """The `decision` entry recorded for `decision_id`, or None."""
        screen = f'"decision_id":{canonical(decision_id)}'
        with self._lock:
            snapshot = list(self._entries)
        for entry in snapshot:
            if screen in entry.body:  # cheap test before parsing
                event = entry.event
                if event.get("kind") == "decision" and event.get("decision_id") == decision_id:
                    return entry
        return None

    def count(self) -> int:
        """The number of entries."""
        with self._lock:
            return len(self._entries)

    def verify(self, head: Head | None = None) -> VerifyReport:
        """Verify the chain (see `stakes.ledger.verify`)."""
        return verify(self.entries(), head=head)

    def close(self) -> None:
        """Nothing to release; present for symmetry with `SqliteLedger`."""

    def __enter__(self) -> MemoryLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
