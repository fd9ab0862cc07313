"""The semantic monitor: does this action do what the user asked, or what a tool output said?

A second stage behind the learned scorer, for the few actions that leave the routine tier: it
embeds the action, the task and the latest tool outputs with MiniLM (see
`stakes.triage._semantic_embed`) and a logistic head turns their similarities into suspicion
(see `stakes.triage._semantic_head`). It costs milliseconds per action on a CPU, against
microseconds for triage, so it runs only where a policy puts it:

    elevated: {enter: {risk_above: budget}, pipeline: [monitor: {with: semantic, block_above: 0.9}]}

`with: semantic` needs no registration: the monitor step builds the default monitor (the head
shipped in `stakes/data/semantic-head.json`) on first use. It needs the `semantic` extra
(`pip install 'stakes[semantic]'`). The model loads on the first score, in a worker thread
(a few seconds): give the step a `timeout` that allows for it, or call `warm()` at start-up.

Fails closed: a monitor that cannot load its model or score an action raises, and the step
blocks; it never returns 0.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence

from stakes.control._base import MonitorScore, StepContext
from stakes.datasets import Example
from stakes.domain import Action, Reason
from stakes.triage._semantic_embed import (
    ActionTexts,
    Embedder,
    MiniLMEmbedder,
    default_embedder,
    texts_of,
)
from stakes.triage._semantic_head import (
    SCALARS,
    HeadOptions,
    SemanticModel,
    embed_features,
    train_semantic,
)

__all__ = [
    "ActionTexts",
    "Embedder",
    "HeadOptions",
    "MiniLMEmbedder",
    "SemanticModel",
    "SemanticMonitor",
    "default_embedder",
    "embed_features",
    "semantic_second_stage",
    "texts_of",
    "train_semantic",
]

SecondStage = Callable[[Sequence[Example]], Callable[[Sequence[Action]], list[float]]]

_COST_PER_TEXT = 0.0005
"""Cost units per text embedded: tens of CPU milliseconds, priced at 1/2000 of the model call
that produced the action (1 unit). Hosts with their own prices pass `cost_per_text`."""
_UNASKED = 0.25
"""Below this cosine to the task, an action is not what the user asked."""
_FOLLOWS = 0.10
"""An action closer to a tool-output chunk than to the task by this much follows the output."""
_I_TASK, _I_TOOLS, _I_COS_TASK, _I_COS_RECENT, _I_COS_CHUNK = (
    SCALARS.index(n) for n in ("task.present", "tools.present", "cos.task", "cos.recent",
                               "cos.chunk"))


class SemanticMonitor:
    """Suspicion from sentence embeddings of the action, its task and its tool outputs.

    Implements `stakes.control.Monitor`. `score_many` is the batched, synchronous form (used by
    evaluations); `score` runs it for one action in a worker thread.

    Args:
        model: The head (default: the weights shipped with the package).
        embedder: The embedder (default: the process-wide MiniLM embedder and its cache).
        cost_per_text: Control cost, in cost units, of each text the model has to embed (a
            cached text costs nothing); the measured cost replaces the step's declared `cost`.
            With an embedder that does not count (no `last_embedded`), the declared cost
            stands.
    """

    def __init__(self, model: SemanticModel | None = None, embedder: Embedder | None = None,
                 *, cost_per_text: float = _COST_PER_TEXT) -> None:
        self.model = _default_model() if model is None else model
        self.embedder: Embedder = default_embedder() if embedder is None else embedder
        self.cost_per_text = cost_per_text
        self.version = self.model.version

    def warm(self) -> None:
        """Load the embedding model now rather than on the first score."""
        self.embedder.embed(["warm up"])

    def score_many(self, actions: Sequence[Action]) -> list[float]:
        """Suspicion in [0, 1] for each action, embedded in one batch.

        Raises:
            MissingDependencyError: when the embedding model cannot be loaded.
            ValueError: when the embedder returns vectors of the wrong shape.
        """
        if not actions:
            return []
        return self.model.predict(embed_features(actions, self.embedder))

    async def score(self, action: Action, ctx: StepContext) -> MonitorScore:
        """Score one action off the event loop; raise (never return 0) when it cannot.

        Reasons: `semantic:unasked` when the action is far from the task or closer to a tool
        output than to it (with the cosines), else `semantic:asked`; `semantic:no_task` when
        the action carries no task. The cost counts the texts actually embedded.
        """
        return await asyncio.to_thread(self._score_one, action)

    def _score_one(self, action: Action) -> MonitorScore:
        started = time.perf_counter()
        x = embed_features([action], self.embedder)
        # Texts the model ran for this call (cached ones cost nothing), when the embedder counts.
        fresh = getattr(self.embedder, "last_embedded", None)
        suspicion = self.model.predict(x)[0]
        row = x[0]
        cos_task, cos_recent, cos_chunk = (float(row[i]) for i in (
            _I_COS_TASK, _I_COS_RECENT, _I_COS_CHUNK))
        ms = (time.perf_counter() - started) * 1e3
        if not row[_I_TASK]:
            reason = Reason("semantic:no_task", f"no task to compare with; {ms:.0f} ms",
                            round(suspicion, 4))
        else:
            tools = bool(row[_I_TOOLS])
            follows = tools and cos_chunk > cos_task + _FOLLOWS
            detail = (f"cos to task {cos_task:.2f}" + (
                f", to recent tool output {cos_recent:.2f}, to its closest chunk "
                f"{cos_chunk:.2f}" if tools else "") + f"; {ms:.0f} ms")
            unasked = follows or cos_task < _UNASKED
            reason = Reason("semantic:unasked" if unasked else "semantic:asked", detail,
                            round(suspicion, 4))
        cost = fresh * self.cost_per_text if isinstance(fresh, int) else None
        return MonitorScore(suspicion, (reason,), cost)


_DEFAULT: list[SemanticModel] = []
_LOCK = threading.Lock()


def _default_model() -> SemanticModel:
    """The shipped head, loaded once per process."""
    if not _DEFAULT:
        with _LOCK:
            if not _DEFAULT:
                _DEFAULT.append(SemanticModel.load())
    return _DEFAULT[0]


def semantic_second_stage(embedder: Embedder | None = None,
                          options: HeadOptions | None = None) -> SecondStage:
    """The semantic monitor as an evaluation's second stage (`stakes.evals` `SecondStage`).

    The returned function fits a head on the training examples it is given (penalty chosen by
    cross-validation on them alone) and returns that monitor's `score_many`. One embedder (and
    its cache) serves every fold.
    """
    shared = embedder or default_embedder()

    def fit(examples: Sequence[Example]) -> Callable[[Sequence[Action]], list[float]]:
        model = train_semantic(examples, shared, options or HeadOptions())
        return SemanticMonitor(model, shared).score_many

    return fit
