"""The learned suspicion scorer: logistic regression over named features, pure Python.

    suspicion = sigmoid(b + sum_i w_i * x_i)        over the features x of `features(...)`

Features the model has no weight for count zero, so a model keeps working on tools and argument
shapes it never saw. Inference is a few dict lookups per feature; no dependency. The reasons of a
score are the fired rules and the (at most three) features that pushed the score up the most.

Weights are a JSON file (`LinearModel.load` / `save`); the package ships default weights, fit
by `stakes triage train` on the bundled corpus and AgentDojo (`data/triage-model.json`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from stakes.domain import Action, Reason
from stakes.errors import InputError
from stakes.triage._engine import ScoreResult
from stakes.triage._features import FEATURE_VERSION, Feature, features
from stakes.triage._normalize import Normalized
from stakes.triage._rules import RuleMonitor

__all__ = ["DEFAULT_MODEL", "LearnedScorer", "LinearModel"]

DEFAULT_MODEL = "triage-model.json"
_FORMAT = 1
_REASONS = 3
_REASON_MIN = 0.25
_MEMO_SIZE = 4096  # a feature's contribution to the logit below this is not a reason


@dataclass(frozen=True, slots=True)
class LinearModel:
    """Logistic-regression weights over named features.

    Attributes:
        bias: The intercept b.
        weights: Feature name -> weight.
        feature_version: The feature set the weights were fit on (must match).
        trained_on: What it was fit on (sources, counts, options), for the record.
    """

    bias: float
    weights: dict[str, float]
    feature_version: str = FEATURE_VERSION
    trained_on: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """`learned-<first 10 hex of SHA-256 over the weights>`: recorded with each decision."""
        body = orjson.dumps({"b": self.bias, "w": self.weights, "f": self.feature_version},
                            option=orjson.OPT_SORT_KEYS)
        return "learned-" + hashlib.sha256(body).hexdigest()[:10]

    def logit(self, feats: list[Feature]) -> float:
        """The logit: bias + sum of weight * value over the features."""
        weights = self.weights
        z = self.bias
        for name, value in feats:
            w = weights.get(name)
            if w is not None:
                z += w * value
        return z

    def to_json(self) -> dict[str, Any]:
        """The JSON file's content."""
        return {"format": _FORMAT, "feature_version": self.feature_version,
                "version": self.version, "bias": self.bias,
                "weights": dict(sorted(self.weights.items())), "trained_on": self.trained_on}

    def save(self, path: str | Path) -> None:
        """Write the model as JSON."""
        Path(path).write_bytes(orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2))

    @classmethod
    def from_json(cls, obj: Any, *, source: str = "<model>") -> LinearModel:
        """Parse and validate a model file's content; errors name the file and field."""
        if not isinstance(obj, dict):
            raise InputError("a model file must hold a JSON object", file=source)
        if obj.get("format") != _FORMAT:
            raise InputError(f"unsupported model `format` `{obj.get('format')}`", file=source,
                             field="format")
        if obj.get("feature_version") != FEATURE_VERSION:
            raise InputError(
                f"model features `{obj.get('feature_version')}` do not match this version's "
                f"`{FEATURE_VERSION}`: retrain with `stakes triage train`", file=source,
                field="feature_version")
        bias = obj.get("bias")
        weights = obj.get("weights")
        if isinstance(bias, bool) or not isinstance(bias, int | float) or not math.isfinite(bias):
            raise InputError("`bias` must be a finite number", file=source, field="bias")
        if not isinstance(weights, dict):
            raise InputError("`weights` must be an object", file=source, field="weights")
        for name, w in weights.items():
            if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w):
                raise InputError(f"weight of `{name}` must be a finite number", file=source,
                                 field=f"weights.{name}")
        trained_on = obj.get("trained_on", {})
        return cls(bias=float(bias), weights={str(k): float(v) for k, v in weights.items()},
                   trained_on=trained_on if isinstance(trained_on, dict) else {})

    @classmethod
    def load(cls, path: str | Path | None = None) -> LinearModel:
        """Load a model file; None loads the weights shipped with the package."""
        if path is None:
            text = resources.files("stakes.data").joinpath(DEFAULT_MODEL).read_bytes()
            source = f"stakes/data/{DEFAULT_MODEL}"
        else:
            try:
                text = Path(path).read_bytes()
            except OSError as exc:
                raise InputError(f"cannot read model: {exc.strerror}", file=str(path)) from None
            source = str(path)
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"model is not JSON ({exc})", file=source) from None
        return cls.from_json(obj, source=source)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class LearnedScorer:
    """The learned triage scorer (the default): rules + tool-name semantics + grounding.

    Args:
        model: The weights (default: the ones shipped with the package).
        monitor: The rule monitor whose output is one group of features.
    """

    __slots__ = ("_memo", "_monitor", "model", "version")

    def __init__(self, model: LinearModel | None = None, monitor: RuleMonitor | None = None):
        self.model = model or _default_model()
        self._monitor = monitor or RuleMonitor()
        self.version = self.model.version
        self._memo: dict[tuple[Any, ...], ScoreResult] = {}

    def features(self, action: Action, norm: Normalized) -> list[Feature]:
        """The features this scorer reads for `action`."""
        return features(action, norm, self._monitor.score(action, norm))

    def score(self, action: Action, norm: Normalized) -> ScoreResult:
        """Suspicion = sigmoid(logit); reasons = fired rules + the top positive contributions.

        An action with no task and no context is a pure function of its tool and flat
        arguments, so its result is memoized on them (bounded; dropping entries is safe).
        """
        if action.task or action.context:
            return self._score(action, norm)
        try:
            key = (action.tool, *action.args.items())
            memo = self._memo
            hit = memo.get(key)
        except TypeError:  # a nested (unhashable) argument value: no memo
            return self._score(action, norm)
        if hit is None:
            hit = self._score(action, norm)
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[key] = hit
        return hit

    def _score(self, action: Action, norm: Normalized) -> ScoreResult:
        rules = self._monitor.score(action, norm)
        model = self.model
        weights = model.weights
        z = model.bias
        pushed: list[tuple[float, str]] = []
        for name, value in features(action, norm, rules):
            w = weights.get(name)
            if w is not None:
                contribution = w * value
                z += contribution
                if contribution >= _REASON_MIN and name[:5] != "rule=":
                    pushed.append((contribution, name))
        if not pushed:
            return ScoreResult(_sigmoid(z), rules.reasons)
        if len(pushed) > _REASONS:
            pushed.sort(reverse=True)
            del pushed[_REASONS:]
        return ScoreResult(_sigmoid(z), (*rules.reasons, *(
            Reason(f"learned:{name}", f"+{contribution:.2f} to the logit", round(contribution, 4))
            for contribution, name in pushed)))


_DEFAULT: list[LinearModel] = []


def _default_model() -> LinearModel:
    """The shipped weights, loaded once per process."""
    if not _DEFAULT:
        _DEFAULT.append(LinearModel.load())
    return _DEFAULT[0]
