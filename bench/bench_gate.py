"""Benchmark the routine path, the ledger, and cedarpy on the same actions.

Writes `bench/results/gate.json`. Run: `make bench` (or `.venv/bin/python bench/bench_gate.py`).

Measured:
- `gate.check` without a ledger on a declared routine mix (reads, listings, simple queries):
  per-call latency p50 / p99 (perf_counter_ns around each call, after a warm-up);
- the same on the demo traffic's routine actions (realistic: context messages, more tools);
- `gate.check` with the SQLite ledger (one commit per decision, as a caller gets it) and
  the ledger's group commit (`Recorder.record_many` in batches), at synchronous NORMAL and FULL;
- cedarpy deciding an equivalent permit/forbid policy on the same routine actions, with a
  pre-parsed PolicySet and Entities handle (the fair case), and the ratio to stakes.
"""

from __future__ import annotations

import gc
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cedarpy

from stakes import Action, Gate
from stakes.demo import generate_traffic
from stakes.ledger import Recorder, Redactor, SqliteLedger

OUT = Path(__file__).parent / "results" / "gate.json"


def routine_mix(n: int, seed: int = 7, *, unique: bool = False) -> list[Action]:
    """The declared routine mix: reads, listings and simple SELECTs, ids and agents bound.

    With `unique`, every path and query carries a fresh token, so no argument value repeats and
    triage's bounded memos never hit (the cold case); without it, values repeat the way a
    deployment's reads do (the same files and tables, different ids).
    """
    rng = random.Random(seed)
    dirs = ["/srv/app", "/srv/app/src", "/var/www", "/home/ops/notes", "/opt/tools", "/srv/data"]
    files = ["README.md", "config.yaml", "main.py", "handlers.py", "CHANGELOG.md", "app.log"]
    tables = ["users", "orders", "invoices", "sessions", "products", "events"]
    cols = ["id, name", "id, status, created_at", "count(*)", "id, total", "email"]
    out: list[Action] = []
    for i in range(n):
        kind = rng.random()
        token = f"{i}-" if unique else ""
        if kind < 0.35:
            tool, args = "fs.read", {"path": f"{rng.choice(dirs)}/{token}{rng.choice(files)}"}
        elif kind < 0.55:
            tool, args = "fs.list", {"path": f"{rng.choice(dirs)}/{token}"}
        elif kind < 0.65:
            tool, args = "k8s.get", {"kind": "pods", "namespace": rng.choice(["staging", "dev"])}
        elif kind < 0.72:
            tool, args = "git.status", {"repo": "acme/api"}
        else:
            table = rng.choice(tables) + (f"_{i}" if unique else "")
            sql = f"SELECT {rng.choice(cols)} FROM {table} WHERE id = {rng.randint(1, 99999)}"
            tool, args = "sql.query", {"sql": sql, "database": "staging/app"}
        out.append(Action(tool=tool, args=args, id=f"r-{i}", agent="ops-bot"))
    return out


