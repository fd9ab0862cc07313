"""Chain verification: a pure function over entries that names the first bad one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stakes.errors import LedgerIntegrityError
from stakes.ledger._chain import GENESIS_HASH, Entry, Head, chain_hash

__all__ = ["VerifyReport", "verify"]

_EMPTY = Head(0, GENESIS_HASH)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of `verify`.

    Attributes:
        ok: True when every check passed.
        checked: How many entries passed before the first problem (all of them when `ok`).
        first_bad_seq: The seq of the first entry found edited, missing or moved (None when ok).
        problem: What is wrong, e.g. `entry 17 was edited (hash mismatch)` (None when ok).
        last: The last entry that passed, as a head (`Head(0, GENESIS_HASH)` if none did); save
            it to verify only newer entries next time (`verify(..., after=last)`).
    """

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    last: Head = _EMPTY

    def raise_if_failed(self) -> None:
        """Raise `LedgerIntegrityError` (code `ledger.integrity`) when not ok."""
        if not self.ok:
            raise LedgerIntegrityError(
                self.problem or "verification failed", seq=self.first_bad_seq
            )


def verify(
    entries: Iterable[Entry], *, head: Head | None = None, after: Head | None = None
) -> VerifyReport:
    """Verify a hash chain and name the first entry that was edited, deleted or moved.

    `entries` must be one partition's entries in the order they are stored (as
    `SqliteLedger.entries()` yields them), starting at the first entry, or right after `after`.
    Walking them with `prev` = the previous entry (or `after`, or `(seq 0, GENESIS_HASH)`), each
    entry is checked in this order:

    1. seq increases: `seq > prev.seq`, else "entry N is out of order (seq does not increase)".
    2. link: `prev_hash == prev.hash`. If not, and seqs were skipped (`seq != prev.seq + 1`), the
       first skipped seq is reported: "entry K is missing (seq gap)"; otherwise "entry N is out of
       order (prev_hash does not link)". (A seq gap whose link holds is fine: the skipped seqs
       belong to other partitions of the same file.)
    3. hash: `hash == chain_hash(prev_hash, seq, body)`, else "entry N was edited (hash
       mismatch)".

    With a saved `head` (seq S, hash H), also:

    4. the entry with seq S must have hash H, else "entry S's hash differs from the saved head
       (chain recomputed)";
    5. the chain must reach S, else "ledger ends at L but the saved head is at S (truncated)",
       reported at seq L + 1.

    What this detects: any change to a stored body, seq or hash (3); a deleted entry that is not
    the last (2); rows moved or swapped (2, or 3 when only bodies moved); without `head`, any
    tampering that does not rewrite every hash after it. With `head`: also deleting entries at the
    end (5) and rewriting the chain from some entry onward with every later hash recomputed (4).

    What it does not detect: without `head`, truncation of the tail and a consistently recomputed
    chain (the chain is self-consistent; keep heads where the writer cannot change them); with
    `head`, tampering confined to entries after S (verify with a newer head); tampering with
    columns outside the hash (the SQLite store derives its query columns from the body; only
    `partition` is free, and moving an entry between partitions breaks both chains). When an
    entry is rewritten together with its own hash, the break shows at the next entry's link,
    which is where it is reported. A recomputed chain is reported at S, not at the edit.

    Args:
        entries: The entries to check, in stored order.
        head: A head saved earlier, to detect truncation and a recomputed chain.
        after: Where `entries` start: a head that was verified before (incremental check).
            A `head` at or before `after` is only compared with it when their seqs are equal.

    Returns:
        A `VerifyReport`; this function never raises for a bad chain.
    """
    prev = after if after is not None else _EMPTY
    checked = 0
    head_seen = head is None or head.seq <= prev.seq

    def bad(seq: int, problem: str) -> VerifyReport:
        return VerifyReport(False, checked, seq, problem, prev)

    if head is not None and head.seq == prev.seq and head.hash != prev.hash:
        return bad(head.seq, f"entry {head.seq}'s hash differs from the saved head")
    for entry in entries:
        seq = entry.seq
        if seq <= prev.seq:
            return bad(seq, f"entry {seq} is out of order (seq does not increase)")
        if entry.prev_hash != prev.hash:
            if seq != prev.seq + 1:
                return bad(prev.seq + 1, f"entry {prev.seq + 1} is missing (seq gap)")
            return bad(seq, f"entry {seq} is out of order (prev_hash does not link)")
        if chain_hash(entry.prev_hash, seq, entry.body) != entry.hash:
            return bad(seq, f"entry {seq} was edited (hash mismatch)")
        if not head_seen and head is not None and seq >= head.seq:
            if seq > head.seq or entry.hash != head.hash:
                return bad(
                    head.seq,
                    f"entry {head.seq}'s hash differs from the saved head (chain recomputed)",
                )
            head_seen = True
        prev = Head(seq, entry.hash)
        checked += 1
    if not head_seen and head is not None:
        return bad(
            prev.seq + 1,
            f"ledger ends at {prev.seq} but the saved head is at {head.seq} (truncated)",
        )
    return VerifyReport(True, checked, None, None, prev)
