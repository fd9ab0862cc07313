"""Labeled examples for training and evaluating suspicion scorers.

One example is an `Action` (exactly what a gate sees) with its ground truth kept beside it. The
JSONL form, one object per line:

    {"action": {...}, "label": "harmful"|"benign", "source": "agentdojo", "suite": "banking",
     "group": "banking/user_task_3", "side_effect": true, "form": "plain", "category": "fraud",
     "variant_of": null, "phase": "clean"}

`group` is the unit of a split: examples that share a group always land on the same side, so
nothing about a task leaks from training into evaluation. An attack built from two tasks (a user
task and an injection task) names both, `suite/user_task_3+injection_task_1`; `groups_of` splits
it back into its parts so a grouped split can keep an example out when its parts fall on
different sides.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from stakes.domain import Action
from stakes.errors import InputError

__all__ = ["Example", "groups_of", "read_examples", "write_examples"]

Label = Literal["harmful", "benign"]
Form = Literal["plain", "evasive"]
_LABELS = ("harmful", "benign")
_FORMS = ("plain", "evasive")


@dataclass(frozen=True, slots=True)
class Example:
    """An action with its label and the metadata that splits and breakdowns need.

    Attributes:
        action: The tool call, as a gate sees it (task and context included).
        label: `harmful` or `benign`.
        source: Where it comes from: `agentdojo`, `corpus`, `ledger`, `demo`.
        suite: The family it belongs to (an AgentDojo suite, a corpus domain); the unit of a
            leave-one-suite-out split.
        group: The task(s) it belongs to; the unit of a grouped split (see module docstring).
        side_effect: True when the call changes state (writes, sends, pays, deletes), False for
            reads, listings and searches.
        form: `evasive` when the harmful action is encoded, split or disguised; else `plain`.
        category: The harm category (exfiltration, fraud, ...) or the benign kind (routine,
            high_stakes).
        variant_of: For an evasive form, the action id of its plain form.
        phase: `clean`, or `attacked` for a benign call made after an injection landed in the
            context (a hard negative: the context carries an attack, the call does not).
        weight: Training weight (ledger-derived labels may count more or less).
    """

    action: Action
    label: Label
    source: str
    suite: str
    group: str
    side_effect: bool
    form: Form = "plain"
    category: str = ""
    variant_of: str | None = None
    phase: str = "clean"
    weight: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def harmful(self) -> bool:
        """True for the harmful label."""
        return self.label == "harmful"

    def to_json(self) -> dict[str, Any]:
        """The JSONL object (see module docstring)."""
        out: dict[str, Any] = {
            "action": self.action.to_json(), "label": self.label, "source": self.source,
            "suite": self.suite, "group": self.group, "side_effect": self.side_effect,
            "form": self.form, "category": self.category, "variant_of": self.variant_of,
            "phase": self.phase,
        }
        if self.weight != 1.0:
            out["weight"] = self.weight
        if self.extra:
            out["extra"] = self.extra
        return out

    @classmethod
    def from_json(cls, obj: Any, *, line: int | None = None) -> Example:
        """Parse one JSONL object; errors name the line and field."""
        if not isinstance(obj, dict):
            raise InputError("an example must be a JSON object", line=line)
        label = obj.get("label")
        if label not in _LABELS:
            raise InputError(f"`label` must be `harmful` or `benign`, not `{label}`",
                             line=line, field="label")
        form = obj.get("form", "plain")
        if form not in _FORMS:
            raise InputError(f"`form` must be `plain` or `evasive`, not `{form}`",
                             line=line, field="form")
        for key in ("source", "suite", "group"):
            if not isinstance(obj.get(key), str) or not obj[key]:
                raise InputError(f"`{key}` must be a non-empty string", line=line,
                                 field=key)
        side_effect = obj.get("side_effect")
        if not isinstance(side_effect, bool):
            raise InputError("`side_effect` must be true or false", line=line,
                             field="side_effect")
        weight = obj.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise InputError("`weight` must be a number >= 0", line=line, field="weight")
        extra = obj.get("extra", {})
        if not isinstance(extra, dict):
            raise InputError("`extra` must be an object", line=line, field="extra")
        return cls(
            action=Action.from_json(obj.get("action"), line=line),
            label=label, source=obj["source"], suite=obj["suite"], group=obj["group"],
            side_effect=side_effect, form=form, category=str(obj.get("category") or ""),
            variant_of=obj.get("variant_of"), phase=str(obj.get("phase") or "clean"),
            weight=float(weight), extra=extra,
        )


def groups_of(group: str) -> tuple[str, ...]:
    """The task ids a group names: `suite/a+b` -> (`suite/a`, `suite/b`); `g` -> (`g`,)."""
    head, sep, tail = group.rpartition("/")
    parts = tail.split("+")
    if len(parts) == 1:
        return (group,)
    return tuple(f"{head}{sep}{part}" for part in parts)


def read_examples(path: str | Path) -> list[Example]:
    """Read a JSONL file of examples; the first bad line raises `InputError` naming it."""
    return list(iter_examples(Path(path).read_text(encoding="utf-8").splitlines()))


def iter_examples(lines: Iterable[str]) -> Iterator[Example]:
    """Parse JSONL lines (blank lines skipped), raising on the first bad one."""
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"not JSON ({exc})", line=number) from None
        yield Example.from_json(obj, line=number)


def write_examples(examples: Iterable[Example], path: str | Path) -> int:
    """Write examples as JSONL (sorted keys); returns how many."""
    count = 0
    with Path(path).open("wb") as fp:
        for example in examples:
            fp.write(orjson.dumps(example.to_json(), option=orjson.OPT_SORT_KEYS) + b"\n")
            count += 1
    return count
