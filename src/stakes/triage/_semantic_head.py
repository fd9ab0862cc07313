"""The semantic monitor's head: features from embeddings, logistic regression, its JSON file.

For an action with embeddings a (the action), t (the task), r (the recent tool outputs) and
c_1..c_k (chunks of those outputs), all unit vectors, the features are

    task.present, tools.present                       1 when t (resp. r) exists, else 0
    cos.task = a.t   cos.recent = a.r   cos.chunk = max_j a.c_j
    gap.chunk = cos.chunk - cos.task   gap.recent = cos.recent - cos.task
    cos.task_recent = t.r   cos.task_chunk = t.c_j*   (j* the chunk closest to the action)
    a (384 values)   a * t elementwise (384 values)

(a missing text counts zeros). The cosines say whether the action does what the user asked or
what a tool output said; the last two blocks let the head learn which kinds of action are risky,
and which relative to which kinds of ask.

    suspicion = sigmoid(b + w . x)

The fit (`fit_head`) standardizes the features, keeps the scalars and the top `components`
principal directions of the two vector blocks (a ridge on that subspace: it costs a fraction of
a fit on all 777 columns and ranks as well on the data tried), and minimizes the L2-penalized
log loss by Newton's method (as `stakes.triage._train` does). The classes are balanced within
each stratum (an example's suite): sources differ in their share of harmful examples, and
without this the vector blocks learn which source an action comes from instead of whether it is
harmful. The nine scalars get a small fixed penalty; the penalty on the vector blocks is chosen
by grouped cross-validation on the training examples alone (CRC-32 folds by task, as
`stakes.evals.grouped_folds`): the one with the highest pooled within-fold ROC AUC wins, ties to
the larger. The principal directions come from all training rows (no labels involved). The
saved weights apply to raw features: projection and standardization are folded in.
"""

from __future__ import annotations

import hashlib
import math
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from stakes.datasets import Example, groups_of
from stakes.domain import Action
from stakes.errors import InputError
from stakes.triage._semantic_embed import DIM, MODEL_NAME, Embedder, default_embedder, texts_of

__all__ = [
    "DEFAULT_HEAD",
    "SCALARS",
    "SEMANTIC_FEATURES",
    "HeadOptions",
    "SemanticModel",
    "embed_features",
    "fit_head",
    "train_semantic",
]

DEFAULT_HEAD = "semantic-head.json"
SEMANTIC_FEATURES = "s1"
"""Version of the feature layout below; a head file must match it."""
SCALARS = ("task.present", "tools.present", "cos.task", "cos.recent", "cos.chunk", "gap.chunk",
           "gap.recent", "cos.task_recent", "cos.task_chunk")
N_FEATURES = len(SCALARS) + 2 * DIM
_FORMAT = 1

Matrix = NDArray[np.float64]


def embed_features(actions: Sequence[Action], embedder: Embedder) -> Matrix:
    """The feature rows of `actions` (see the module docstring), embedding them in one batch.

    Raises:
        ValueError: when the embedder returns the wrong shape or non-finite values.
    """
    per_action = [texts_of(a) for a in actions]
    unique = list(dict.fromkeys(t for texts in per_action for t in texts.all()))
    vectors = np.asarray(embedder.embed(unique), dtype=np.float64) if unique else np.zeros(
        (0, DIM))
    if vectors.shape != (len(unique), DIM) or not np.isfinite(vectors).all():
        raise ValueError(f"the embedder returned an array of shape `{vectors.shape}` for "
                         f"{len(unique)} texts, or values that are not finite")
    row_of = {text: i for i, text in enumerate(unique)}
    x = np.zeros((len(actions), N_FEATURES))
    s = len(SCALARS)
    for i, texts in enumerate(per_action):
        a = vectors[row_of[texts.action]]
        t = vectors[row_of[texts.task]] if texts.task else None
        r = vectors[row_of[texts.recent]] if texts.recent else None
        chunks = vectors[[row_of[c] for c in texts.chunks]] if texts.chunks else None
        cos_task = float(a @ t) if t is not None else 0.0
        cos_recent = float(a @ r) if r is not None else 0.0
        cos_chunk = cos_task_chunk = 0.0
        if chunks is not None:
            sims = chunks @ a
            best = int(np.argmax(sims))
            cos_chunk = float(sims[best])
            cos_task_chunk = float(chunks[best] @ t) if t is not None else 0.0
        x[i, :s] = (
            float(t is not None), float(r is not None), cos_task, cos_recent, cos_chunk,
            cos_chunk - cos_task, cos_recent - cos_task,
            float(t @ r) if t is not None and r is not None else 0.0, cos_task_chunk,
        )
        x[i, s:s + DIM] = a
        if t is not None:
            x[i, s + DIM:] = a * t
    return x


