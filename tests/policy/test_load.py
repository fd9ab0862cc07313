"""Strict policy loading: errors name file, line and field; nothing half-built."""

from __future__ import annotations

from pathlib import Path

import pytest

from stakes.errors import PolicyError
from stakes.gate import build_pipelines
from stakes.policy import compile_policy, load_policy_text, parse_duration

BASE = """\
version: 1
capabilities:
  - name: reads
    tools: ["fs.read"]
    stakes: 0
tiers:
  routine: {pipeline: [allow]}
  critical:
    enter: {stakes_at_least: 4}
    pipeline: [block]
"""


def _error(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load_policy_text(text, file="p.yaml")
    return info.value


def test_default_policy_compiles() -> None:
    policy = compile_policy()
    assert policy.capabilities
    assert policy.tiers[0].name == "routine"
    assert len(policy.hash) == 64
    build_pipelines(policy)


def test_hash_ignores_formatting() -> None:
    a = compile_policy(text=BASE)
    b = compile_policy(text=BASE.replace("stakes: 0", "stakes:    0   # comment"))
    c = compile_policy(text=BASE.replace("stakes: 0", "stakes: 1"))
    assert a.hash == b.hash != c.hash


@pytest.mark.parametrize(
    ("text", "line", "field", "code"),
    [
        (BASE.replace("    stakes: 0", "    stakes: 0\n    colour: red"), 6,
         "capabilities.0.colour", "policy.unknown_field"),
        (BASE.replace("stakes: 0", "stakes: 9"), 5, "capabilities.0.stakes", "policy.bad_value"),
        (BASE.replace("stakes: 0", "stakes: high"), 5, "capabilities.0.stakes",
         "policy.bad_value"),
        (BASE.replace('["fs.read"]', '["fs read"]'), 4, "capabilities.0.tools.0",
         "policy.bad_glob"),
        (BASE.replace('["fs.read"]', '["fs.[read"]'), 4, "capabilities.0.tools.0",
         "policy.bad_glob"),
        (BASE.replace("    stakes: 0", "    stakes: 0\n    when: {path: {matches: \"(\"}}"), 6,
         "capabilities.0.when.path.matches", "policy.bad_value"),
        (BASE.replace("    stakes: 0", "    stakes: 0\n    clearance: wizard"), 6,
         "capabilities.0.clearance", "policy.bad_reference"),
        (BASE.replace("enter: {stakes_at_least: 4}", "enter: {stakes_at_least: 4, risk_above: 3}"),
         9, "tiers.critical.enter.risk_above", "policy.bad_value"),
        (BASE + "limits:\n  - {capability: nope, count: true, per: 1h, max: 3}\n", 12,
         "limits.0.capability", "policy.bad_reference"),
        (BASE + "limits:\n  - {capability: reads, count: true, per: soon, max: 3}\n", 12,
         "limits.0.per", "policy.bad_value"),
        (BASE + "agents:\n  bot: {clearance: god}\n", 12, "agents.bot.clearance",
         "policy.bad_reference"),
        (BASE.replace("  routine: {pipeline: [allow]}\n", ""), 8, "tiers.critical.enter",
         "policy.bad_value"),
        (BASE.replace("version: 1\n", "version: 1\nversion: 2\n"), 2, "version",
         "policy.duplicate_key"),
        (BASE.replace("tiers:", "tiers: ["), None, None, "policy.bad_yaml"),
    ],
)
def test_errors_name_line_and_field(
    text: str, line: int | None, field: str | None, code: str
) -> None:
    err = _error(text)
    assert err.code == code
    assert err.context.get("file") == "p.yaml"
    if line is not None:
        assert err.context.get("line") == line, str(err)
    if field is not None:
        assert err.context.get("field") == field, str(err)
    assert str(err).startswith("p.yaml")


def test_missing_tiers_is_named() -> None:
    err = _error("version: 1\n")
    assert err.code == "policy.missing_field"
    assert err.context["field"] == "tiers"


def test_bad_pipeline_step_names_tier_and_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(BASE.replace("pipeline: [block]", "pipeline: [{monitor: {audit_above: 2}}]"))
    with pytest.raises(PolicyError) as info:
        build_pipelines(compile_policy(path))
    assert info.value.context["line"] == 10
    assert "tiers.critical.pipeline.0" in info.value.context["field"]
    path.write_text(BASE.replace("pipeline: [block]", "pipeline: [teleport]"))
    with pytest.raises(PolicyError, match="unknown control protocol `teleport`"):
        build_pipelines(compile_policy(path))


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        compile_policy(tmp_path / "missing.yaml")
    assert info.value.code == "policy.unreadable"


@pytest.mark.parametrize(("value", "seconds"), [(5, 5.0), ("90s", 90.0), ("10m", 600.0),
                                                ("1h", 3600.0), ("2d", 172800.0),
                                                ("500ms", 0.5)])
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", -1, 0, True, "5 parsecs"])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)
