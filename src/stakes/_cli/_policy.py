"""`stakes policy check|show|calibrate`."""

from __future__ import annotations

import click
import yaml
from rich.table import Table

from stakes._cli._common import console, fail_cleanly, print_json
from stakes.domain import read_actions
from stakes.gate import build_pipelines
from stakes.policy import compile_policy
from stakes.triage import calibrate as fit

__all__ = ["policy"]


@click.group()
def policy() -> None:
    """Validate, inspect and calibrate policies."""


@policy.command("check")
@click.argument("file", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@fail_cleanly
def check_policy(file: str | None, as_json: bool) -> None:
    """Validate FILE (default: the bundled policy): schema, references, globs, pipelines."""
    compiled = compile_policy(file)
    pipelines = build_pipelines(compiled)
    summary = {
        "policy": compiled.source,
        "hash": compiled.hash,
        "capabilities": len(compiled.capabilities),
        "limits": len(compiled.limits),
        "agents": len(compiled.agents),
        "tiers": {name: [step.name for step in steps] for name, steps in pipelines.items()},
        "ok": True,
    }
    if as_json:
        print_json(summary)
        return
    console.print(f"[green]ok[/green] {compiled.source}  hash {compiled.hash[:16]}  "
                  f"{summary['capabilities']} capabilities, {summary['limits']} limits, "
                  f"{summary['agents']} agents")
    table = Table("tier", "enter", "pipeline", box=None, header_style="bold")
    for tier in compiled.tiers:
        enter = tier.enter.model_dump(exclude_defaults=True) if tier.enter else "(routine)"
        table.add_row(tier.name, str(enter), " -> ".join(s.name for s in pipelines[tier.name]))
    console.print(table)


@policy.command("calibrate")
@click.argument("file")
@click.argument("honest")
@fail_cleanly
def calibrate_policy(file: str, honest: str) -> None:
    """Fit FILE's budgeted thresholds on HONEST.jsonl; print the `thresholds:` block.

    FILE may be `default` (the bundled policy); HONEST may be `reference` (the bundled
    reference sample of honest ops traffic). Values are written exactly (ties at a threshold
    are shared, so a rounded threshold would change who escalates).
    """
    compiled = compile_policy(None if file == "default" else file)
    if honest == "reference":
        from stakes.demo import reference_honest_actions

        actions = list(reference_honest_actions())
    else:
        actions = read_actions(honest)
    fitted = fit(compiled, actions)
    block = {"thresholds": {
        name: {"value": t.value, "tie_share": t.tie_share, "fitted_on": t.fitted_on}
        for name, t in fitted.items()
    }}
    click.echo(yaml.safe_dump(block, sort_keys=False).rstrip())
    for name, t in fitted.items():
        console.print(f"# {name}: budget {t.budget} achieved {t.achieved} on {t.fitted_on}",
                      style="dim")

