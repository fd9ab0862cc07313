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
from stakes.control._pipeline import PipelineResult, run_pipeline
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
    "Monitor",
    "MonitorParams",
    "MonitorScore",
    "MonitorStep",
    "PipelineResult",
    "StepContext",
    "StepParams",
    "StepResult",
    "TerminateStep",
    "TrustedAgent",
    "build_step",
    "control_protocol",
    "registered_protocols",
    "run_pipeline",
]
