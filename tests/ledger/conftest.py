"""Fixtures for the ledger tests: decisions, a frozen clock and counting ids."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from stakes.domain import Action, Assessment, Decision, Reason, StepRecord, Verdict
from stakes.ledger import Recorder, Redactor, SqliteLedger

T0 = datetime(2026, 5, 9, 7, 35, 25, 123456, tzinfo=UTC)

MakeDecision = Callable[..., Decision]


def build_decision(
    n: int = 1,
    *,
    verdict: Verdict = Verdict.ALLOW,
    args: dict[str, Any] | None = None,
    steps: tuple[StepRecord, ...] = (),
    agent: str = "ops-bot",
    tool: str = "shell.run",
    request_id: str | None = None,
    context: tuple[dict[str, Any], ...] = (),
) -> Decision:
    """A realistic decision numbered `n` (ids `d-n` and `a-n`)."""
    action = Action(
        tool=tool,
        args=args if args is not None else {"cmd": f"ls -la /srv/app/{n}"},
        id=f"a-{n}",
        agent=agent,
        task="tidy the release directory",
        context=context,
        resource="fs://srv/app",
    )
    assessment = Assessment(
        stakes=2, suspicion=0.1, risk=0.05, tier="routine" if not steps else "elevated",
        escalate=bool(steps), capability="shell",
        reasons=(Reason("rule:shell.list", "lists a directory"),), scores={"rules": 0.1},
    )
    return Decision(
        id=f"d-{n}", action=action, verdict=verdict, assessment=assessment,
        final_action=action if verdict is Verdict.ALLOW else None, steps=steps,
        request_id=request_id, control_cost=sum(s.cost for s in steps), latency_s=0.000012,
    )


@pytest.fixture
def make_decision() -> MakeDecision:
    """`make_decision(n, verdict=..., args=..., steps=...)` builds a `Decision`."""
    return build_decision


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """A clock that advances one millisecond per call from `T0`."""
    ticks = itertools.count()
    return lambda: T0 + timedelta(milliseconds=next(ticks))


@pytest.fixture
def ids() -> Callable[[], str]:
    """Event ids `e-1`, `e-2`, ..."""
    counter = itertools.count(1)
    return lambda: f"e-{next(counter)}"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A fresh ledger file path."""
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(db: Path) -> Iterator[SqliteLedger]:
    """An open `SqliteLedger` on `db`."""
    with SqliteLedger(db) as store:
        yield store


@pytest.fixture
def recorder(
    ledger: SqliteLedger, clock: Callable[[], datetime], ids: Callable[[], str]
) -> Recorder:
    """A recorder writing to `ledger` with a deterministic clock and ids."""
    return Recorder(
        ledger, redactor=Redactor(), policy_hash="p" * 64, scorer_version="rules-1",
        thresholds={"elevated": 0.42, "critical": 0.9}, clock=clock, ids=ids,
    )
