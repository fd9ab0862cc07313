"""Benchmark the semantic monitor: what one action costs on the tier that runs it.

Writes `bench/results/semantic.json`. Run: `.venv/bin/python bench/bench_semantic.py`.

Measured, on CPU, with the threads the monitor uses at run time (`STAKES_SEMANTIC_THREADS`,
default: the cores minus one, at least one; the thread count is in the results):
- load: importing sentence-transformers and torch and loading MiniLM, once per process (the
  first score pays it);
- per action, nothing cached: `score_many([action])` one at a time, and `score_many` over
  batches of 64 (per action), on two sets: escalation-worthy demo traffic (short contexts)
  and AgentDojo examples (long tool outputs), with the texts embedded per action; the demo
  batches again with torch on every core;
- per action with the embedder's cache, replaying demo trajectories in order (a task and its
  earlier tool outputs are embedded once): what a deployment pays;
- the head alone: rendering texts, features and the logistic head, with embeddings served
  from a dict (no model), in microseconds;
- `await monitor.score(...)` on a cached action: the thread hop and bookkeeping.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).parent / "results" / "semantic.json"
FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "agentdojo-small.jsonl"


def summary(samples_ms: list[float]) -> dict[str, Any]:
    s = sorted(samples_ms)
    return {"n": len(s), "p50_ms": round(s[len(s) // 2], 2),
            "p90_ms": round(s[int(len(s) * 0.9)], 2), "mean_ms": round(statistics.fmean(s), 2)}


class DictEmbedder:
    """Serves precomputed vectors: isolates everything but the model."""

    def __init__(self, table: dict[str, Any]) -> None:
        self.table = table

    def embed(self, texts: Sequence[str]) -> Any:
        return np.stack([self.table[t] for t in texts])


def main() -> None:
    t0 = time.perf_counter()
    from stakes.datasets import demo_examples, read_examples
    from stakes.domain import Action, Assessment
    from stakes.triage._semantic import MiniLMEmbedder, SemanticModel, SemanticMonitor, texts_of

    head = SemanticModel.load()
    cold = MiniLMEmbedder(cache_size=0)
    started = time.perf_counter()
    cold.load()
    load_s = time.perf_counter() - started
    import torch

    threads = torch.get_num_threads()
    monitor = SemanticMonitor(head, cold)
    demo = demo_examples(150, seed=3)
    # What reaches an expensive tier: the harmful actions and the high-stakes benign ones.
    elevated = [e.action for e in demo if e.harmful or e.category == "high_stakes"][:128]
    sets: dict[str, list[Action]] = {"demo_elevated": elevated}
    if FIXTURE.is_file():
        sets["agentdojo"] = [e.action for e in read_examples(FIXTURE)][::3][:128]
    monitor.score_many(elevated[:4])  # warm-up
    per_set: dict[str, Any] = {}
    for name, actions in sets.items():
        texts = [len(texts_of(a).all()) for a in actions]
        one = []
        for action in actions[:64]:
            s = time.perf_counter()
            monitor.score_many([action])
            one.append((time.perf_counter() - s) * 1e3)
        s = time.perf_counter()
        for i in range(0, len(actions), 64):
            monitor.score_many(actions[i:i + 64])
        batched = (time.perf_counter() - s) * 1e3 / len(actions)
        per_set[name] = {
            "actions": len(actions), "texts_per_action": round(statistics.fmean(texts), 2),
            "chars_per_text": round(statistics.fmean(
                len(t) for a in actions for t in texts_of(a).all()), 1),
            "one_at_a_time_uncached": summary(one),
            "batched_64_uncached_ms_per_action": round(batched, 2),
        }
    # The same batches on every core (the monitor leaves one core to the event loop).
    cores = os.cpu_count() or 1
    all_cores: float | None = None
    if cores > threads:
        torch.set_num_threads(cores)
        s = time.perf_counter()
        for i in range(0, len(elevated), 64):
            monitor.score_many(elevated[i:i + 64])
        all_cores = round((time.perf_counter() - s) * 1e3 / len(elevated), 2)
        torch.set_num_threads(threads)
    per_set["demo_elevated"]["batched_64_uncached_all_cores_ms_per_action"] = all_cores
    # A deployment's view: trajectories replayed in order through one cached embedder.
    warm = SemanticMonitor(head, MiniLMEmbedder())
    trajectory = [e.action for e in demo][:300]
    cached = []
    for action in trajectory:
        s = time.perf_counter()
        warm.score_many([action])
        cached.append((time.perf_counter() - s) * 1e3)
    embedder = warm.embedder
    assert isinstance(embedder, MiniLMEmbedder)
    cache_stats = {"texts_embedded": embedder.embedded,
                   "texts_per_action": round(embedder.embedded / len(trajectory), 2)}
    # The head alone: vectors from a dict, so only rendering, features and the head remain.
    actions = sets["demo_elevated"]
    all_texts = sorted({t for a in actions for t in texts_of(a).all()})
    table = dict(zip(all_texts, cold.embed(all_texts), strict=True))
    bare = SemanticMonitor(head, DictEmbedder(table))
    bare.score_many(actions)
    reps = 20
    s = time.perf_counter()
    for _ in range(reps):
        for action in actions:
            bare.score_many([action])
    head_us = (time.perf_counter() - s) / (reps * len(actions)) * 1e6
    x = np.zeros((1, len(head.weights)))
    s = time.perf_counter()
    for _ in range(10_000):
        head.predict(x)
    predict_us = (time.perf_counter() - s) / 10_000 * 1e6

    async def hop() -> float:
        from stakes.control import StepContext

        ctx = StepContext(action=actions[0], assessment=Assessment(
            stakes=3, suspicion=0.5, risk=0.5, tier="elevated", escalate=True),
            agent="bench", decision_id="d", tier="elevated")
        await warm.score(actions[0], ctx)
        samples = []
        for _ in range(200):
            s = time.perf_counter()
            await warm.score(actions[0], ctx)
            samples.append((time.perf_counter() - s) * 1e3)
        return statistics.median(samples)

    warm.score_many(actions[:1])
    hop_ms = asyncio.run(hop())
    results = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "processor": platform.machine(), "cpu_count": os.cpu_count(),
                    "torch": torch.__version__, "torch_threads": threads},
        "model": {"embedder": cold.name, "head": head.version,
                  "head_trained_on": head.trained_on.get("sources")},
        "load_s": round(load_s, 2),
        "per_action": per_set,
        "demo_trajectories_cached": {**summary(cached), **cache_stats},
        "head_only_us_per_action": round(head_us, 1),
        "head_predict_only_us": round(predict_us, 2),
        "async_score_cached_p50_ms": round(hop_ms, 3),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
