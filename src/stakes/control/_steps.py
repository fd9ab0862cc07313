"""The first set of control protocol steps: allow, block, terminate, monitor, defer, approval."""

from __future__ import annotations

import math
import threading
from typing import ClassVar

from pydantic import Field, model_validator

from stakes.control._base import (
    Monitor,
    MonitorScore,
    StepContext,
    StepParams,
    StepResult,
    control_protocol,
)
from stakes.domain import ESCALATE, Reason, Verdict
from stakes.errors import ProtocolError

__all__ = [
    "AllowStep",
    "ApprovalParams",
    "ApprovalStep",
    "BlockStep",
    "DeferParams",
    "DeferStep",
    "MonitorParams",
    "MonitorStep",
    "TerminateStep",
]


@control_protocol("allow")
class AllowStep:
    """Allow the action as proposed (the routine tier's whole pipeline)."""

    name: ClassVar[str]

    def __init__(self, params: StepParams) -> None:
        self.params = params

    async def run(self, ctx: StepContext) -> StepResult:
        """Always `allow`."""
        return StepResult(Verdict.ALLOW)


@control_protocol("block")
class BlockStep:
    """Block the action (the agent may go on with its task)."""

    name: ClassVar[str]

    def __init__(self, params: StepParams) -> None:
        self.params = params

    async def run(self, ctx: StepContext) -> StepResult:
        """Always `block`."""
        return StepResult(Verdict.BLOCK, reasons=(Reason("step:block", "tier blocks"),))


@control_protocol("terminate")
class TerminateStep:
    """Stop the agent's whole task."""

    name: ClassVar[str]

    def __init__(self, params: StepParams) -> None:
        self.params = params

    async def run(self, ctx: StepContext) -> StepResult:
        """Always `terminate`."""
        return StepResult(Verdict.TERMINATE, reasons=(Reason("step:terminate", "tier stops"),))


class MonitorParams(StepParams):
    """Thresholds on a monitor's suspicion; the highest threshold crossed decides.

    With suspicion s: s > terminate_above -> terminate; s > block_above -> block;
    s > defer_above -> defer (hand to the next step, which should be `defer`); s > audit_above ->
    escalate (to the next step, typically `approval`); otherwise allow. A threshold left unset
    never fires. `defer_above` escalates too: defer is a separate step so its cost is its own.
    """

    with_: str = Field("triage", alias="with")
    """The monitor: `triage` (the assessment's suspicion), a monitor the host registered, or a
    built-in one the host did not override: `semantic` (the semantic monitor with its shipped
    head; needs `stakes[semantic]`)."""
    audit_above: float | None = Field(None, ge=0, le=1)
    defer_above: float | None = Field(None, ge=0, le=1)
    block_above: float | None = Field(None, ge=0, le=1)
    terminate_above: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _some_threshold(self) -> MonitorParams:
        if all(
            t is None
            for t in (self.audit_above, self.defer_above, self.block_above, self.terminate_above)
        ):
            raise ValueError("a monitor step needs at least one of `audit_above`, "
                             "`defer_above`, `block_above`, `terminate_above`")
        return self


_BUILTIN_MONITORS: dict[str, Monitor] = {}
_BUILTIN_LOCK = threading.Lock()


def _builtin_monitor(name: str) -> Monitor | None:
    """A built-in monitor by name, built once per process on first use; None for other names.

    `semantic`: the semantic monitor with its shipped head (needs `stakes[semantic]`; a
    missing extra raises, and the step fails closed).
    """
    if name != "semantic":
        return None
    monitor = _BUILTIN_MONITORS.get(name)
    if monitor is None:
        with _BUILTIN_LOCK:
            monitor = _BUILTIN_MONITORS.get(name)
            if monitor is None:
                from stakes.triage._semantic import SemanticMonitor

                monitor = _BUILTIN_MONITORS[name] = SemanticMonitor()
    return monitor


