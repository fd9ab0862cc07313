"""Fast matchers compiled from the policy: globs, argument conditions, capabilities."""

from __future__ import annotations

import fnmatch
import functools
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stakes.domain import Action, Reason
from stakes.policy._schema import CapabilitySpec, ConditionSpec

__all__ = [
    "CompiledCapability",
    "CompiledCondition",
    "compile_globs",
    "fold",
    "glob_matcher",
    "lookup",
]

_MISSING = object()


def compile_globs(globs: list[str]) -> re.Pattern[str]:
    """One case-insensitive regex matching any of `globs` (fnmatch syntax) in full."""
    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs), re.IGNORECASE)


def glob_matcher(glob: str) -> Callable[[str], bool]:
    """A case-insensitive full-match predicate for one glob, without regex when it can.

    `*word*`, `word*`, `*word` and a plain `word` become substring, prefix, suffix and
    equality tests on the lowercased value (several times faster than a regex here);
    anything else uses the fnmatch regex.
    """
    body = glob.strip("*").lower()
    if not any(c in body for c in "*?[]"):
        lead, trail = glob.startswith("*"), glob.endswith("*") and len(glob) > 1
        if lead and trail:
            return lambda value: body in value.lower()
        if trail:
            return lambda value: value.lower().startswith(body)
        if lead:
            return lambda value: value.lower().endswith(body)
        return lambda value: value.lower() == body
    rx = compile_globs([glob])
    return lambda value: rx.match(value) is not None


def fold(text: str) -> str:
    """Fold a string for comparison: NFKC and casefold (non-ASCII only pays for NFKC)."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


def lookup(args: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted `path` in `args`, or a private sentinel when absent."""
    if path in args:
        return args[path]
    value: Any = args
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", "").replace("_", "").strip())
        except ValueError:
            return None
    return None


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    """One argument condition, as a list of predicates that must all hold.

    For `*` the predicates must hold for at least one string value anywhere in the arguments.
    A numeric test on a value that is not a number fails (the condition does not hold).
    """

    arg: str
    tests: tuple[Callable[[Any], bool], ...]

    @classmethod
    def build(cls, arg: str, spec: ConditionSpec) -> tuple[CompiledCondition, bool | None]:
        """Compile a condition spec into predicates, plus its `exists` test (None if absent)."""
        tests: list[Callable[[Any], bool]] = []
        fields = spec.model_fields_set
        if "equals" in fields:
            tests.append(functools.partial(_eq_test, spec.equals, True))
        if "not_equals" in fields:
            tests.append(functools.partial(_eq_test, spec.not_equals, False))
        if spec.in_ is not None:
            tests.append(functools.partial(_in_test, tuple(spec.in_), True))
        if spec.not_in is not None:
            tests.append(functools.partial(_in_test, tuple(spec.not_in), False))
        if spec.matches is not None:
            tests.append(_memo_rx(re.compile(spec.matches, re.I), True))
        if spec.not_matches is not None:
            tests.append(_memo_rx(re.compile(spec.not_matches, re.I), False))
        if spec.contains is not None:
            tests.append(functools.partial(_contains, fold(spec.contains)))
        if spec.glob is not None:
            tests.append(functools.partial(_glob, compile_globs([spec.glob])))
        for op, bound in (("gt", spec.gt), ("gte", spec.gte), ("lt", spec.lt), ("lte", spec.lte)):
            if bound is not None:
                tests.append(_numeric(op, bound))
        return cls(arg=arg, tests=tuple(tests)), spec.exists if "exists" in fields else None

    def holds(self, args: Mapping[str, Any]) -> bool:
        """True when every test holds on the argument's value."""
        if self.arg == "*":
            return any(all(t(s) for t in self.tests) for s in _strings(args))
        value = lookup(args, self.arg)
        if value is _MISSING:
            return False
        for test in self.tests:  # noqa: SIM110 - a plain loop is faster on the routine path
            if not test(value):
                return False
        return True


def _eq_test(expected: Any, positive: bool, value: Any) -> bool:
    return _eq(value, expected) == positive


def _in_test(options: tuple[Any, ...], positive: bool, value: Any) -> bool:
    return any(_eq(value, x) for x in options) == positive


_MEMO_MAX = 4096
_MEMO_LEN = 256


def _memo_rx(rx: re.Pattern[str], positive: bool) -> Callable[[Any], bool]:
    """A regex condition with a bounded memo for short strings (argument values repeat)."""
    memo: dict[str, bool] = {}

    def test(value: Any) -> bool:
        if not isinstance(value, str):
            return not positive
        hit = memo.get(value)
        if hit is None:
            hit = (rx.search(fold(value)) is not None) == positive
            if len(value) <= _MEMO_LEN:
                if len(memo) >= _MEMO_MAX:
                    memo.clear()
                memo[value] = hit
        return hit

    return test


def _contains(needle: str, value: Any) -> bool:
    return isinstance(value, str) and needle in fold(value)


def _glob(rx: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and rx.match(fold(value)) is not None


def _eq(value: Any, expected: Any) -> bool:
    if isinstance(value, str) and isinstance(expected, str):
        return fold(value) == fold(expected)
    return bool(value == expected)


def _numeric(op: str, bound: float) -> Callable[[Any], bool]:
    def test(value: Any) -> bool:
        number = _number(value)
        if number is None:
            return False
        return {
            "gt": number > bound, "gte": number >= bound,
            "lt": number < bound, "lte": number <= bound,
        }[op]

    return test


@dataclass(frozen=True, slots=True)
class CompiledCapability:
    """A capability ready to match actions: tool regex, resource regex, argument conditions."""

    name: str
    stakes: int
    value_at_risk: float | None
    clearance: str | None
    clearance_rank: int | None
    order: int
    tool_rx: re.Pattern[str]
    resource_rx: re.Pattern[str] | None
    conditions: tuple[CompiledCondition, ...]
    exists: tuple[tuple[str, bool], ...]
    reason: Reason

    @classmethod
    def build(
        cls, spec: CapabilitySpec, order: int, ranks: Mapping[str, int]
    ) -> CompiledCapability:
        """Compile one capability spec."""
        conditions: list[CompiledCondition] = []
        exists: list[tuple[str, bool]] = []
        for arg, cond in (spec.when or {}).items():
            compiled, must_exist = CompiledCondition.build(arg, cond)
            if compiled.tests:
                conditions.append(compiled)
            if must_exist is not None:
                exists.append((arg, must_exist))
        return cls(
            name=spec.name,
            stakes=spec.stakes,
            value_at_risk=spec.value_at_risk,
            clearance=spec.clearance,
            clearance_rank=None if spec.clearance is None else ranks[spec.clearance],
            order=order,
            tool_rx=compile_globs(spec.tools),
            resource_rx=compile_globs(spec.resource) if spec.resource else None,
            conditions=tuple(conditions),
            exists=tuple(exists),
            reason=Reason(f"capability:{spec.name}",
                          f"stakes {spec.stakes} by capability `{spec.name}`", float(spec.stakes)),
        )

    def matches_rest(self, action: Action) -> bool:
        """Resource and argument conditions (the tool was already matched)."""
        if self.resource_rx is not None and not self.resource_rx.match(action.resource):
            return False
        args = action.args
        for arg, must in self.exists:
            if (lookup(args, arg) is not _MISSING) != must:
                return False
        for condition in self.conditions:  # noqa: SIM110 - as above
            if not condition.holds(args):
                return False
        return True
