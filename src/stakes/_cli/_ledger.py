"""`stakes ledger verify|head|export`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO

import click

from stakes._cli._common import console, default_ledger, fail_cleanly, ledger_option, print_json
from stakes.errors import InputError, LedgerError
from stakes.ledger import Head, SqliteLedger, export_jsonl

__all__ = ["ledger"]


def _open(path: str | None) -> SqliteLedger:
    file = Path(path) if path else default_ledger()
    if not file.exists():
        raise LedgerError(f"no ledger at `{file}`", code="ledger.missing")
    return SqliteLedger(file)


@click.group()
def ledger() -> None:
    """Verify, pin and export the decision ledger."""


@ledger.command()
@ledger_option
@click.option("--head", "head_file", type=click.Path(exists=True, dir_okay=False),
              help="A head saved by `stakes ledger head`: also detects truncation and a "
              "recomputed chain.")
@click.option("--json", "as_json", is_flag=True)
@fail_cleanly
def verify(ledger: str | None, head_file: str | None, as_json: bool) -> None:
    """Check the hash chain; name the first entry edited, deleted or reordered (exit 1)."""
    head = None
    if head_file:
        try:
            head = Head.from_json(json.loads(Path(head_file).read_text("utf-8")))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"not a saved head: {exc}", code="input.bad_head",
                             file=head_file) from None
    with _open(ledger) as store:
        report = store.verify(head=head)
    if as_json:
        print_json({"ok": report.ok, "checked": report.checked,
                    "first_bad_seq": report.first_bad_seq, "problem": report.problem})
    elif report.ok:
        console.print(f"[green]ledger verified[/green]: {report.checked} entries")
    else:
        console.print(f"[red]ledger FAILED verification[/red]: {report.problem}")
    if not report.ok:
        sys.exit(1)


@ledger.command()
@ledger_option
@fail_cleanly
def head(ledger: str | None) -> None:
    """Print the current head (seq and hash) as JSON: save it somewhere the agents cannot write."""
    with _open(ledger) as store:
        print_json(store.head().to_json())


@ledger.command()
@ledger_option
@click.option("--labels", is_flag=True, help="Export escalated decisions as labeled examples.")
@click.option("--output", "-o", default="-", type=click.Path(dir_okay=False, allow_dash=True))
@fail_cleanly
def export(ledger: str | None, labels: bool, output: str) -> None:
    """Write the ledger as JSONL (one event per line, in order)."""
    with _open(ledger) as store:
        sink: IO[str] = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")  # noqa: SIM115
        try:
            export_jsonl(store, sink, labels=labels)
        finally:
            if sink is not sys.stdout:
                sink.close()