@control_protocol("monitor", MonitorParams)
class MonitorStep:
    """Trusted monitoring (Greenblatt et al. 2023): score, then act on thresholds.

    Fails closed: a monitor that raises, returns a non-number, NaN, or a score outside [0, 1]
    raises `ProtocolError`, which the pipeline turns into `block`. A missing score is never 0.
    """

    name: ClassVar[str]

    def __init__(self, params: MonitorParams) -> None:
        self.params = params

    async def run(self, ctx: StepContext) -> StepResult:
        """Score the action and compare against the thresholds."""
        p = self.params
        if p.with_ == "triage":
            result = MonitorScore(ctx.assessment.suspicion)
        else:
            monitor = ctx.monitors.get(p.with_)
            if monitor is None:
                monitor = _builtin_monitor(p.with_)
            if monitor is None:
                raise ProtocolError(f"monitor `{p.with_}` is not configured",
                                    code="protocol.missing_monitor")
            result = await monitor.score(ctx.action, ctx)
        s = result.suspicion if isinstance(result, MonitorScore) else None
        if isinstance(s, bool) or not isinstance(s, int | float) or not math.isfinite(s) or not (
            0.0 <= s <= 1.0
        ):
            raise ProtocolError(f"monitor `{p.with_}` returned an invalid score `{s!r}`",
                                code="protocol.bad_score")
        s = float(s)
        for threshold, outcome, label in (
            (p.terminate_above, Verdict.TERMINATE, "terminate"),
            (p.block_above, Verdict.BLOCK, "block"),
            (p.defer_above, ESCALATE, "defer"),
            (p.audit_above, ESCALATE, "audit"),
        ):
            if threshold is not None and s > threshold:
                reason = Reason(f"monitor:{p.with_}",
                                f"suspicion {s:.3f} above {label} threshold {threshold:g}", s)
                return StepResult(outcome, reasons=(reason, *result.reasons), score=s,
                                  cost=result.cost)
        reason = Reason(f"monitor:{p.with_}", f"suspicion {s:.3f} below every threshold", s)
        return StepResult(Verdict.ALLOW, reasons=(reason,), score=s, cost=result.cost)


class DeferParams(StepParams):
    """Defer-to-trusted parameters."""


@control_protocol("defer", DeferParams)
class DeferStep:
    """Defer to trusted (Greenblatt et al. 2023): the trusted agent's action runs instead.

    Fails closed: with no trusted agent configured, or when it proposes nothing, the action is
    blocked, never allowed.
    """

    name: ClassVar[str]

    def __init__(self, params: DeferParams) -> None:
        self.params = params

    async def run(self, ctx: StepContext) -> StepResult:
        """Ask the trusted agent for its action; `defer` to it, or `block` without one."""
        if ctx.trusted is None:
            return StepResult(Verdict.BLOCK, reasons=(
                Reason("defer:no_trusted_agent", "no trusted agent is configured: blocked"),))
        replacement = await ctx.trusted.propose(ctx.action, ctx)
        if replacement is None:
            return StepResult(Verdict.BLOCK, reasons=(
                Reason("defer:no_proposal", "the trusted agent proposed nothing: blocked"),))
        return StepResult(Verdict.DEFER, action=replacement, reasons=(
            Reason("defer:trusted", f"trusted agent's `{replacement.tool}` runs instead"),))


class ApprovalParams(StepParams):
    """Who may approve, and for how long the request stands."""

    cost: float = Field(40.0, ge=0)
    by: list[str] = Field(default_factory=lambda: ["human", "cleared"])
    """Principals: `human` (any human in the policy), `cleared` (any agent cleared for the
    capability), or agent ids."""
    expire_after: float | None = Field(None, gt=0)
    """Seconds before the request expires to deny (default: the policy's `approvals`)."""


@control_protocol("approval", ApprovalParams)
class ApprovalStep:
    """Human (or cleared-agent) approval: the action is held as a request, bound to its hash.

    Fails closed: without an approval process configured the action is blocked.
    """

    name: ClassVar[str]

    def __init__(self, params: ApprovalParams) -> None:
        self.params = params

    async def run(self, ctx: StepContext) -> StepResult:
        """Create the request and hold the action (`pending`)."""
        if ctx.approvals is None:
            return StepResult(Verdict.BLOCK, reasons=(
                Reason("approval:unavailable", "no approval process is configured: blocked"),))
        request = ctx.approvals.request(
            ctx.action, agent=ctx.agent, decision_id=ctx.decision_id,
            required_clearance=ctx.assessment.clearance_required,
            by=tuple(self.params.by), expire_after=self.params.expire_after,
        )
        return StepResult(Verdict.PENDING, request_id=request.id, reasons=(
            Reason("approval:requested",
                   f"held for approval by {', '.join(self.params.by)} as `{request.id}`"),))
