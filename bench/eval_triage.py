"""The full triage evaluation: every scorer held out on AgentDojo and on the bundled corpus.

Writes `bench/results/triage-eval.json`. Run: `.venv/bin/python bench/eval_triage.py`
(`--no-semantic` skips the cascade; `--resamples N` sets the bootstrap size).

Runs (each a `stakes triage eval` with the same options as the CLI):
- AgentDojo v1.2.2, leave-one-suite-out: rules, learned, learned + semantic (the headline; the
  held-out suite's tools are never seen in training);
- AgentDojo, leave-one-suite-out with the bundled corpus added to every fold's training side;
- AgentDojo, 5 folds grouped by task (user and injection tasks; attacks whose two tasks fall
  in different folds are left out);
- the corpus, leave-one-domain-out, with the held-out evasive-vs-plain risk ratio.
Nothing is tuned on these splits: the learned scorer's options are the defaults.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from stakes.datasets import load_dataset
from stakes.evals._triage_eval import TriageEval, TriageEvalOptions, evaluate_triage

OUT = Path(__file__).parent / "results" / "triage-eval.json"


def summary(result: TriageEval) -> dict[str, Any]:
    out = result.to_json()
    out.pop("scores")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-semantic", action="store_true")
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    second = None
    if not args.no_semantic:
        from stakes.triage._semantic import semantic_second_stage

        second = semantic_second_stage()
    agentdojo = load_dataset("agentdojo")
    corpus = load_dataset("corpus")
    runs: dict[str, Any] = {}
    started = time.perf_counter()

    def run(name: str, examples: list[Any], options: TriageEvalOptions, **kw: Any) -> TriageEval:
        t0 = time.perf_counter()
        result = evaluate_triage(examples, options, **kw,
                                 progress=lambda m: print(f"  {name}: {m}", file=sys.stderr))
        runs[name] = summary(result)
        print(f"{name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        return result

    r = args.resamples
    run("agentdojo_loso", agentdojo, TriageEvalOptions(split="suite", resamples=r),
        second_stage=second)
    run("agentdojo_loso_plus_corpus", agentdojo,
        TriageEvalOptions(split="suite", resamples=r, train_extra=tuple(corpus)))
    run("agentdojo_by_task", agentdojo, TriageEvalOptions(split="task", folds=5, resamples=r),
        second_stage=second)
    corpus_result = run("corpus_lodo", corpus, TriageEvalOptions(split="suite", resamples=r))
    results = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "seconds": round(time.perf_counter() - started, 1),
        "evasive_vs_plain_risk_corpus_held_out": {
            s: corpus_result.evasive_ratio(s) for s in ("rules", "learned")},
        "runs": runs,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    for name, res in runs.items():
        for scorer, metrics in res["metrics"].items():
            line = {k: metrics[k]["estimate"] for k in (
                "auc|side_effect", "tpr@0.01|side_effect", "tpr@0.05|side_effect",
                "tpr@0.1|side_effect", "tpr@0.05|all") if k in metrics}
            print(name, scorer, json.dumps(line))


if __name__ == "__main__":
    main()
