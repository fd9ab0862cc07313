import asyncio
import random
import threading

import pytest

from stakes.gate._spend import SpendLimit, SpendLimits


def test_reserve_settle_release_and_windows():
    limits = SpendLimits((SpendLimit("bot", 10.0, 60.0),))
    a = limits.reserve("bot", 6.0, now=0.0)
    assert a is not None
    assert limits.reserve("bot", 5.0, now=1.0) is None     # would exceed: nothing held
    assert limits.spent("bot", 1.0) == {0: 6.0}
    limits.settle(a, 2.5)                                  # measured below the reservation
    assert limits.spent("bot", 1.0) == {0: 2.5}
    b = limits.reserve("bot", 7.5, now=2.0)
    assert b is not None
    limits.release(b)
    limits.release(b)                                      # idempotent
    assert limits.spent("bot", 2.0) == {0: 2.5}
    assert limits.reserve("bot", 10.0, now=60.0) is not None  # a new window
    assert limits.reserve("other", 100.0, now=0.0) is not None  # no limit applies


def test_wildcard_limits_apply_per_agent():
    limits = SpendLimits((SpendLimit("*", 1.0, 3600),))
    assert limits.reserve("a", 1.0, 0.0) is not None
    assert limits.reserve("b", 1.0, 0.0) is not None
    assert limits.reserve("a", 0.1, 0.0) is None


@pytest.mark.parametrize(("limit", "period"), [(0.0, 1.0), (1.0, -1.0), (float("nan"), 1.0)])
def test_bad_limits_are_refused(limit, period):
    with pytest.raises(ValueError, match="spend"):
        SpendLimit("a", limit, period)


def test_negative_reservation_is_refused():
    with pytest.raises(ValueError, match=">= 0"):
        SpendLimits().reserve("a", -1.0, 0.0)


async def test_64_concurrent_callers_never_overshoot():
    limit = 50.0
    limits = SpendLimits((SpendLimit("bot", limit, 3600.0),))
    peak = [0.0]
    granted: list[float] = []

    async def caller(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(20):
            amount = rng.choice([0.5, 1.0, 2.0, 3.0])
            r = limits.reserve("bot", amount, now=10.0)
            total = limits.spent("bot", 10.0)[0]
            peak[0] = max(peak[0], total)
            if r is None:
                continue
            granted.append(amount)
            await asyncio.sleep(0)  # the step "runs"; other callers interleave
            limits.settle(r, amount * rng.choice([0.5, 1.0]))

    await asyncio.gather(*(caller(i) for i in range(64)))
    assert peak[0] <= limit + 1e-9
    assert limits.spent("bot", 10.0)[0] <= limit + 1e-9
    assert len(granted) > 10


def test_64_threads_never_overshoot():
    limit = 40.0
    limits = SpendLimits((SpendLimit("bot", limit, 3600.0),))
    held = []
    lock = threading.Lock()
    barrier = threading.Barrier(64)

    def caller() -> None:
        barrier.wait()
        for _ in range(50):
            r = limits.reserve("bot", 1.0, now=5.0)
            if r is not None:
                with lock:
                    held.append(r)

    threads = [threading.Thread(target=caller) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(held) == 40
    assert limits.spent("bot", 5.0)[0] == pytest.approx(limit)


POLICY = """
budgets: {recalibrate: {enabled: false}}
agents: {bot: {clearance: routine}}
spend_limits:
  - {agent: bot, max: 5, per: 1h}
tiers:
  routine: {pipeline: [allow]}
  elevated:
    enter: {risk_above: 0.0}
    pipeline: [monitor: {with: triage, block_above: 0.999, cost: 2}]
"""


def test_gate_holds_actions_once_the_spend_limit_is_exhausted():
    from stakes.gate import Gate
    from stakes.policy import compile_policy

    gate = Gate(compile_policy(text=POLICY))
    verdicts = [gate.check({"tool": "fs.read", "args": {"path": f"/srv/{i}"}}, agent="bot")
                for i in range(4)]
    # two monitor steps fit in 5 units; the third and fourth are not run and are held
    assert [d.verdict.value for d in verdicts] == ["allow", "allow", "pending", "pending"]
    held = verdicts[2]
    assert held.steps[0].error == "spend.exhausted"
    assert any(r.id == "spend:exhausted" for r in held.steps[0].reasons)
    assert "spend limit is exhausted" in held.steps[-1].reasons[0].detail
    assert gate.spend.spent("bot", gate._now())[0] == 4.0


def test_bad_spend_limit_names_the_field():
    from stakes.errors import PolicyError
    from stakes.policy import compile_policy

    with pytest.raises(PolicyError, match="max"):
        compile_policy(text=POLICY.replace("max: 5", "max: 0"))
