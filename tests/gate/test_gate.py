"""The gate end to end: identity binding, containment, approvals, guard, ledger, fail closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from stakes import (
    Action,
    ActionBlocked,
    ApprovalError,
    Gate,
    PendingCall,
    Verdict,
    compile_policy,
)
from stakes.domain import Assessment
from stakes.errors import InputError, PolicyError
from stakes.testing import FakeClock
from stakes.triage import Triage

POLICY = """\
version: 1
capabilities:
  - {name: reads, tools: ["fs.read"], stakes: 0}
  - {name: money, tools: ["payments.transfer"], stakes: 4, clearance: critical}
  - {name: deploy, tools: ["deploy.*"], stakes: 3, clearance: elevated}
agents:
  bot: {clearance: routine}
  lead: {clearance: elevated}
  cfo: {clearance: critical}
tiers:
  routine: {pipeline: [allow]}
  elevated:
    enter: {risk_above: 0.5}
    pipeline: [{monitor: {block_above: 0.8, cost: 0.1}}]
  critical:
    enter: {stakes_at_least: 4, above_clearance: true}
    pipeline: [{monitor: {block_above: 0.8, cost: 1}}, {approval: {cost: 40, by: [human, cleared]}}]
approvals: {expire_after: 10m, humans: [alice]}
"""

TRANSFER = Action(tool="payments.transfer", args={"amount": 100, "to_account": "V-1"})
READ = Action(tool="fs.read", args={"path": "/srv/README.md"})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gate(tmp_path: Path, clock: FakeClock) -> Gate:
    g = Gate(compile_policy(text=POLICY), ledger=tmp_path / "ledger.db", clock=clock)
    yield g
    g.close()


def test_routine_allows_and_records(gate: Gate) -> None:
    decision = gate.agent("bot").check(READ)
    assert decision.verdict is Verdict.ALLOW
    assert decision.final_action is not None
    assert decision.ledger_seq == 1
    assert decision.action.agent == "bot"
    assert decision.action.id  # assigned
    assert gate.ledger is not None
    assert gate.ledger.verify().ok


def test_identity_comes_from_the_handle(gate: Gate) -> None:
    claimed = TRANSFER.with_(agent="cfo")
    decision = gate.agent("bot").check(claimed)
    assert decision.action.agent == "bot"
    assert decision.verdict is Verdict.PENDING
    assert {"clearance:above", "identity:claimed"} <= {r.id for r in decision.reasons}
    anonymous = gate.check(claimed)
    assert anonymous.action.agent == "anonymous"
    assert anonymous.verdict is Verdict.PENDING


def test_request_process(gate: Gate, clock: FakeClock) -> None:
    decision = gate.agent("bot").check(TRANSFER)
    assert decision.verdict is Verdict.PENDING
    rid = decision.request_id
    assert rid is not None
    with pytest.raises(ApprovalError) as self_approval:
        gate.agent("bot").approve(rid)
    assert self_approval.value.code == "approval.self_approval"
    with pytest.raises(ApprovalError) as uncleared:
        gate.agent("lead").approve(rid)
    assert uncleared.value.code == "approval.not_cleared"
    with pytest.raises(ApprovalError) as stranger:
        gate.approvals.approve(rid, by="mallory")
    assert stranger.value.code == "approval.unknown_principal"
    with pytest.raises(ApprovalError) as wrong_hash:
        gate.approvals.approve(rid, by="alice", args_hash="0" * 64)
    assert wrong_hash.value.code == "approval.hash_mismatch"
    approved = gate.agent("cfo").approve(rid, args_hash=TRANSFER.with_(agent="bot").args_hash())
    assert approved.status == "approved"
    assert approved.resolved_by == "cfo"
    # Only the exact action may run under the approval.
    with pytest.raises(ApprovalError):
        gate.release(rid, decision.action.with_(args={"amount": 100_000, "to_account": "X"}))
    released = gate.release(rid, decision.action)
    assert released.verdict is Verdict.ALLOW
    # An approval runs once: a replay of the same approved action is refused.
    with pytest.raises(ApprovalError) as replay:
        gate.release(rid, decision.action)
    assert replay.value.code == "approval.not_approved"
    assert gate.approvals.get(rid).status == "executed"
    with pytest.raises(ApprovalError) as again:
        gate.agent("cfo").approve(rid)
    assert again.value.code == "approval.not_pending"


def test_pending_expires_to_deny(gate: Gate, clock: FakeClock) -> None:
    decision = gate.agent("bot").check(TRANSFER)
    assert decision.request_id
    clock.advance(601)
    assert gate.approvals.get(decision.request_id).status == "expired"
    with pytest.raises(ApprovalError) as info:
        gate.approvals.approve(decision.request_id, by="alice")
    assert info.value.code == "approval.not_pending"
    with pytest.raises(ApprovalError):
        gate.release(decision.request_id, decision.action)


def test_requests_are_in_the_ledger(gate: Gate) -> None:
    decision = gate.agent("bot").check(TRANSFER)
    assert decision.request_id
    gate.approvals.deny(decision.request_id, by="alice", note="no")
    assert gate.ledger is not None
    kinds = [e.event["kind"] for e in gate.ledger.entries()]
    assert kinds == ["request", "decision", "resolution"]
    assert gate.ledger.verify().ok


def test_guard_runs_blocks_and_holds(gate: Gate) -> None:
    calls: list[tuple[str, float]] = []
    cfo = gate.agent("cfo")
    bot = gate.agent("bot")

    @bot.guard(tool="fs.read")
    def read(path: str) -> str:
        return f"contents of {path}"

    @bot.guard(tool="payments.transfer")
    def transfer(to_account: str, amount: float) -> str:
        calls.append((to_account, amount))
        return "sent"

    assert read("/srv/README.md") == "contents of /srv/README.md"
    pending = transfer("V-1", 100)
    assert isinstance(pending, PendingCall)
    assert calls == []
    assert pending.status() == "pending"
    with pytest.raises(ApprovalError):
        pending.wait(timeout=0)
    cfo.approve(pending.request_id)
    assert pending.wait(timeout=1) == "sent"
    assert calls == [("V-1", 100)]

    denied = transfer("V-2", 5)
    assert isinstance(denied, PendingCall)
    gate.approvals.deny(denied.request_id, by="alice")
    with pytest.raises(ActionBlocked) as info:
        denied.wait(timeout=1)
    assert info.value.code == "gate.denied"
    assert calls == [("V-1", 100)]


def test_guard_raises_on_block(tmp_path: Path) -> None:
    policy = compile_policy(text=POLICY.replace(
        "pipeline: [{monitor: {block_above: 0.8, cost: 1}}, {approval: {cost: 40, by: [human, "
        "cleared]}}]", "pipeline: [block]"))
    gate = Gate(policy)
    ran: list[int] = []

    @gate.agent("cfo").guard(tool="payments.transfer")
    def transfer(amount: int) -> None:
        ran.append(amount)

    with pytest.raises(ActionBlocked) as info:
        transfer(5)
    assert info.value.decision.verdict is Verdict.BLOCK
    assert ran == []


async def test_async_guard_and_acheck(gate: Gate) -> None:
    @gate.agent("bot").guard(tool="fs.read")
    async def read(path: str) -> str:
        return path.upper()

    assert await read("/a") == "/A"
    decision = await gate.agent("bot").acheck(TRANSFER)
    assert decision.verdict is Verdict.PENDING
    with pytest.raises(Exception, match="acheck"):
        gate.agent("bot").check(TRANSFER)


def test_triage_error_fails_closed(gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> Assessment:
        raise RuntimeError("scorer exploded")

    monkeypatch.setattr(Triage, "assess", broken)
    decision = gate.agent("cfo").check(READ)
    assert decision.verdict is Verdict.BLOCK
    assert decision.reasons[0].id == "failclosed:triage"
    assert decision.ledger_seq is not None


def test_bad_input_is_named() -> None:
    with pytest.raises(InputError) as info:
        Action.from_json({"tool": "x", "args": [1]}, line=7)
    assert info.value.context == {"line": 7, "field": "args"}
    with pytest.raises(InputError, match="`tool`"):
        Action.from_json({"args": {}})
    with pytest.raises(InputError, match="unknown field `colour`"):
        Action.from_json({"tool": "x", "args": {}, "colour": 1})


def test_stats_report_tax_and_rates(gate: Gate) -> None:
    for _ in range(9):
        gate.agent("bot").check(READ)
    gate.agent("bot").check(TRANSFER)
    stats = gate.stats.to_json()
    assert stats["actions"] == 10
    assert stats["forced_escalation_rate"] == pytest.approx(0.1)
    # The critical monitor (1) plus the held request, priced as an approval (40 by default).
    assert stats["control_cost"] == pytest.approx(41.0)
    assert stats["blended_tax"] == pytest.approx(4.1)
    assert stats["forced_tax"] == pytest.approx(4.1)


def test_reload_swaps_policy_and_a_bad_reload_keeps_the_old(tmp_path: Path) -> None:
    gate = Gate(compile_policy(text=POLICY))
    before = gate.policy.hash
    bad = tmp_path / "bad.yaml"
    bad.write_text(POLICY.replace("pipeline: [allow]", "pipeline: [teleport]"))
    with pytest.raises(PolicyError):
        gate.reload(bad)
    assert gate.policy.hash == before
    assert gate.agent("bot").check(READ).verdict is Verdict.ALLOW
    stricter = tmp_path / "stricter.yaml"
    stricter.write_text(POLICY.replace("{name: reads, tools: [\"fs.read\"], stakes: 0}",
                                       "{name: reads, tools: [\"fs.read\"], stakes: 4}"))
    gate.reload(stricter)
    assert gate.policy.hash != before
    assert gate.agent("cfo").check(READ).assessment.tier == "critical"


def test_policy_redaction_applies_to_the_ledger(tmp_path: Path) -> None:
    policy = compile_policy(text=POLICY + "redact: {keys: [\"*account*\"], patterns: "
                                          "[\"V-[0-9]+\"]}\n")
    gate = Gate(policy, ledger=tmp_path / "l.db")
    gate.agent("cfo").check(Action(tool="fs.read", args={"path": "/x",
                                                          "account_no": "acct-QQ-secret",
                                                          "note": "pay V-77 today"}))
    assert gate.ledger is not None
    body = next(gate.ledger.entries()).body
    assert "acct-QQ-secret" not in body
    assert "V-77" not in body
    gate.close()
