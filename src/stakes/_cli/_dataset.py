"""`stakes dataset agentdojo`: AgentDojo's suites as labeled examples (cached), with counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from stakes._cli._common import console, fail_cleanly
from stakes.datasets import (
    AGENTDOJO_SUITES,
    AgentDojoDataset,
    load_agentdojo,
    write_examples,
)

__all__ = ["dataset", "render_manifest"]

_ROWS = (
    ("user tasks", "user_tasks", None),
    ("injection tasks", "injection_tasks", None),
    ("injectable user tasks", "injectable_user_tasks", None),
    ("benign clean (writes)", "benign_clean", "benign_clean_side_effect"),
    ("benign attacked (writes)", "benign_attacked", "benign_attacked_side_effect"),
    ("harmful (writes)", "harmful", "harmful_side_effect"),
    ("pairs", "pairs", None),
    ("pairs selected", "pairs_selected", None),
    ("pairs converted", "pairs_converted", None),
    ("injection goal met", "injection_goal_met", None),
)


@click.group()
def dataset() -> None:
    """Build labeled example datasets."""


@dataset.command()
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the examples to this JSONL file.")
@click.option("--refresh", is_flag=True, help="Convert again even when a cache exists.")
@click.option("--suite", "suites", multiple=True, type=click.Choice(AGENTDOJO_SUITES),
              help="A suite to convert (repeatable; default all).")
@click.option("--max-pairs", type=click.IntRange(min=0), default=None,
              help="At most this many (user task, injection task) pairs per suite.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Cache directory (default: $STAKES_CACHE_DIR, else ~/.cache/stakes).")
@fail_cleanly
def agentdojo(out: Path | None, refresh: bool, suites: tuple[str, ...], max_pairs: int | None,
              cache_dir: Path | None) -> None:
    """AgentDojo (v1.2.2) ground-truth trajectories as benign and harmful examples."""
    with console.status("converting agentdojo (cached after the first run)"):
        data = load_agentdojo(cache_dir=cache_dir, suites=suites or None, refresh=refresh,
                              max_pairs_per_suite=max_pairs)
    render_manifest(data)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        count = write_examples(data.examples, out)
        console.print(f"wrote {count} examples to {escape(str(out))}")


def render_manifest(data: AgentDojoDataset) -> None:
    """Print the manifest: versions, counts per suite, skipped pairs and every issue."""
    m: dict[str, Any] = data.manifest
    origin = "cache" if data.from_cache else f"converted in {m.get('seconds', 0):.1f} s"
    console.print(f"[bold]agentdojo[/] {m.get('agentdojo_version')} benchmark "
                  f"{m.get('benchmark_version')}: {m.get('examples')} examples ({origin}, "
                  f"created {m.get('created')})")
    if data.path is not None:
        console.print(f"cache {escape(str(data.path))}", soft_wrap=True)
    counts: dict[str, dict[str, Any]] = m.get("counts", {})
    suites = [name for name in m.get("suites", counts) if name in counts]
    table = Table("", *suites, "all", box=None, header_style="bold")
    for column in table.columns[1:]:
        column.justify = "right"
    columns = [counts[name] for name in suites] + [m.get("totals", {})]
    for label, key, writes in _ROWS:
        table.add_row(label, *(f"{row.get(key, 0)}" + (f" ({row.get(writes, 0)})" if writes
                                                        else "") for row in columns))
    skipped = [counts[name].get("pairs_skipped", {}) for name in suites]
    reasons = sorted({reason for row in skipped for reason in row})
    for reason in reasons:
        per_suite = [row.get(reason, 0) for row in skipped]
        table.add_row(f"pairs skipped: {escape(reason)}", *map(str, per_suite),
                      str(sum(per_suite)))
    console.print(table)
    issues = m.get("issues", [])
    if issues:
        listing = Table("suite", "task", "kind", "pairs", "reason", box=None,
                        header_style="bold")
        listing.columns[1].no_wrap = True
        for issue in issues:
            listing.add_row(issue["suite"], issue["task"], issue["kind"], str(issue["pairs"]),
                            escape(issue["reason"]))
        console.print(listing)
    for warning in m.get("warnings", []):
        console.print(f"[yellow]warning[/] {escape(warning)}", soft_wrap=True)
