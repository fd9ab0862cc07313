"""The gate: action -> decision (triage, protocols, ledger), per-agent handles, the guard."""

from stakes.gate._gate import ANONYMOUS, Gate, build_pipelines
from stakes.gate._handle import AgentGate, PendingCall, guard
from stakes.gate._stats import GateStats

__all__ = ["ANONYMOUS", "AgentGate", "Gate", "GateStats", "PendingCall", "build_pipelines", "guard"]