def latencies(gate: Gate, actions: list[Action]) -> dict[str, Any]:
    check = gate.check
    for action in actions[:500]:
        check(action, agent=action.agent)
    samples: list[float] = []
    gc.disable()
    try:
        for action in actions:
            t0 = time.perf_counter_ns()
            check(action, agent=action.agent)
            samples.append((time.perf_counter_ns() - t0) / 1000)
    finally:
        gc.enable()
    samples.sort()
    return {
        "n": len(samples),
        "p50_us": round(samples[len(samples) // 2], 2),
        "p90_us": round(samples[int(len(samples) * 0.9)], 2),
        "p99_us": round(samples[int(len(samples) * 0.99)], 2),
        "mean_us": round(statistics.fmean(samples), 2),
    }


def ledger_rates(actions: list[Action], synchronous: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.db"
        gate = Gate.from_policy(ledger=SqliteLedger(path, synchronous=synchronous))  # type: ignore[arg-type]
        t0 = time.perf_counter()
        for action in actions:
            gate.check(action, agent=action.agent)
        single = len(actions) / (time.perf_counter() - t0)
        gate.close()
        # Group commit: decisions made without the ledger, recorded in batches of 100.
        plain = Gate.from_policy()
        decisions = [plain.check(a, agent=a.agent) for a in actions]
        store = SqliteLedger(Path(tmp) / "batched.db", synchronous=synchronous)  # type: ignore[arg-type]
        recorder = Recorder(store, redactor=Redactor(), policy_hash=plain.policy.hash,
                            scorer_version=plain.triage.scorer.version, thresholds={})
        t0 = time.perf_counter()
        for i in range(0, len(decisions), 100):
            recorder.record_many(decisions[i:i + 100])
        batched = len(decisions) / (time.perf_counter() - t0)
        ok = store.verify().ok
        store.close()
    return {"synchronous": synchronous, "check_with_ledger_per_s": round(single),
            "record_batched_100_per_s": round(batched), "verified": ok}


CEDAR_POLICY = """
permit(principal, action in [Action::"fs.read", Action::"fs.list", Action::"k8s.get",
                             Action::"git.status", Action::"sql.query"], resource)
when { context.stakes <= 1 };
forbid(principal, action, resource)
when { context.stakes >= 4 && principal.clearance < 3 };
forbid(principal, action == Action::"sql.query", resource)
when { context.sql like "*drop*" || context.sql like "*delete*" };
"""


def cedar_request(action: Action) -> dict[str, Any]:
    stakes = 1 if action.tool == "sql.query" else 0
    context: dict[str, Any] = {"stakes": stakes, "sql": str(action.args.get("sql", "")).lower()}
    return {"principal": f'Agent::"{action.agent}"', "action": f'Action::"{action.tool}"',
            "resource": 'Resource::"default"', "context": context}


def cedar(actions: list[Action]) -> dict[str, Any]:
    policies = cedarpy.PolicySet.from_str(CEDAR_POLICY) if hasattr(cedarpy, "PolicySet") else \
        CEDAR_POLICY
    entities_list = [{"uid": {"__entity": {"type": "Agent", "id": "ops-bot"}},
                      "attrs": {"clearance": 1}, "parents": []}]
    entities = cedarpy.Entities.from_json_str(json.dumps(entities_list))
    requests = [cedar_request(a) for a in actions]
    allowed = 0
    for request in requests[:500]:
        cedarpy.is_authorized(request, policies, entities)
    samples: list[float] = []
    for request in requests:
        t0 = time.perf_counter_ns()
        result = cedarpy.is_authorized(request, policies, entities)
        samples.append((time.perf_counter_ns() - t0) / 1000)
        allowed += result.allowed
    samples.sort()
    return {"n": len(samples), "allowed": allowed,
            "p50_us": round(samples[len(samples) // 2], 2),
            "p99_us": round(samples[int(len(samples) * 0.99)], 2),
            "note": "pre-parsed PolicySet and Entities; request dicts built outside the timer"}


def machine_reference() -> dict[str, float]:
    """How fast this machine runs plain Python: a dict lookup plus a small regex search
    (1.2 us on the reference machine), and `sum(range(1000))`."""
    import re
    import timeit

    table = {f"tool.{i}": i for i in range(100)}
    rx = re.compile(r"rm\s+-rf|drop\s+table")
    n = 200_000
    lookup = timeit.timeit(lambda: (table.get("tool.42"), rx.search("SELECT id FROM users")),
                           number=n) / n * 1e6
    loop = timeit.timeit(lambda: sum(range(1000)), number=20_000) / 20_000 * 1e6
    return {"dict_lookup_plus_regex_us": round(lookup, 3), "sum_range_1000_us": round(loop, 2)}


def main() -> None:
    mix = routine_mix(20_000)
    gate = Gate.from_policy()
    routine = latencies(gate, mix)
    cold = latencies(Gate.from_policy(), routine_mix(20_000, seed=8, unique=True))
    escalated = sum(1 for a in mix if gate.assess(a, agent=a.agent).escalate)
    demo = [la.action for la in generate_traffic(seed=1) if la.label == "routine"]
    realistic = latencies(Gate.from_policy(), demo)
    stakes_vs_cedar = cedar(mix)
    results = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "processor": platform.machine()},
        "machine_reference": machine_reference(),
        "routine_mix": {**routine, "escalated_share": escalated / len(mix),
                        "targets": {"p50_us": 20, "p99_us": 100}},
        "routine_mix_unique_values": cold,
        "demo_routine_traffic": realistic,
        "cedarpy": stakes_vs_cedar,
        "cedar_p50_over_stakes_p50": round(stakes_vs_cedar["p50_us"] / routine["p50_us"], 2),
        "ledger": [ledger_rates(mix[:10_000], "NORMAL"), ledger_rates(mix[:10_000], "FULL")],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
