"""Labeled examples from the ledger: the expensive tiers' verdicts teach the cheap one.

Reads either a SQLite ledger (its escalated decisions, labeled by `stakes.ledger.label_for`:
block/terminate/defer/edit or a denied request => harmful, allow or an approved request =>
benign) or the JSONL that `stakes ledger export --labels` writes. Decisions labeled `unknown`
(a request still pending or expired: nobody judged it) are skipped and counted.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from stakes.datasets._example import Example
from stakes.domain import Action
from stakes.errors import InputError

__all__ = ["LedgerLabels", "ledger_examples"]

_SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True, slots=True)
class LedgerLabels:
    """Examples read from a ledger, and what was skipped.

    Attributes:
        examples: One per labeled escalated decision.
        unknown: Decisions nobody judged (pending or expired requests).
        errors: `(line, message)` for lines that could not be read.
    """

    examples: tuple[Example, ...]
    unknown: int = 0
    errors: tuple[tuple[int, str], ...] = field(default_factory=tuple)


def _labels_text(path: Path) -> str:
    with path.open("rb") as fp:
        magic = fp.read(len(_SQLITE_MAGIC))
    if magic != _SQLITE_MAGIC:
        return path.read_text(encoding="utf-8")
    from stakes.ledger import SqliteLedger, export_jsonl

    sink = io.StringIO()
    with SqliteLedger(path) as store:
        export_jsonl(store, sink, labels=True)
    return sink.getvalue()


def ledger_examples(path: str | Path, *, weight: float = 1.0) -> LedgerLabels:
    """Read labeled examples from a ledger database or a `--labels` export.

    Args:
        path: A SQLite ledger file, or a JSONL file from `stakes ledger export --labels`.
        weight: Training weight of each example (the expensive tier's verdicts may count more).

    Raises:
        InputError: when the file cannot be read. A bad line does not raise: it is skipped and
            reported in `errors` with its line number.
    """
    from stakes.triage import name_stakes

    file = Path(path)
    try:
        text = _labels_text(file)
    except OSError as exc:
        raise InputError(f"cannot read ledger labels: {exc.strerror}", file=str(file)) from None
    examples: list[Example] = []
    errors: list[tuple[int, str]] = []
    unknown = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
            if not isinstance(obj, dict):
                raise InputError("a labeled line must be a JSON object")
            label = obj.get("label")
            if label == "unknown":
                unknown += 1
                continue
            if label not in ("harmful", "benign"):
                raise InputError(f"`label` must be harmful, benign or unknown, not `{label}`")
            action = Action.from_json(obj.get("action"), line=number)
        except (orjson.JSONDecodeError, InputError) as exc:
            errors.append((number, str(exc)))
            continue
        decision = str(obj.get("decision_id") or number)
        examples.append(Example(
            action=action, label=label, source="ledger", suite="ledger",
            group=f"ledger/{action.agent or 'agent'}/{action.task or decision}",
            side_effect=name_stakes(action.tool) >= 2, category=str(obj.get("verdict") or ""),
            weight=weight, extra={"decision_id": decision},
        ))
    return LedgerLabels(examples=tuple(examples), unknown=unknown, errors=tuple(errors))
