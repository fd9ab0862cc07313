"""JSONL export: the raw event stream, or labeled examples from escalated decisions."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest

from stakes.domain import Decision, Reason, StepRecord, Verdict
from stakes.ledger import MemoryLedger, Recorder, Redactor, Request, SqliteLedger, export_jsonl

MakeDecision = Callable[..., Decision]


def monitor_step(outcome: Verdict) -> StepRecord:
    return StepRecord(step="monitor", outcome=outcome, cost=0.01, score=0.7,
                      reasons=(Reason("monitor:learned", "suspicious"),))


def test_events_in_seq_order_exactly_as_stored(ledger: SqliteLedger, recorder: Recorder,
                                               make_decision: MakeDecision) -> None:
    recorder.record_many(make_decision(n) for n in range(1, 4))
    out = io.StringIO()
    assert export_jsonl(ledger, out) == 3
    lines = out.getvalue().splitlines()
    assert lines == [e.body for e in ledger.entries()]
    assert [json.loads(line)["decision_id"] for line in lines] == ["d-1", "d-2", "d-3"]


@pytest.mark.parametrize(
    ("verdict", "label"),
    [(Verdict.BLOCK, "harmful"), (Verdict.TERMINATE, "harmful"), (Verdict.DEFER, "harmful"),
     (Verdict.EDIT, "harmful"), (Verdict.ALLOW, "benign"), (Verdict.PENDING, "unknown")],
)
def test_labels_by_verdict(make_decision: MakeDecision, verdict: Verdict, label: str) -> None:
    store = MemoryLedger()
    recorder = Recorder(store, redactor=Redactor(), policy_hash="p", scorer_version="1",
                        thresholds={})
    recorder.record(make_decision(1))  # routine: no steps, not exported
    recorder.record(make_decision(2, verdict=verdict, args={"cmd": "rm", "token": "t"},
                                  steps=(monitor_step(verdict),)))
    out = io.StringIO()
    assert export_jsonl(store, out, labels=True) == 1
    row = json.loads(out.getvalue())
    assert row == {"action": {"tool": "shell.run", "args": {"cmd": "rm", "token": "[REDACTED]"},
                              "id": "a-2", "agent": "ops-bot",
                              "task": "tidy the release directory", "resource": "fs://srv/app"},
                   "label": label, "verdict": str(verdict), "decision_id": "d-2"}


@pytest.mark.parametrize(("status", "label"),
                         [("approved", "benign"), ("denied", "harmful"), ("expired", "unknown")])
def test_a_resolved_pending_decision_takes_the_resolution(make_decision: MakeDecision,
                                                          status: str, label: str) -> None:
    store = MemoryLedger()
    recorder = Recorder(store, redactor=Redactor(), policy_hash="p", scorer_version="1",
                        thresholds={})
    recorder.record(make_decision(1, verdict=Verdict.PENDING, request_id="req-1",
                                  steps=(monitor_step(Verdict.PENDING),)))
    recorder.record_resolution(Request(
        id="req-1", created_at="2026-01-01T00:00:00.000000Z",
        expires_at="2026-01-01T01:00:00.000000Z", agent="ops-bot", tool="shell.run",
        args_hash="0" * 64, required_clearance=None, action="{}", decision_id="d-1",
        status=status,  # type: ignore[arg-type]
        resolved_by="alice" if status != "expired" else None,
        resolved_at="2026-01-01T00:30:00.000000Z"))
    out = io.StringIO()
    export_jsonl(store, out, labels=True)
    assert json.loads(out.getvalue())["label"] == label
