"""Benchmark the learned scorer on the routine path, against the rules-only scorer.

Writes `bench/results/triage.json`. Run: `.venv/bin/python bench/bench_triage.py`.

Measured (perf_counter_ns around each call, after a warm-up, gc off; the two gates alternate
in blocks of 1,000 calls so machine noise hits both alike):
- `gate.check` without a ledger on the declared routine mix (`bench_gate.routine_mix`), with the
  rules-only scorer and with the learned scorer (the default): p50 / p99 and the added p50; and
  the same mix with values that never repeat (no memo helps: the cold case);
- the same on the demo's routine traffic (tasks and context messages: grounding runs);
- the scorers alone (`score(action, norm)`, normalization outside the timer) on the routine
  mix, on the demo traffic and on AgentDojo actions (long contexts), when its cache exists.
"""

from __future__ import annotations

import gc
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_gate import machine_reference, routine_mix

from stakes import Action, Gate
from stakes.demo import generate_traffic
from stakes.triage import LearnedScorer, RulesScorer, normalize

OUT = Path(__file__).parent / "results" / "triage.json"
BLOCK = 1000


def _summary(samples: list[float]) -> dict[str, Any]:
    samples = sorted(samples)
    return {"n": len(samples), "p50_us": round(samples[len(samples) // 2], 2),
            "p99_us": round(samples[int(len(samples) * 0.99)], 2),
            "mean_us": round(statistics.fmean(samples), 2)}


def paired_gates(actions: list[Action]) -> dict[str, Any]:
    gates = {"rules": Gate.from_policy(scorer=RulesScorer()),
             "learned": Gate.from_policy(scorer=LearnedScorer())}
    for gate in gates.values():
        for action in actions[:500]:
            gate.check(action, agent=action.agent)
    samples: dict[str, list[float]] = {name: [] for name in gates}
    gc.disable()
    try:
        for start in range(0, len(actions), BLOCK):
            block = actions[start:start + BLOCK]
            for name, gate in gates.items():
                check = gate.check
                out = samples[name]
                for action in block:
                    t0 = time.perf_counter_ns()
                    check(action, agent=action.agent)
                    out.append((time.perf_counter_ns() - t0) / 1000)
    finally:
        gc.enable()
    result = {name: _summary(s) for name, s in samples.items()}
    result["added_p50_us"] = round(result["learned"]["p50_us"] - result["rules"]["p50_us"], 2)
    result["added_p99_us"] = round(result["learned"]["p99_us"] - result["rules"]["p99_us"], 2)
    return result


def scorer_only(actions: list[Action]) -> dict[str, Any]:
    norms = [normalize(a) for a in actions]
    out: dict[str, Any] = {}
    for name, scorer in (("rules", RulesScorer()), ("learned", LearnedScorer())):
        for a, n in zip(actions[:300], norms[:300], strict=True):
            scorer.score(a, n)
        samples = []
        gc.disable()
        try:
            for a, n in zip(actions, norms, strict=True):
                t0 = time.perf_counter_ns()
                scorer.score(a, n)
                samples.append((time.perf_counter_ns() - t0) / 1000)
        finally:
            gc.enable()
        out[name] = _summary(samples)
    return out


def agentdojo_actions() -> list[Action] | None:
    try:
        from stakes.datasets._agentdojo import load_agentdojo

        return [e.action for e in load_agentdojo().examples]
    except Exception:  # no extra or no cache: skip that row
        return None


def main() -> None:
    mix = routine_mix(20_000)
    demo = [la.action for la in generate_traffic(seed=1) if la.label == "routine"]
    adojo = agentdojo_actions()
    results = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "processor": platform.machine()},
        "machine_reference": machine_reference(),
        "scorer_version": LearnedScorer().version,
        "gate_routine_mix": {**paired_gates(mix), "target_added_p50_us": 20},
        "gate_routine_mix_unique_values": paired_gates(routine_mix(20_000, seed=8, unique=True)),
        "gate_demo_routine_traffic": paired_gates(demo),
        "scorer_only": {
            "routine_mix": scorer_only(mix),
            "demo_routine_traffic": scorer_only(demo),
            "agentdojo": scorer_only(adojo) if adojo else None,
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
