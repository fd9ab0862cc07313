"""The JSON corpus of policy cases, run through the library and through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stakes import Action, Decision, Gate, compile_policy

CORPUS = json.loads((Path(__file__).parent / "cases.json").read_text())
CASES = CORPUS["cases"]


def _policy_path(name: str, tmp: Path) -> str | None:
    if name == "default":
        return None
    path = tmp / f"{name}.yaml"
    path.write_text(CORPUS["policies"][name])
    return str(path)


def _check_expectations(case: dict[str, Any], out: dict[str, Any]) -> None:
    expect = case["expect"]
    assessment = out["assessment"]
    if "verdict" in expect:
        assert out["verdict"] == expect["verdict"], (case["name"], out)
    if "verdict_in" in expect:
        assert out["verdict"] in expect["verdict_in"], (case["name"], out)
    if "tier" in expect:
        assert assessment["tier"] == expect["tier"], (case["name"], assessment)
    if "stakes" in expect:
        assert assessment["stakes"] == expect["stakes"], (case["name"], assessment)
    if "stakes_at_least" in expect:
        assert assessment["stakes"] >= expect["stakes_at_least"], (case["name"], assessment)
    ids = {r["id"] for r in assessment["reasons"]}
    ids |= {r["id"] for step in out["steps"] for r in step["reasons"]}
    for reason in expect.get("reasons", []):
        assert reason in ids, (case["name"], reason, sorted(ids))


def _library(case: dict[str, Any], tmp: Path) -> Decision:
    gate = Gate(compile_policy(_policy_path(case["policy"], tmp)))
    handle = gate.agent(case["agent"])
    decision = None
    # Stateful cases (limits) are run in order within one policy by `test_library_sequence`.
    decision = handle.check(Action.from_json(case["action"]))
    gate.close()
    return decision


@pytest.mark.parametrize("case", [c for c in CASES if c["policy"] == "default"],
                         ids=lambda c: c["name"])
def test_library(case: dict[str, Any], tmp_path: Path) -> None:
    decision = _library(case, tmp_path)
    _check_expectations(case, decision.to_json())


def test_library_stateful_sequence(tmp_path: Path) -> None:
    """The small policy's cases share limit state, so they run in order through one gate."""
    gate = Gate(compile_policy(_policy_path("small", tmp_path)))
    for case in [c for c in CASES if c["policy"] == "small"]:
        decision = gate.agent(case["agent"]).check(Action.from_json(case["action"]))
        _check_expectations(case, decision.to_json())
    gate.close()


@pytest.mark.parametrize("case", [c for c in CASES if c["policy"] == "default"],
                         ids=lambda c: c["name"])
def test_cli(case: dict[str, Any], tmp_path: Path) -> None:
    args = [sys.executable, "-m", "stakes", "check", "--json", "--no-ledger",
            "--agent", case["agent"], json.dumps(case["action"])]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    _check_expectations(case, json.loads(proc.stdout))
