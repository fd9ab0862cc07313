"""The hash chain: one hashing formula, the entries it links and the head an auditor keeps."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from stakes.domain import canonical_json
from stakes.errors import LedgerError, LedgerIntegrityError

__all__ = ["GENESIS_HASH", "Entry", "Head", "canonical", "chain_hash"]

def canonical(value: Any) -> str:
    """The canonical JSON of `value`: `stakes.domain.canonical_json` (one definition).

    Raises:
        TypeError: for a value that cannot be encoded at all.
        ValueError: for a circular structure.
    """
    return canonical_json(value)


GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first entry of every partition: 64 zeros."""

_HEX64 = re.compile(r"[0-9a-f]{64}")


def chain_hash(prev_hash: str, seq: int, body: str) -> str:
    r"""The hash of one ledger entry.

    `hash = sha256(prev_hash || "\n" || str(seq) || "\n" || body)` as lowercase hex, over the
    UTF-8 bytes. `body` is the canonical JSON of the event, so the hash covers every field of the
    event, its position (`seq`) and, through `prev_hash`, everything before it.

    Args:
        prev_hash: The previous entry's hash in the same partition (`GENESIS_HASH` for the first).
        seq: The entry's sequence number.
        body: The event as canonical JSON.

    Returns:
        64 lowercase hex characters.
    """
    return hashlib.sha256(f"{prev_hash}\n{seq}\n{body}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Head:
    """The tip of a chain: what an auditor saves to detect truncation or a recomputed chain later.

    Attributes:
        seq: The last entry's sequence number (0 for an empty ledger).
        hash: The last entry's hash (`GENESIS_HASH` for an empty ledger).
    """

    seq: int
    hash: str

    def to_json(self) -> dict[str, Any]:
        """`{"seq": int, "hash": str}`."""
        return {"seq": self.seq, "hash": self.hash}

    @classmethod
    def from_json(cls, obj: Any) -> Head:
        """Rebuild a head saved with `to_json`.

        Raises:
            LedgerError: `ledger.bad_head` when `obj` is not `{"seq": int >= 0, "hash": hex64}`.
        """
        if not isinstance(obj, Mapping):
            raise LedgerError(
                f"a saved head must be a JSON object, got {type(obj).__name__}",
                code="ledger.bad_head",
            )
        seq, hash_ = obj.get("seq"), obj.get("hash")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise LedgerError(
                f"a saved head needs an integer `seq` >= 0, got `{seq!r}`",
                code="ledger.bad_head", field="seq",
            )
        if not isinstance(hash_, str) or not _HEX64.fullmatch(hash_):
            raise LedgerError(
                f"a saved head needs a 64-hex-digit `hash`, got `{hash_!r}`",
                code="ledger.bad_head", field="hash",
            )
        return cls(seq=seq, hash=hash_)


@dataclass(frozen=True)
class Entry:
    """One row of the ledger as stored: the event's exact bytes and its place in the chain.

    The raw `body` is kept (rather than only the decoded event) because the hash covers those
    exact characters; `event` decodes it on first use.

    Attributes:
        seq: The sequence number (the row's primary key; increases by one per entry in a file).
        body: The event as canonical JSON, exactly as hashed.
        prev_hash: The hash of the previous entry of the same partition.
        hash: `chain_hash(prev_hash, seq, body)`.
    """

    seq: int
    body: str
    prev_hash: str
    hash: str

    @cached_property
    def event(self) -> dict[str, Any]:
        """The decoded event.

        Raises:
            LedgerIntegrityError: when the stored body is not a JSON object (corruption).
        """
        try:
            value = json.loads(self.body)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise LedgerIntegrityError(
                f"entry `{self.seq}` does not hold a JSON object", code="ledger.bad_body"
            )
        return value

    @property
    def head(self) -> Head:
        """This entry as a head: `Head(seq, hash)`."""
        return Head(self.seq, self.hash)