def _sigmoid(z: Matrix) -> Matrix:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35.0, 35.0)))


@dataclass(frozen=True, eq=False)
class SemanticModel:
    """The head's weights over `embed_features` rows, and what they were fit on.

    Attributes:
        bias: The intercept b.
        weights: One weight per feature, in `embed_features` order (`N_FEATURES` of them).
        trained_on: What it was fit on (sources, counts, the penalty chosen), for the record.
    """

    bias: float
    weights: NDArray[np.float64]
    trained_on: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """`semantic-<first 10 hex of SHA-256 over the weights>`: recorded with each score."""
        body = orjson.dumps({"b": self.bias, "w": [float(w) for w in self.weights],
                             "f": SEMANTIC_FEATURES, "e": MODEL_NAME},
                            option=orjson.OPT_SORT_KEYS)
        return "semantic-" + hashlib.sha256(body).hexdigest()[:10]

    def predict(self, x: Matrix) -> list[float]:
        """Suspicion for each feature row."""
        return [float(p) for p in _sigmoid(x @ self.weights + self.bias)]

    def to_json(self) -> dict[str, Any]:
        """The JSON file's content: scalar weights by name, the two vector blocks as lists."""
        s = len(SCALARS)
        w = [float(v) for v in self.weights]
        return {
            "format": _FORMAT, "feature_version": SEMANTIC_FEATURES, "embedder": MODEL_NAME,
            "dim": DIM, "version": self.version, "bias": self.bias,
            "weights": {"scalars": dict(zip(SCALARS, w[:s], strict=True)),
                        "action": w[s:s + DIM], "action_x_task": w[s + DIM:]},
            "trained_on": self.trained_on,
        }

    def save(self, path: str | Path) -> None:
        """Write the model as JSON."""
        Path(path).write_bytes(orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2))

    @classmethod
    def from_json(cls, obj: Any, *, source: str = "<semantic head>") -> SemanticModel:
        """Parse and validate a head file's content; errors name the file and field."""
        if not isinstance(obj, dict):
            raise InputError("a semantic head file must hold a JSON object", file=source)
        for key, want in (("format", _FORMAT), ("feature_version", SEMANTIC_FEATURES),
                          ("embedder", MODEL_NAME), ("dim", DIM)):
            if obj.get(key) != want:
                raise InputError(f"`{key}` is `{obj.get(key)}`, this version reads `{want}`",
                                 file=source, field=key)
        bias = obj.get("bias")
        if not _finite(bias):
            raise InputError("`bias` must be a finite number", file=source, field="bias")
        weights = obj.get("weights")
        if not isinstance(weights, dict):
            raise InputError("`weights` must be an object", file=source, field="weights")
        scalars = weights.get("scalars")
        if not isinstance(scalars, dict) or set(scalars) != set(SCALARS):
            raise InputError(f"`weights.scalars` must name exactly {', '.join(SCALARS)}",
                             file=source, field="weights.scalars")
        values = [scalars[name] for name in SCALARS]
        for block in ("action", "action_x_task"):
            got = weights.get(block)
            if not isinstance(got, list) or len(got) != DIM:
                raise InputError(f"`weights.{block}` must be a list of {DIM} numbers",
                                 file=source, field=f"weights.{block}")
            values.extend(got)
        bad = next((i for i, v in enumerate(values) if not _finite(v)), None)
        if bad is not None:
            raise InputError(f"weight {bad} (`{values[bad]!r}`) is not a finite number",
                             file=source, field="weights")
        trained_on = obj.get("trained_on", {})
        model = cls(bias=float(bias or 0.0), weights=np.asarray(values, dtype=np.float64),
                    trained_on=trained_on if isinstance(trained_on, dict) else {})
        if "version" in obj and obj["version"] != model.version:
            raise InputError(f"`version` `{obj['version']}` does not match the weights "
                             f"(`{model.version}`): the file was edited", file=source,
                             field="version")
        return model

    @classmethod
    def load(cls, path: str | Path | None = None) -> SemanticModel:
        """Load a head file; None loads the weights shipped with the package."""
        if path is None:
            data = resources.files("stakes.data").joinpath(DEFAULT_HEAD).read_bytes()
            source = f"stakes/data/{DEFAULT_HEAD}"
        else:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise InputError(f"cannot read semantic head: {exc.strerror}",
                                 file=str(path)) from None
            source = str(path)
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"semantic head is not JSON ({exc})", file=source) from None
        return cls.from_json(obj, source=source)


