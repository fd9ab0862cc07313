"""The bundled reference sample: honest ops traffic that calibrates the default thresholds.

It is generated from a seed reserved for calibration (`REFERENCE_SEED`); the demo and the
benchmarks evaluate on other seeds, whose tasks differ, so nothing is tuned on what is reported.
"""

from __future__ import annotations

from functools import lru_cache

from stakes.demo._traffic import generate_traffic
from stakes.domain import Action

__all__ = ["REFERENCE_SEED", "reference_honest_actions"]

REFERENCE_SEED = 1000


@lru_cache(maxsize=1)
def _reference() -> tuple[Action, ...]:
    return tuple(la.action for la in generate_traffic(seed=REFERENCE_SEED)
                 if la.label != "malicious")


def reference_honest_actions() -> tuple[Action, ...]:
    """Honest actions (routine and legitimately critical) of the reference seed."""
    return _reference()
