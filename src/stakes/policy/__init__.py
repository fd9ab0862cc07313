"""Policy as code: the `stakes.yaml` schema, strict loading and compilation (pure)."""

from stakes.policy._compile import CompiledPolicy, CompiledTier, compile_policy
from stakes.policy._limits import LimitState, LimitTrip
from stakes.policy._load import DEFAULT_POLICY, load_policy, load_policy_text
from stakes.policy._match import CompiledCapability
from stakes.policy._schema import (
    AgentSpec,
    CapabilitySpec,
    LimitSpec,
    PolicySpec,
    TierSpec,
    parse_duration,
)

__all__ = [
    "DEFAULT_POLICY",
    "AgentSpec",
    "CapabilitySpec",
    "CompiledCapability",
    "CompiledPolicy",
    "CompiledTier",
    "LimitSpec",
    "LimitState",
    "LimitTrip",
    "PolicySpec",
    "TierSpec",
    "compile_policy",
    "load_policy",
    "load_policy_text",
    "parse_duration",
]
