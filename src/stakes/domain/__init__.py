"""The domain model: actions, verdicts, assessments and decisions."""

from stakes.domain._action import Action, canonical_json, read_actions
from stakes.domain._decision import Assessment, Decision, Reason, StepRecord
from stakes.domain._verdict import ESCALATE, Escalate, Outcome, Verdict

__all__ = [
    "ESCALATE",
    "Action",
    "Assessment",
    "Decision",
    "Escalate",
    "Outcome",
    "Reason",
    "StepRecord",
    "Verdict",
    "canonical_json",
    "read_actions",
]