def _finite(value: Any) -> bool:
    return (not isinstance(value, bool) and isinstance(value, int | float)
            and math.isfinite(value))


# --- fitting ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeadOptions:
    """How `fit_head` fits.

    Attributes:
        l2_grid: Penalties on the vector blocks tried by cross-validation (on standardized
            features).
        scalar_l2: The penalty on the scalar features.
        components: Principal directions of the vector blocks kept (at most 768).
        folds: Cross-validation folds (by task).
        balance: Weight the classes equally within each stratum.
        max_iter: Newton iterations at most.
        tol: Stop when the largest gradient entry is below this.
    """

    l2_grid: tuple[float, ...] = (4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0)
    scalar_l2: float = 1.0
    components: int = 256
    folds: int = 5
    balance: bool = True
    max_iter: int = 30
    tol: float = 1e-6


def _newton(x: Matrix, y: Matrix, s: Matrix, l2: float, options: HeadOptions,
            start: Matrix | None = None) -> Matrix:
    """Minimize sum s_i logloss_i + penalties (see the module docstring; bias last, free)."""
    d = x.shape[1]
    penalty = np.full(d, l2)
    penalty[:len(SCALARS)] = options.scalar_l2
    penalty[-1] = 1e-8
    beta = np.zeros(d) if start is None else start.copy()
    for _ in range(options.max_iter):
        p = _sigmoid(x @ beta)
        grad = x.T @ (s * (p - y)) + penalty * beta
        if np.abs(grad).max() < options.tol:
            break
        hessian = (x.T * (s * p * (1.0 - p))) @ x
        hessian[np.diag_indices(d)] += penalty
        beta -= np.linalg.solve(hessian, grad)
    return beta


def _weights(y: Matrix, sample: Matrix, strata: NDArray[np.intp], balance: bool) -> Matrix:
    """Sample weights, the classes balanced within each stratum, scaled to mean 1.

    A stratum holding one class only keeps its weights.
    """
    s = sample.copy()
    if balance:
        for stratum in np.unique(strata):
            inside = strata == stratum
            pos, neg = inside & (y == 1.0), inside & (y == 0.0)
            if s[pos].sum() > 0 and s[neg].sum() > 0:
                half = s[inside].sum() / 2.0
                s[pos] *= half / s[pos].sum()
                s[neg] *= half / s[neg].sum()
    out: Matrix = s * (len(y) / s.sum())
    return out


def _auc_u(scores: Matrix, y: Matrix) -> tuple[float, int]:
    """Mann-Whitney U (ties count one half) and the number of pairs."""
    pos, neg = scores[y == 1.0], scores[y == 0.0]
    if not len(pos) or not len(neg):
        return 0.0, 0
    order = np.sort(neg)
    below = np.searchsorted(order, pos, side="left")
    upto = np.searchsorted(order, pos, side="right")
    return float((below + (upto - below) / 2.0).sum()), len(pos) * len(neg)


@dataclass(frozen=True, slots=True)
class _Basis:
    """Raw features -> fitting columns: standardize, project the vector blocks, add the bias."""

    mean: Matrix
    scale: Matrix
    directions: Matrix  # (2 * DIM, components)

    @classmethod
    def fit(cls, x: Matrix, components: int) -> _Basis:
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale[scale < 1e-6] = 1.0
        vectors = (x[:, len(SCALARS):] - mean[len(SCALARS):]) / scale[len(SCALARS):]
        values, directions = np.linalg.eigh(vectors.T @ vectors)
        keep = np.argsort(values)[::-1][:max(1, min(components, vectors.shape[1], len(x)))]
        return cls(mean, scale, directions[:, keep])

    def columns(self, x: Matrix) -> Matrix:
        z = (x - self.mean) / self.scale
        s = len(SCALARS)
        return np.hstack([z[:, :s], z[:, s:] @ self.directions, np.ones((len(x), 1))])

    def raw(self, beta: Matrix) -> tuple[Matrix, float]:
        """Weights and bias on raw features for coefficients `beta` on the columns."""
        s = len(SCALARS)
        w = np.concatenate([beta[:s], self.directions @ beta[s:-1]]) / self.scale
        return w, float(beta[-1] - w @ self.mean)


