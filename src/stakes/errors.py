"""The stakes error tree.

Every error raised on purpose by stakes derives from `StakesError` and carries a stable `code`
plus the context that locates it (file, line, field, action id). Messages are lowercase, with no
trailing period, and put user values in backticks.

```
StakesError
├── InputError              bad input: an action, a JSONL line, a CLI argument      (input.*)
├── PolicyError             a policy file that does not load, validate or compile   (policy.*)
├── LedgerError             the ledger cannot be written or read                    (ledger.*)
│   └── LedgerIntegrityError  an edited, missing or moved entry         (ledger.integrity)
├── ApprovalError           an approval request that cannot be resolved as asked    (approval.*)
├── ProtocolError           a control protocol step failed (always fails closed)    (protocol.*)
├── MissingDependencyError  an optional extra is not installed               (dependency.missing)
└── ActionBlocked           a guarded tool call was not allowed to run              (gate.blocked)
    └── ActionPending         ... because it is held for approval                   (gate.pending)
```
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ActionBlocked",
    "ActionPending",
    "ApprovalError",
    "InputError",
    "LedgerError",
    "LedgerIntegrityError",
    "MissingDependencyError",
    "PolicyError",
    "ProtocolError",
    "StakesError",
]


class StakesError(Exception):
    """Root of every error stakes raises on purpose.

    Attributes:
        code: A stable, dotted identifier such as `policy.unknown_field`.
        message: The human-readable message, lowercase, no trailing period.
        context: Where the error points: file, line, field, action id, ...
    """

    default_code = "stakes.error"

    def __init__(self, message: str, *, code: str | None = None, **context: Any) -> None:
        self.code = code or self.default_code
        self.message = message
        self.context = {k: v for k, v in context.items() if v is not None}
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.location()
        return f"{where}: {self.message}" if where else self.message

    def location(self) -> str:
        """Render the context as `file:line: field` (whatever parts are known)."""
        parts = []
        file, line = self.context.get("file"), self.context.get("line")
        if file is not None and line is not None:
            parts.append(f"{file}:{line}")
        elif file is not None:
            parts.append(str(file))
        elif line is not None:
            parts.append(f"line {line}")
        if "field" in self.context:
            parts.append(f"field `{self.context['field']}`")
        if "action_id" in self.context:
            parts.append(f"action `{self.context['action_id']}`")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view: code, message and context."""
        return {"code": self.code, "message": self.message, **self.context}


class InputError(StakesError):
    """An action, a JSONL line or an argument is malformed."""

    default_code = "input.invalid"


class PolicyError(StakesError):
    """A policy file does not load, validate or compile."""

    default_code = "policy.invalid"


class LedgerError(StakesError):
    """The ledger cannot be written or read."""

    default_code = "ledger.error"


class LedgerIntegrityError(LedgerError):
    """Verification found an entry that was edited, deleted, reordered or truncated."""

    default_code = "ledger.integrity"


class ApprovalError(StakesError):
    """An approval request cannot be resolved as asked (unknown, expired, self-approval...)."""

    default_code = "approval.invalid"


class ProtocolError(StakesError):
    """A control protocol step failed; the pipeline fails closed around it."""

    default_code = "protocol.failed"


class MissingDependencyError(StakesError):
    """An optional extra is not installed; the message names the `pip install` command."""

    default_code = "dependency.missing"


class ActionBlocked(StakesError):
    """Raised by a guarded tool when its call was not allowed to run.

    Attributes:
        decision: The recorded `Decision` that stopped the call.
    """

    default_code = "gate.blocked"

    def __init__(self, message: str, *, decision: Any, code: str | None = None) -> None:
        self.decision = decision
        super().__init__(message, code=code, action_id=getattr(decision, "action_id", None))


class ActionPending(ActionBlocked):
    """Raised by a guarded tool when its call is held for approval and the caller asked to fail."""

    default_code = "gate.pending"
