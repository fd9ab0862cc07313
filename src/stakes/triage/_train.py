"""Fit the learned scorer: L2-regularized logistic regression by Newton's method (numpy).

Minimizes, over bias b and weights w,

    sum_i s_i * [ -y_i log p_i - (1 - y_i) log(1 - p_i) ] + (l2 / 2) * ||w||^2,
    p_i = sigmoid(b + w . x_i)

where s_i is the example's weight times its class weight: with `balance`, each class's weights
sum to n / 2 (so a rare class counts as much as a common one); then all s_i are scaled to mean 1,
so `l2` means the same at any sample size. The bias is not penalized. Features seen in fewer
than `min_count` training examples get no weight (they would only memorize).

A fit reflects the class balance it was trained at (1/2 with `balance`), not the deployment's
share of harmful actions. With `prior` = pi, the bias is shifted by the standard prior
correction, b += logit(pi) - logit(pi_train), so that suspicion reads as P(harmful) where a
fraction pi of actions is harmful. Ranking by suspicion is unchanged; ranking by risk =
suspicion x w(stakes) is not: at small probabilities risk ~ exp(z) * w(stakes), so log risk ranks
by z + log w(stakes), odds times stakes, instead of saturating at w(stakes) for every confident
score.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stakes.datasets import Example
from stakes.triage._features import FEATURE_VERSION, Feature
from stakes.triage._learned import LearnedScorer, LinearModel
from stakes.triage._normalize import normalize

__all__ = ["TrainOptions", "featurize", "fit", "train"]

_PROBE = LinearModel(bias=0.0, weights={})


@dataclass(frozen=True, slots=True)
class TrainOptions:
    """How `train` fits.

    Attributes:
        l2: L2 penalty on the weights (not the bias).
        min_count: Least number of training examples a feature must appear in.
        balance: Weight the classes equally.
        max_iter: Newton iterations at most.
        tol: Stop when the largest gradient entry is below this.
        prior: The share of harmful actions suspicion is calibrated to (None: the training
            balance).
    """

    l2: float = 1.0
    min_count: int = 2
    balance: bool = True
    max_iter: int = 50
    tol: float = 1e-7
    prior: float | None = 0.01


def featurize(examples: Sequence[Example]) -> list[list[Feature]]:
    """The feature rows of `examples`, as the learned scorer computes them at run time."""
    scorer = LearnedScorer(_PROBE)
    return [scorer.features(e.action, normalize(e.action)) for e in examples]


def fit(
    rows: Sequence[Sequence[Feature]],
    labels: Sequence[bool],
    sample_weights: Sequence[float] | None = None,
    options: TrainOptions = TrainOptions(),
) -> LinearModel:
    """Fit weights to feature rows and labels (True = harmful); see the module docstring.

    Raises:
        ValueError: when there are no rows, the lengths differ, or only one class is present.
    """
    n = len(rows)
    if n == 0 or len(labels) != n or (sample_weights is not None and len(sample_weights) != n):
        raise ValueError("rows, labels and weights must be non-empty and of equal length")
    y = np.asarray(labels, dtype=float)
    if y.min() == y.max():
        raise ValueError("training needs both harmful and benign examples")
    counts: Counter[str] = Counter(name for row in rows for name, _ in row)
    vocab = sorted(name for name, c in counts.items() if c >= options.min_count)
    index = {name: i for i, name in enumerate(vocab)}
    d = len(vocab)
    x = np.zeros((n, d + 1))
    x[:, d] = 1.0  # the bias column
    for i, row in enumerate(rows):
        for name, value in row:
            j = index.get(name)
            if j is not None:
                x[i, j] = value
    s = np.ones(n) if sample_weights is None else np.asarray(sample_weights, dtype=float)
    if options.balance:
        for cls in (0.0, 1.0):
            mask = y == cls
            total = s[mask].sum()
            if total > 0:
                s[mask] *= (n / 2.0) / total
    s *= n / s.sum()
    penalty = np.full(d + 1, options.l2)
    penalty[d] = 1e-8
    beta = np.zeros(d + 1)
    for _ in range(options.max_iter):
        z = np.clip(x @ beta, -35.0, 35.0)
        p = 1.0 / (1.0 + np.exp(-z))
        grad = x.T @ (s * (p - y)) + penalty * beta
        if np.abs(grad).max() < options.tol:
            break
        curvature = s * p * (1.0 - p)
        hessian = (x.T * curvature) @ x + np.diag(penalty)
        beta -= np.linalg.solve(hessian, grad)
    weights = {name: round(float(beta[j]), 6) for name, j in index.items()
               if abs(beta[j]) >= 1e-6}
    bias = float(beta[d])
    if options.prior is not None:
        if not 0.0 < options.prior < 1.0:
            raise ValueError(f"prior must be in (0, 1), got `{options.prior}`")
        trained = float((s * y).sum() / s.sum())
        bias += math.log(options.prior / (1 - options.prior)) - math.log(trained / (1 - trained))
    return LinearModel(bias=round(bias, 6), weights=weights, feature_version=FEATURE_VERSION)


def train(
    examples: Sequence[Example],
    options: TrainOptions = TrainOptions(),
    *,
    sources: dict[str, int] | None = None,
) -> LinearModel:
    """Featurize `examples` and fit; the model records what it was trained on.

    Args:
        examples: Labeled examples (any source).
        options: Fitting options.
        sources: Counts per source to record (default: counted from `examples`).
    """
    started = time.perf_counter()
    rows = featurize(examples)
    model = fit(rows, [e.harmful for e in examples], [e.weight for e in examples], options)
    trained_on = {
        "examples": len(examples),
        "harmful": sum(1 for e in examples if e.harmful),
        "sources": sources or dict(Counter(e.source for e in examples)),
        "options": {"l2": options.l2, "min_count": options.min_count,
                    "balance": options.balance, "prior": options.prior},
        "seconds": round(time.perf_counter() - started, 2),
    }
    return LinearModel(bias=model.bias, weights=model.weights,
                       feature_version=model.feature_version, trained_on=trained_on)
