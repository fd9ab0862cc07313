"""Evaluation: metrics (pure functions), bootstrap intervals, and the harness built on them."""

from stakes.evals._bootstrap import Interval, bootstrap, bootstrap_many
from stakes.evals._metrics import Detection, detection_at, roc_auc, tpr_at

__all__ = [
    "Detection",
    "Interval",
    "bootstrap",
    "bootstrap_many",
    "detection_at",
    "roc_auc",
    "tpr_at",
]
