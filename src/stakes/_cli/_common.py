"""Shared CLI plumbing: option precedence (flag > STAKES_* environment > default), errors."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from stakes.errors import StakesError

__all__ = ["console", "default_ledger", "err_console", "fail_cleanly", "ledger_option",
           "policy_option", "print_json"]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])


def default_ledger() -> Path:
    """The ledger path: `$STAKES_LEDGER`, else `.stakes/ledger.db` in the working directory."""
    return Path(os.environ.get("STAKES_LEDGER") or ".stakes/ledger.db")


policy_option = click.option(
    "--policy", "-p", "policy", envvar="STAKES_POLICY", default=None, metavar="FILE",
    help="Policy file (default: $STAKES_POLICY, else the bundled default policy).",
)
ledger_option = click.option(
    "--ledger", "-l", "ledger", envvar="STAKES_LEDGER", default=None, metavar="FILE",
    help="Ledger database (default: $STAKES_LEDGER, else .stakes/ledger.db).",
)


def fail_cleanly(fn: F) -> F:
    """Turn a `StakesError` into a one-line message on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StakesError as exc:
            err_console.print(f"[red]error[/red] {escape(f'[{exc.code}] {exc}')}", markup=True,
                              highlight=False, soft_wrap=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def print_json(obj: Any) -> None:
    """One JSON document on stdout (no rich markup)."""
    click.echo(json.dumps(obj, ensure_ascii=False, sort_keys=False))
