"""`stakes approvals list|approve|deny`: the human side of the request process.

The operator running the command is the principal (`--as`, which must be one of the policy's
humans); the host binds that identity, never the request.
"""

from __future__ import annotations

import click
from rich.table import Table

from stakes._cli._common import (
    console,
    default_ledger,
    fail_cleanly,
    ledger_option,
    policy_option,
    print_json,
)
from stakes.control import Approvals
from stakes.errors import ApprovalError, LedgerError
from stakes.ledger import Recorder, Redactor, SqliteLedger, SqliteRequestStore
from stakes.policy import compile_policy

__all__ = ["approvals"]


def _approvals(policy: str | None, ledger: str | None) -> tuple[Approvals, SqliteLedger]:
    from pathlib import Path

    file = Path(ledger) if ledger else default_ledger()
    if not file.exists():
        raise LedgerError(f"no ledger at `{file}`", code="ledger.missing")
    compiled = compile_policy(policy)
    store = SqliteLedger(file)
    recorder = Recorder(store, redactor=Redactor(), policy_hash=compiled.hash,
                        scorer_version="cli", thresholds={})
    return Approvals(SqliteRequestStore(file), compiled, recorder=recorder), store


@click.group()
def approvals() -> None:
    """List and resolve approval requests."""


@approvals.command("list")
@policy_option
@ledger_option
@click.option("--status",
              type=click.Choice(["pending", "approved", "denied", "expired", "executed"]),
              default=None)
@click.option("--json", "as_json", is_flag=True)
@fail_cleanly
def list_requests(policy: str | None, ledger: str | None, status: str | None,
                  as_json: bool) -> None:
    """List requests (overdue ones expire first)."""
    queue, store = _approvals(policy, ledger)
    with store:
        requests = queue.list(status)  # type: ignore[arg-type]  # click.Choice checked it
    if as_json:
        print_json([r.to_json() for r in requests])
        return
    table = Table(box=None, header_style="bold")
    table.add_column("id", no_wrap=True)
    for column in ("status", "agent", "tool", "needs"):
        table.add_column(column)
    table.add_column("args hash", no_wrap=True)
    table.add_column("expires", no_wrap=True)
    for r in requests:
        table.add_row(r.id, r.status, r.agent, r.tool, r.required_clearance or "-",
                      r.args_hash[:12], r.expires_at[:16].replace("T", " "))
    console.print(table)


@approvals.command()
@click.argument("request_id")
@click.option("--as", "principal", required=True, help="Who approves (a policy human).")
@click.option("--hash", "args_hash", default=None, help="The args hash you reviewed "
              "(the approval is refused if the request is for different arguments).")
@click.option("--note", default="")
@policy_option
@ledger_option
@fail_cleanly
def approve(request_id: str, principal: str, args_hash: str | None, note: str,
            policy: str | None, ledger: str | None) -> None:
    """Approve REQUEST_ID."""
    queue, store = _approvals(policy, ledger)
    with store:
        _human_only(queue, principal)
        request = queue.approve(request_id, by=principal, args_hash=args_hash, note=note)
    console.print(f"[green]approved[/green] {request.id} ({request.tool} by {request.agent})")


@approvals.command()
@click.argument("request_id")
@click.option("--as", "principal", required=True, help="Who denies (a policy human).")
@click.option("--note", default="")
@policy_option
@ledger_option
@fail_cleanly
def deny(request_id: str, principal: str, note: str, policy: str | None,
         ledger: str | None) -> None:
    """Deny REQUEST_ID."""
    queue, store = _approvals(policy, ledger)
    with store:
        _human_only(queue, principal)
        request = queue.deny(request_id, by=principal, note=note)
    console.print(f"[red]denied[/red] {request.id} ({request.tool} by {request.agent})")


def _human_only(queue: Approvals, principal: str) -> None:
    """The CLI speaks for humans only: agents approve through their own gate handle."""
    if principal not in queue.policy.spec.approvals.humans:
        raise ApprovalError(f"`{principal}` is not a human in the policy's `approvals.humans`",
                            code="approval.not_human")