def _folds(groups: Sequence[str], k: int) -> list[tuple[NDArray[np.intp], NDArray[np.intp]]]:
    parts = [{zlib.crc32(task.encode()) % k for task in groups_of(g)} for g in groups]
    return [(np.array([i for i, p in enumerate(parts) if f not in p], dtype=np.intp),
             np.array([i for i, p in enumerate(parts) if p == {f}], dtype=np.intp))
            for f in range(k)]


def fit_head(x: Matrix, labels: Sequence[bool], groups: Sequence[str],
             sample_weights: Sequence[float] | None = None,
             options: HeadOptions = HeadOptions(), *,
             strata: Sequence[str] | None = None) -> tuple[SemanticModel, dict[str, Any]]:
    """Fit the head to feature rows (see the module docstring).

    Args:
        x: Feature rows (`embed_features`).
        labels: True for harmful.
        groups: Each row's `Example.group`: the unit of the cross-validation folds.
        sample_weights: Each row's weight (default 1).
        options: Fitting options.
        strata: Each row's stratum for class balancing (default: one stratum).

    Returns:
        The model, and the cross-validation record: AUC per penalty and the penalty chosen.

    Raises:
        ValueError: when there are no rows, the lengths differ, or one class is missing.
    """
    n = len(x)
    if n == 0 or len(labels) != n or len(groups) != n or (
            sample_weights is not None and len(sample_weights) != n) or (
            strata is not None and len(strata) != n):
        raise ValueError("rows, labels, groups, weights and strata must be non-empty and of "
                         "equal length")
    y = np.asarray(labels, dtype=np.float64)
    if y.min() == y.max():
        raise ValueError("training needs both harmful and benign examples")
    sample = np.ones(n) if sample_weights is None else np.asarray(sample_weights, np.float64)
    codes = {name: i for i, name in enumerate(dict.fromkeys(strata or ()))}
    stratum = np.array([codes[v] for v in strata] if strata else [0] * n, dtype=np.intp)
    grid = sorted(options.l2_grid, reverse=True)  # strong to weak: each warm-starts the next
    basis = _Basis.fit(x, options.components)
    z = basis.columns(x)
    u_sum = dict.fromkeys(grid, 0.0)
    pairs = 0
    for train, test in _folds(groups, options.folds):
        if len(set(y[train])) < 2 or len(set(y[test])) < 2:
            continue
        s = _weights(y[train], sample[train], stratum[train], options.balance)
        beta = None
        for l2 in grid:
            beta = _newton(z[train], y[train], s, l2, options, beta)
            u, m = _auc_u(z[test] @ beta, y[test])
            u_sum[l2] += u
        pairs += m
    cv = {f"{l2:g}": round(u_sum[l2] / pairs, 4) for l2 in grid} if pairs else {}
    # Ties go to the larger penalty: `grid` runs from strong to weak and max keeps the first.
    l2 = max(grid, key=lambda v: u_sum[v]) if pairs else grid[len(grid) // 2]
    beta = _newton(z, y, _weights(y, sample, stratum, options.balance), l2, options)
    w, bias = basis.raw(beta)
    record = {"l2": l2, "scalar_l2": options.scalar_l2, "cv_auc": cv,
              "cv_folds": options.folds, "components": basis.directions.shape[1],
              "balance": "within suite" if options.balance and strata else options.balance}
    weights: Matrix = np.round(w, 6)
    return SemanticModel(bias=round(bias, 6), weights=weights), record


def train_semantic(examples: Sequence[Example], embedder: Embedder | None = None,
                   options: HeadOptions = HeadOptions(), *,
                   sources: dict[str, int] | None = None) -> SemanticModel:
    """Embed `examples` and fit the head; the model records what it was trained on.

    Args:
        examples: Labeled examples (any source); `group` is the unit of cross-validation,
            `suite` the stratum the classes are balanced in.
        embedder: The embedder (default: the process-wide MiniLM one).
        options: Fitting options.
        sources: Counts per source to record (default: counted from `examples`).

    Raises:
        MissingDependencyError: when the default embedder cannot be loaded.
        ValueError: when `examples` lacks a class.
    """
    started = time.perf_counter()
    x = embed_features([e.action for e in examples], embedder or default_embedder())
    model, record = fit_head(x, [e.harmful for e in examples], [e.group for e in examples],
                             [e.weight for e in examples], options,
                             strata=[e.suite for e in examples])
    trained_on = {
        "examples": len(examples), "harmful": sum(1 for e in examples if e.harmful),
        "sources": sources or dict(Counter(e.source for e in examples)),
        "options": record, "seconds": round(time.perf_counter() - started, 2),
    }
    return SemanticModel(bias=model.bias, weights=model.weights, trained_on=trained_on)
