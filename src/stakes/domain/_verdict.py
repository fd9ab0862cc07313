"""The closed set of outcomes, defined once and reused everywhere."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ESCALATE", "Escalate", "Outcome", "Verdict"]


class Verdict(StrEnum):
    """A final outcome for an action.

    - `allow`: the proposed action runs as proposed.
    - `block`: it does not run; the agent may go on with its task.
    - `edit`: a modified action runs instead (see `Decision.final_action`).
    - `defer`: a trusted agent's action runs instead (see `Decision.final_action`).
    - `pending`: held for approval; it runs only if a cleared principal approves it in time.
    - `terminate`: the agent's whole task is stopped.
    """

    ALLOW = "allow"
    BLOCK = "block"
    EDIT = "edit"
    DEFER = "defer"
    PENDING = "pending"
    TERMINATE = "terminate"

    @property
    def runs_original(self) -> bool:
        """True only for `allow`: the original action executes unchanged."""
        return self is Verdict.ALLOW

    @property
    def runs_something(self) -> bool:
        """True when some action executes now: the original, an edit or a deferral."""
        return self in (Verdict.ALLOW, Verdict.EDIT, Verdict.DEFER)


class Escalate(StrEnum):
    """The one non-final step outcome: hand the action on to the next step."""

    ESCALATE = "escalate"


ESCALATE = Escalate.ESCALATE

Outcome = Verdict | Escalate
"""What a control protocol step returns: a final verdict, or `escalate`."""
