"""Compile a validated policy into the fast structures triage evaluates (pure, built once)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from stakes.domain import Action, canonical_json
from stakes.policy._limits import CompiledLimit
from stakes.policy._load import load_policy, load_policy_text
from stakes.policy._match import CompiledCapability
from stakes.policy._schema import AgentSpec, EnterSpec, PolicySpec, StepSpec

__all__ = ["CompiledPolicy", "CompiledTier", "compile_policy"]

_TOOL_CACHE_MAX = 65_536


@dataclass(frozen=True, slots=True)
class CompiledTier:
    """A tier: its rank (0 = routine), how it is entered, and its pipeline spec."""

    name: str
    rank: int
    enter: EnterSpec | None
    pipeline: tuple[StepSpec, ...]


class CompiledPolicy:
    """A policy compiled for evaluation: lookups are dict hits and precompiled regexes.

    Attributes:
        spec: The validated policy spec.
        source: Where it was loaded from.
        hash: SHA-256 of the canonical JSON of the validated spec (formatting-independent).
        clearance_rank: Clearance name -> rank, lowest first.
        weights: w(stakes) for levels 0..4.
        tiers: The tiers in order of severity; `tiers[0]` is routine.
        limits: Compiled stateful limits.
    """

    __slots__ = (
        "_candidates",
        "_infer_clearance",
        "_limits_for",
        "agents",
        "capabilities",
        "clearance_rank",
        "hash",
        "limits",
        "source",
        "spec",
        "text",
        "tier_by_name",
        "tiers",
        "weights",
    )

    def __init__(self, spec: PolicySpec, source: str, text: str = "") -> None:
        self.spec = spec
        self.source = source
        self.text = text
        self.hash = hashlib.sha256(
            canonical_json(spec.model_dump(mode="json", by_alias=True)).encode()
        ).hexdigest()
        self.clearance_rank: Mapping[str, int] = MappingProxyType(
            {name: i for i, name in enumerate(spec.clearances)}
        )
        self.weights = tuple(spec.stakes_weights)
        self.capabilities = tuple(
            CompiledCapability.build(c, i, self.clearance_rank)
            for i, c in enumerate(spec.capabilities)
        )
        self.agents: Mapping[str, AgentSpec] = MappingProxyType(dict(spec.agents))
        self.tiers = tuple(
            CompiledTier(name=name, rank=i, enter=tier.enter, pipeline=tuple(tier.pipeline))
            for i, (name, tier) in enumerate(spec.tiers.items())
        )
        self.tier_by_name = MappingProxyType({t.name: t for t in self.tiers})
        self.limits = tuple(CompiledLimit.build(s, i) for i, s in enumerate(spec.limits))
        self._candidates: dict[str, tuple[CompiledCapability, ...]] = {}
        self._limits_for: dict[str, tuple[CompiledLimit, ...]] = {}
        levels: list[tuple[str | None, int | None]] = []
        current: tuple[str | None, int | None] = (None, None)
        for level in range(5):
            name = spec.infer_clearance.get(level)
            if name is not None:
                current = (name, self.clearance_rank[name])
            levels.append(current)
        self._infer_clearance = tuple(levels)

    def candidates(self, tool: str) -> tuple[CompiledCapability, ...]:
        """Capabilities whose tool globs match `tool`, most severe first (cached per name)."""
        found = self._candidates.get(tool)
        if found is None:
            found = tuple(
                sorted(
                    (c for c in self.capabilities if c.tool_rx.match(tool)),
                    key=lambda c: (-c.stakes, c.order),
                )
            )
            if len(self._candidates) >= _TOOL_CACHE_MAX:
                self._candidates.clear()  # bounded: a flood of invented tool names cannot grow it
            self._candidates[tool] = found
        return found

    def limits_for(self, tool: str) -> tuple[CompiledLimit, ...]:
        """Limits an action of `tool` may count against (cached per tool name)."""
        found = self._limits_for.get(tool)
        if found is None:
            names = {c.name for c in self.candidates(tool)}
            found = tuple(limit for limit in self.limits if limit.may_apply(tool, names))
            if len(self._limits_for) >= _TOOL_CACHE_MAX:
                self._limits_for.clear()
            self._limits_for[tool] = found
        return found

    def capability_for(self, action: Action) -> CompiledCapability | None:
        """The most severe capability the action matches (ties: first declared), or None."""
        for cap in self.candidates(action.tool):
            if cap.matches_rest(action):
                return cap
        return None

    def infer_clearance(self, stakes: int) -> tuple[str | None, int | None]:
        """(clearance, rank) an unregistered action of inferred `stakes` needs, or (None, None)."""
        return self._infer_clearance[stakes]

    def agent_clearance(self, agent: str) -> int:
        """The clearance rank of a bound agent; an unknown agent has the lowest rank."""
        spec = self.agents.get(agent)
        return 0 if spec is None else self.clearance_rank[spec.clearance]


def compile_policy(
    path: str | Path | None = None, *, text: str | None = None
) -> CompiledPolicy:
    """Load, validate and compile a policy from a file, from text, or the bundled default.

    Raises:
        PolicyError: naming file, line and field of the first problem.
    """
    if text is not None:
        spec, _ = load_policy_text(text, file=str(path) if path else "<policy>")
        return CompiledPolicy(spec, str(path) if path else "<policy>", text)
    spec, text, source = load_policy(path)
    return CompiledPolicy(spec, source, text)
