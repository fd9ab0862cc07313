"""`stakes check` (one action) and `stakes score FILE.jsonl` (the scoring contract)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

import click
from rich.table import Table

from stakes._cli._common import (
    console,
    fail_cleanly,
    ledger_option,
    policy_option,
    print_json,
)
from stakes.domain import Action, Decision
from stakes.errors import InputError, StakesError
from stakes.gate import Gate

__all__ = ["check", "score", "score_lines"]


@click.command()
@click.argument("action", required=False)
@policy_option
@ledger_option
@click.option("--agent", "-a", default=None, help="The agent identity to bind (the host's word).")
@click.option("--no-ledger", is_flag=True, help="Do not record the decision.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@fail_cleanly
def check(
    action: str | None, policy: str | None, ledger: str | None, agent: str | None,
    no_ledger: bool, as_json: bool,
) -> None:
    """Decide about one ACTION (a JSON object; `-` or nothing reads stdin)."""
    from stakes._cli._common import default_ledger

    text = sys.stdin.read() if action in (None, "-") else action
    parsed = Action.from_json_line(text or "")
    path = None if no_ledger else Path(ledger) if ledger else default_ledger()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    with Gate.from_policy(policy, ledger=path) as gate:
        decision = gate.check(parsed, agent=agent or parsed.agent or None)
    if as_json:
        print_json(decision.to_json())
        return
    _show(decision)


def _show(decision: Decision) -> None:
    a = decision.assessment
    colour = {"allow": "green", "pending": "yellow"}.get(decision.verdict.value, "red")
    console.print(f"[bold {colour}]{decision.verdict.value}[/]  `{decision.action.tool}` "
                  f"by `{decision.action.agent}`  tier [bold]{a.tier}[/]  stakes {a.stakes}  "
                  f"suspicion {a.suspicion:.3f}  risk {a.risk:.4f}")
    table = Table(show_header=True, header_style="bold", box=None)
    table.add_column("reason")
    table.add_column("detail")
    for reason in decision.reasons:
        table.add_row(reason.id, reason.detail)
    console.print(table)
    if decision.request_id:
        console.print(f"held as request [bold]{decision.request_id}[/]; a human approves it "
                      f"with `stakes approvals approve {decision.request_id} --as NAME --hash "
                      f"{decision.action.args_hash()}`", soft_wrap=True)
    console.print(f"control cost {decision.control_cost:g}  latency "
                  f"{decision.latency_s * 1e6:.0f} us  ledger seq {decision.ledger_seq}")


def score_lines(gate: Gate, lines: IO[str], out: IO[str]) -> tuple[int, int]:
    """Score every line of `lines` to `out` (the `stakes score` contract).

    One output line per input line, in order. A malformed line yields
    `{"line": N, "error": "..."}` and scoring goes on. Identity for stateful limits comes from
    each line's `agent` field: the operator who runs `score` vouches for the file.

    Returns:
        (lines scored, lines with errors)
    """
    ok = bad = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            out.write(json.dumps({"line": number, "error": "empty line"}) + "\n")
            bad += 1
            continue
        try:
            action = Action.from_json_line(raw, line=number)
            assessment = gate.assess(action, agent=action.agent or None)
        except StakesError as exc:
            out.write(json.dumps({"line": number, "error": exc.message, "code": exc.code}) + "\n")
            bad += 1
            continue
        except Exception as exc:  # a bug must not crash the batch: report the line
            out.write(json.dumps({"line": number, "error": f"internal error: {exc}",
                                  "code": "internal"}) + "\n")
            bad += 1
            continue
        row: dict[str, Any] = {"id": action.id or None}
        row.update(assessment.to_json())
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        ok += 1
    return ok, bad


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@policy_option
@click.option("--output", "-o", default="-", type=click.Path(dir_okay=False, allow_dash=True),
              help="Where to write the JSONL scores (default stdout).")
@fail_cleanly
def score(file: str, policy: str | None, output: str) -> None:
    """Score every action of FILE.jsonl: one JSON line per input line, in order."""
    gate = Gate.from_policy(policy)
    try:
        source: IO[str] = sys.stdin if file == "-" else open(file, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"cannot read `{file}`: {exc.strerror}", code="input.unreadable") from None
    sink: IO[str] = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        ok, bad = score_lines(gate, source, sink)
    finally:
        if source is not sys.stdin:
            source.close()
        if sink is not sys.stdout:
            sink.close()
    if output != "-":
        console.print(f"scored {ok} actions, {bad} lines with errors -> {output}")
