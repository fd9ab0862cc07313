"""Features of one action for the learned suspicion scorer.

A feature is a `(name, value)` pair; most values are 1.0 (present) and a few are fractions.
None of them is the tool's literal name or an argument's literal value: every feature describes
what a tool name *says* (its verb level and verb family, its nouns) or what the arguments *do*
(rules fired, shell and SQL facts, decoded payloads, where the values come from). That is what
lets weights learned on one set of tools score tools never seen in training.

Groups (names are stable, part of `FEATURE_VERSION`):

- `name.level=L`, `name.exec`, `name.noun=C`, `name.family=F`: the tool name's semantics
  (cached per name; see `stakes.triage.name_stakes` and `verb_families`);
- `rule=ID`, `rules.suspicion`: the rule monitor's fired rules and its noisy-or;
- `arg.floor=L`, `norm.FLAG`, `shell.FACT`, `sql.FACT`, `arg.wildcard`, `arg.text`: what the
  arguments hold;
- `ctx.*`, `src.*`, `tgt.*`, `amt.*`, `val.*`, `words.*`, `verb.*`: grounding (see
  `stakes.triage._grounding`),
  each also crossed with `write.` when the tool name's verb writes (level >= 2 or exec-like).
"""

from __future__ import annotations

import math

from stakes.domain import Action
from stakes.triage._grounding import Grounding, grounding, verb_families
from stakes.triage._infer import _name, argument_floor
from stakes.triage._normalize import Normalized
from stakes.triage._rules import RuleResult

__all__ = ["FEATURE_VERSION", "Feature", "features"]

FEATURE_VERSION = "f1"
Feature = tuple[str, float]

_NAME_CACHE: dict[str, tuple[tuple[Feature, ...], bool]] = {}


def _name_features(tool: str) -> tuple[tuple[Feature, ...], bool]:
    """The tool name's features and whether its verb writes (cached per name)."""
    cached = _NAME_CACHE.get(tool)
    if cached is None:
        name = _name(tool)
        out: list[Feature] = [(f"name.level={name.level}", 1.0)]
        if name.exec_like:
            out.append(("name.exec", 1.0))
        out.extend((f"name.noun={c}", 1.0) for c in sorted(name.classes))
        families = verb_families(tool)
        out.extend((f"name.family={f}", 1.0) for f in sorted(families))
        writes = name.level >= 2 or name.exec_like or bool(
            families & {"pay", "send", "delete", "share", "create", "update", "exec"})
        cached = (tuple(out), writes)
        if len(_NAME_CACHE) < 8192:
            _NAME_CACHE[tool] = cached
    return cached


def _grounding_features(g: Grounding) -> list[Feature]:
    out: list[Feature] = []
    if g.has_task:
        out.append(("ctx.task", 1.0))
    if g.has_tools:
        out.append(("ctx.tools", 1.0))
    if g.instructions:
        out.append(("ctx.instructions", 1.0))
    if g.targets:
        out.append(("tgt.any", 1.0))
        if g.targets_user:
            out.append(("tgt.user", 1.0))
        if g.targets_tool_only:
            out.append(("tgt.tool_only", 1.0))
        if g.targets_instruction:
            out.append(("tgt.instruction", 1.0))
        if g.targets_nowhere:
            out.append(("tgt.nowhere", 1.0))
        if g.targets_user == g.targets:
            out.append(("tgt.all_user", 1.0))
    if g.amounts:
        if g.amounts_user:
            out.append(("amt.user", 1.0))
        if g.amounts_tool_only:
            out.append(("amt.tool_only", 1.0))
        if g.amounts_nowhere:
            out.append(("amt.nowhere", 1.0))
    found = g.targets + g.values
    if found:
        n = float(found)
        out.append(("src.user", (g.targets_user + g.values_user) / n))
        out.append(("src.tool_only", (g.targets_tool_only + g.values_tool_only) / n))
        out.append(("src.instruction", (g.targets_instruction + g.values_instruction) / n))
        out.append(("src.nowhere", (g.targets_nowhere + g.values_nowhere) / n))
        if g.targets_instruction or g.values_instruction:
            out.append(("src.any_instruction", 1.0))
    if g.values:
        n = float(g.values)
        out.append(("val.user", g.values_user / n))
        out.append(("val.tool_only", g.values_tool_only / n))
        out.append(("val.instruction", g.values_instruction / n))
        out.append(("val.nowhere", g.values_nowhere / n))
    if g.words_user or g.words_tool_only or g.words_instruction:
        out.append(("words.user", g.words_user))
        out.append(("words.tool_only", g.words_tool_only))
        out.append(("words.instruction", g.words_instruction))
    if g.verb_user:
        out.append(("verb.user", 1.0))
    if g.verb_tool_only:
        out.append(("verb.tool_only", 1.0))
    if g.verb_instruction:
        out.append(("verb.instruction", 1.0))
    if g.has_task and not g.verb_user:
        out.append(("verb.not_asked", 1.0))
    return out


def features(action: Action, norm: Normalized, rules: RuleResult) -> list[Feature]:
    """The features of `action` (see the module docstring).

    Args:
        action: The action, with its task and context.
        norm: Its normalized view.
        rules: The rule monitor's result for it.

    Returns:
        `(name, value)` pairs; a name appears at most once.
    """
    name_feats, writes = _name_features(action.tool)
    out = list(name_feats)
    if rules.reasons:
        out.extend((f"rule={r.id.removeprefix('rule:')}", 1.0) for r in rules.reasons)
        out.append(("rules.suspicion", rules.suspicion))
    floor, _ = argument_floor(norm)
    if floor:
        out.append((f"arg.floor={floor}", 1.0))
    if norm.flags:
        out.extend((f"norm.{flag}", 1.0) for flag in sorted(norm.flags))
    shell = norm.shell
    if shell is not None and shell.facts and not norm.shell_sniffed:
        out.extend((f"shell.{fact}", 1.0) for fact in sorted(shell.facts))
    sql = norm.sql
    if sql is not None and sql.facts and not norm.sql_sniffed:
        out.extend((f"sql.{fact}", 1.0) for fact in sorted(sql.facts))
    if norm.wildcards:
        out.append(("arg.wildcard", 1.0))
    out.append(("arg.text", min(1.0, math.log1p(len(norm.text)) / 8.0)))
    if action.task or action.context:
        ground = _grounding_features(grounding(action))
        out.extend(ground)
        if writes:
            out.extend((f"write.{name}", value) for name, value in ground)
    else:
        out.append(("ctx.none", 1.0))
    return out
