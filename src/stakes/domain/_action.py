"""The action: one tool call an agent proposes, in the JSON shape of DESIGN.md."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from stakes.errors import InputError

__all__ = ["Action", "canonical_json", "read_actions"]

_FIELDS = ("id", "agent", "tool", "args", "task", "context", "resource", "metadata", "base_cost")


_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def canonical_json(value: Any) -> str:
    """Serialize `value` canonically: sorted keys, no spaces, UTF-8 kept, non-JSON via `str`.

    One encoder (orjson, ~10x the standard library here) defines the canonical form for args
    hashes and ledger bodies alike; values it cannot encode (integers beyond 64 bits, circular
    structures) fall back to the standard library with the same settings.
    """
    try:
        return orjson.dumps(value, default=str, option=_ORJSON_OPTIONS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )


@dataclass(frozen=True, slots=True)
class Action:
    """One tool call an agent proposes.

    Only `tool` and `args` are required. `agent` is what the action *claims*; the gate binds
    identity from the host (a per-agent handle), never from this field.

    Attributes:
        tool: The tool name, e.g. `sql.execute`.
        args: The tool arguments (a JSON object).
        id: A caller-chosen id; the gate assigns one when empty.
        agent: The agent id the action claims to come from.
        task: The task the agent works on (the user's request).
        context: Messages, tool results and reasoning so far: a list of JSON objects.
        resource: The target resource, e.g. `db://prod/payments`.
        metadata: Free-form JSON metadata, carried through to the ledger.
        base_cost: What it cost the agent to produce this action, in cost units (default 1).
    """

    tool: str
    args: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""
    agent: str = ""
    task: str = ""
    context: tuple[Mapping[str, Any], ...] = ()
    resource: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    base_cost: float = 1.0

    @classmethod
    def from_json(cls, obj: Any, *, line: int | None = None) -> Action:
        """Build an action from a decoded JSON object, validating every field.

        Raises:
            InputError: naming the field (and `line` when given) that is missing or mistyped.
        """
        if isinstance(obj, Action):
            return obj
        if not isinstance(obj, Mapping):
            raise InputError(
                f"an action must be a JSON object, got {type(obj).__name__}",
                code="input.not_object",
                line=line,
            )
        unknown = [k for k in obj if k not in _FIELDS]
        if unknown:
            raise InputError(
                f"unknown field `{unknown[0]}`", code="input.unknown_field", line=line,
                field=unknown[0],
            )
        tool = obj.get("tool")
        if not isinstance(tool, str) or not tool.strip():
            raise InputError(
                "`tool` is required and must be a non-empty string",
                code="input.missing_field" if tool is None else "input.bad_type",
                line=line,
                field="tool",
            )
        if "args" not in obj:
            raise InputError(
                "`args` is required", code="input.missing_field", line=line, field="args"
            )
        args = obj["args"]
        if not isinstance(args, Mapping):
            raise InputError(
                f"`args` must be an object, got {type(args).__name__}",
                code="input.bad_type", line=line, field="args",
            )
        strings = {}
        for name in ("id", "agent", "task", "resource"):
            value = obj.get(name, "")
            if value is None:
                value = ""
            if not isinstance(value, str):
                if name == "id" and isinstance(value, int) and not isinstance(value, bool):
                    value = str(value)
                else:
                    raise InputError(
                        f"`{name}` must be a string, got {type(value).__name__}",
                        code="input.bad_type", line=line, field=name,
                    )
            strings[name] = value
        context = obj.get("context") or ()
        if not isinstance(context, list | tuple) or not all(
            isinstance(m, Mapping) for m in context
        ):
            raise InputError(
                "`context` must be a list of objects", code="input.bad_type", line=line,
                field="context",
            )
        metadata = obj.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise InputError(
                "`metadata` must be an object", code="input.bad_type", line=line,
                field="metadata",
            )
        base_cost = obj.get("base_cost", 1.0)
        if (
            isinstance(base_cost, bool)
            or not isinstance(base_cost, int | float)
            or not base_cost >= 0
            or base_cost == float("inf")
        ):
            raise InputError(
                "`base_cost` must be a finite number >= 0", code="input.bad_value", line=line,
                field="base_cost",
            )
        return cls(
            tool=tool,
            args=args,
            id=strings["id"],
            agent=strings["agent"],
            task=strings["task"],
            context=tuple(context),
            resource=strings["resource"],
            metadata=metadata,
            base_cost=float(base_cost),
        )

    @classmethod
    def from_json_line(cls, text: str, *, line: int | None = None) -> Action:
        """Parse one JSONL line into an action.

        Raises:
            InputError: when the line is not JSON or not a valid action.
        """
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"not valid JSON: {exc.msg} at column {exc.colno}", code="input.bad_json",
                line=line,
            ) from None
        return cls.from_json(obj, line=line)

    def to_json(self) -> dict[str, Any]:
        """The action as a JSON object (empty optional fields omitted)."""
        out: dict[str, Any] = {"tool": self.tool, "args": dict(self.args)}
        if self.id:
            out["id"] = self.id
        if self.agent:
            out["agent"] = self.agent
        if self.task:
            out["task"] = self.task
        if self.context:
            out["context"] = [dict(m) for m in self.context]
        if self.resource:
            out["resource"] = self.resource
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        if self.base_cost != 1.0:
            out["base_cost"] = self.base_cost
        return out

    def args_hash(self) -> str:
        """SHA-256 over the canonical (tool, args, resource): what an approval is bound to."""
        payload = canonical_json({"tool": self.tool, "args": self.args, "resource": self.resource})
        return hashlib.sha256(payload.encode()).hexdigest()

    def with_(self, **changes: Any) -> Action:
        """A copy with some fields replaced."""
        return replace(self, **changes)


def read_actions(path: str | Path) -> list[Action]:
    """Read a JSONL file of actions (blank lines skipped; extra top-level keys are errors).

    Raises:
        InputError: naming the line of the first malformed action, or when unreadable.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            return [
                Action.from_json_line(text, line=number)
                for number, text in enumerate(fh, start=1)
                if text.strip()
            ]
    except OSError as exc:
        raise InputError(f"cannot read `{path}`: {exc.strerror}", code="input.unreadable") from None
