"""The ledger: an append-only, hash-chained, versioned record of every decision.

One choke point writes it (`Recorder`); stores keep it (`SqliteLedger` embedded in one file in
WAL mode, `MemoryLedger` for tests); `verify` names the first entry edited, deleted or moved;
`export_jsonl` writes it out. The approval queue (`SqliteRequestStore`) lives in the same file.

    ledger = SqliteLedger(".stakes/ledger.db")
    recorder = Recorder(ledger, redactor=Redactor(), policy_hash=policy.hash,
                        scorer_version="rules-1", thresholds={"elevated": 0.42})
    seq = recorder.record(decision)          # committed when it returns
    saved = ledger.head().to_json()          # keep it where agents cannot write
    ledger.verify(head=Head.from_json(saved)).ok
"""

from stakes.ledger._approvals import (
    MemoryRequestStore,
    Request,
    RequestStatus,
    RequestStore,
    SqliteRequestStore,
)
from stakes.ledger._chain import GENESIS_HASH, Entry, Head, chain_hash
from stakes.ledger._db import Synchronous
from stakes.ledger._events import (
    EVENT_KINDS,
    EVENT_VERSION,
    Event,
    EventKind,
    decision_event,
    format_time,
    parse_time,
    request_event,
    resolution_event,
)
from stakes.ledger._export import export_jsonl, label_for
from stakes.ledger._record import Recorder, uuid7_hex
from stakes.ledger._redact import DEFAULT_KEYS, DEFAULT_PATTERNS, REDACTED, Redactor
from stakes.ledger._sqlite import SCHEMA_VERSION, SqliteLedger
from stakes.ledger._store import LedgerStore, MemoryLedger
from stakes.ledger._verify import VerifyReport, verify

__all__ = [
    "DEFAULT_KEYS",
    "DEFAULT_PATTERNS",
    "EVENT_KINDS",
    "EVENT_VERSION",
    "GENESIS_HASH",
    "REDACTED",
    "SCHEMA_VERSION",
    "Entry",
    "Event",
    "EventKind",
    "Head",
    "LedgerStore",
    "MemoryLedger",
    "MemoryRequestStore",
    "Recorder",
    "Redactor",
    "Request",
    "RequestStatus",
    "RequestStore",
    "SqliteLedger",
    "SqliteRequestStore",
    "Synchronous",
    "VerifyReport",
    "chain_hash",
    "decision_event",
    "export_jsonl",
    "format_time",
    "label_for",
    "parse_time",
    "request_event",
    "resolution_event",
    "uuid7_hex",
    "verify",
]
