"""Pipelines fail closed: a step that raises, hangs or returns garbage never yields allow."""

from __future__ import annotations

from typing import Any

import pytest

from stakes.control import (
    Approvals,
    ControlProtocol,
    StepContext,
    StepResult,
    build_step,
    run_pipeline,
)
from stakes.domain import ESCALATE, Action, Assessment, Verdict
from stakes.errors import PolicyError
from stakes.ledger import MemoryRequestStore
from stakes.policy import compile_policy
from stakes.testing import ScriptedMonitor, ScriptedStep, ScriptedTrustedAgent

ACTION = Action(tool="sql.execute", args={"sql": "DELETE FROM users"}, agent="bot", id="a-1")


def _assessment(suspicion: float = 0.4, above: bool = False) -> Assessment:
    return Assessment(stakes=4, suspicion=suspicion, risk=suspicion, tier="critical",
                      escalate=True, clearance_required="critical" if above else None,
                      above_clearance=above)


def _ctx(*, approvals: bool = False, above: bool = False, suspicion: float = 0.4,
         **kw: Any) -> StepContext:
    queue = Approvals(MemoryRequestStore(), compile_policy()) if approvals else None
    return StepContext(action=ACTION, assessment=_assessment(suspicion, above), agent="bot",
                       decision_id="d-1", tier="critical", approvals=queue, **kw)


GARBAGE: list[Any] = [
    None,
    "allow",
    Verdict.ALLOW,
    StepResult(outcome="allow"),  # type: ignore[arg-type]
    StepResult(outcome=Verdict.EDIT),  # edit without a replacement action
    StepResult(outcome=Verdict.DEFER, action={"tool": "x"}),  # type: ignore[arg-type]
    StepResult(outcome=Verdict.PENDING),  # pending without a request
    StepResult(outcome=Verdict.ALLOW, cost=-3.0),
    StepResult(outcome=Verdict.ALLOW, cost=float("nan")),
]


@pytest.mark.parametrize("behaviour", [RuntimeError("boom"), KeyError("x"), "hang", *GARBAGE],
                         ids=repr)
async def test_failing_step_never_allows(behaviour: Any) -> None:
    steps: list[ControlProtocol] = [ScriptedStep(behaviour, cost=2.0), build_step("allow")]
    result = await run_pipeline(steps, _ctx())
    assert result.verdict is Verdict.BLOCK
    assert result.final_action is None
    failed = result.steps[0]
    assert failed.error is not None
    assert failed.reasons[0].id == "failclosed:scripted"
    assert result.control_cost == 2.0  # the work was spent


@pytest.mark.parametrize(
    "value", [RuntimeError("model down"), "hang", None, "0.1", float("nan"), 1.7, -0.2, True],
    ids=repr,
)
async def test_monitor_failures_fail_closed(value: Any) -> None:
    step = build_step({"monitor": {"with": "llm", "audit_above": 0.5, "timeout": 0.1}})
    result = await run_pipeline([step, build_step("allow")],
                                _ctx(monitors={"llm": ScriptedMonitor([value])}))
    assert result.verdict is Verdict.BLOCK
    assert result.steps[0].error is not None


async def test_missing_monitor_fails_closed() -> None:
    step = build_step({"monitor": {"with": "llm", "audit_above": 0.5}})
    result = await run_pipeline([step], _ctx())
    assert result.verdict is Verdict.BLOCK
    assert result.steps[0].error == "protocol.missing_monitor"


@pytest.mark.parametrize(
    ("suspicion", "verdict"),
    [(0.1, Verdict.ALLOW), (0.55, Verdict.PENDING), (0.75, Verdict.DEFER), (0.95, Verdict.BLOCK)],
)
async def test_monitor_thresholds_route(suspicion: float, verdict: Verdict) -> None:
    monitor = build_step({"monitor": {"with": "m", "audit_above": 0.5, "defer_above": 0.7,
                                      "block_above": 0.9, "cost": 0.5}})
    trusted = ScriptedTrustedAgent(lambda a: a.with_(args={"sql": "SELECT 1"}))
    # defer_above escalates to the next step: a defer step, then approval for audits.
    defer_or_approve = [monitor]
    if suspicion > 0.7:
        defer_or_approve.append(build_step("defer"))
    defer_or_approve.append(build_step("approval"))
    result = await run_pipeline(defer_or_approve, _ctx(
        approvals=True, monitors={"m": ScriptedMonitor([suspicion])}, trusted=trusted))
    assert result.verdict is verdict
    assert result.steps[0].score == pytest.approx(suspicion)
    if verdict is Verdict.DEFER:
        assert result.final_action is not None
        assert result.final_action.args == {"sql": "SELECT 1"}
    if verdict is Verdict.ALLOW:
        assert result.final_action is ACTION


async def test_defer_without_trusted_agent_blocks() -> None:
    result = await run_pipeline([build_step("defer")], _ctx())
    assert result.verdict is Verdict.BLOCK
    assert result.steps[0].reasons[0].id == "defer:no_trusted_agent"
    none = ScriptedTrustedAgent(lambda a: None)
    result = await run_pipeline([build_step("defer")], _ctx(trusted=none))
    assert result.verdict is Verdict.BLOCK


async def test_ending_in_escalate_holds_or_blocks() -> None:
    escalate = ScriptedStep(StepResult(ESCALATE), cost=0.0)
    held = await run_pipeline([escalate], _ctx(approvals=True))
    assert held.verdict is Verdict.PENDING
    assert held.request_id
    blocked = await run_pipeline([escalate], _ctx(approvals=False))
    assert blocked.verdict is Verdict.BLOCK


async def test_above_clearance_never_runs_directly() -> None:
    held = await run_pipeline([build_step("allow")], _ctx(approvals=True, above=True))
    assert held.verdict is Verdict.PENDING
    assert held.steps[-1].reasons[0].id == "hold:request"
    blocked = await run_pipeline([build_step("allow")], _ctx(approvals=False, above=True))
    assert blocked.verdict is Verdict.BLOCK


async def test_costs_add_up() -> None:
    steps = [build_step({"monitor": {"audit_above": 0.9, "cost": 0.25}}),
             build_step({"approval": {"cost": 40}})]
    result = await run_pipeline(steps, _ctx(approvals=True))
    assert result.verdict is Verdict.ALLOW  # suspicion 0.4 is under the audit threshold
    assert result.control_cost == 0.25


def test_unknown_step_and_bad_params() -> None:
    with pytest.raises(PolicyError, match="unknown control protocol"):
        build_step("teleport")
    with pytest.raises(PolicyError, match="unknown field"):
        build_step({"monitor": {"audit_above": 0.5, "colour": "red"}})
    with pytest.raises(PolicyError, match="at least one"):
        build_step({"monitor": {"cost": 1}})
