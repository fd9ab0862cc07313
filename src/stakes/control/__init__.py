"""Control protocols: the steps expensive tiers run, composed per tier, failing closed."""

from stakes.control._approvals import Approvals
from stakes.control._base import (
    ControlProtocol,
    Monitor,
    MonitorScore,
    StepContext,
    StepParams,
    StepResult,
    TrustedAgent,
    build_step,
    control_protocol,
    registered_protocols,
)
from stakes.control._ensemble import EnsembleMonitor
from stakes.control._llm_monitor import LlmMonitor
from stakes.control._pipeline import PipelineResult, run_pipeline
from stakes.control._score import ParsedScore, parse_score
from stakes.control._steps import (
    AllowStep,
    ApprovalParams,
    ApprovalStep,
    BlockStep,
    DeferParams,
    DeferStep,
    MonitorParams,
    MonitorStep,
    TerminateStep,
)

__all__ = [
    "AllowStep",
    "ApprovalParams",
    "ApprovalStep",
    "Approvals",
    "BlockStep",
    "ControlProtocol",
    "DeferParams",
    "DeferStep",
    "EnsembleMonitor",
    "LlmMonitor",
    "Monitor",
    "MonitorParams",
    "MonitorScore",
    "ParsedScore",
    "MonitorStep",
    "PipelineResult",
    "StepContext",
    "StepParams",
    "StepResult",
    "TerminateStep",
    "TrustedAgent",
    "build_step",
    "control_protocol",
    "parse_score",
    "registered_protocols",
    "run_pipeline",
]
