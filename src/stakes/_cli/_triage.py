"""`stakes triage train|eval`: fit the learned scorer, and measure every scorer held out."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from stakes._cli._common import console, err_console, fail_cleanly, policy_option
from stakes.datasets import Example, ledger_examples, load_dataset
from stakes.errors import InputError

if TYPE_CHECKING:
    from stakes.evals import Interval
    from stakes.evals._triage_eval import TriageEval

__all__ = ["triage"]


@click.group()
def triage() -> None:
    """Train and evaluate the triage scorers."""


def _datasets(names: tuple[str, ...]) -> list[Example]:
    out: list[Example] = []
    for name in names:
        examples = load_dataset(name)
        err_console.print(f"{name}: {len(examples)} examples "
                          f"({sum(1 for e in examples if e.harmful)} harmful)")
        out.extend(examples)
    return out


@triage.command("train")
@click.option("--data", "-d", "data", multiple=True, metavar="NAME|FILE",
              help="Training data: agentdojo, corpus, demo or a JSONL file of examples "
              "(repeatable; default: corpus, agentdojo and demo).")
@click.option("--from-ledger", "ledgers", multiple=True, metavar="FILE",
              help="Fold in the escalated decisions of a ledger (database or `ledger export "
              "--labels` JSONL) as labeled examples (repeatable).")
@click.option("--ledger-weight", default=2.0, show_default=True, type=float,
              help="Training weight of each ledger example.")
@click.option("--l2", default=1.0, show_default=True, type=float, help="L2 penalty.")
@click.option("--out", "-o", default="triage-model.json", show_default=True,
              type=click.Path(dir_okay=False), help="Where to write the model.")
@fail_cleanly
def train_command(data: tuple[str, ...], ledgers: tuple[str, ...], ledger_weight: float,
                  l2: float, out: str) -> None:
    """Fit the learned suspicion scorer and write its weights (JSON)."""
    from stakes.triage._train import TrainOptions, train

    if l2 < 0 or not math.isfinite(l2):
        raise InputError(f"`--l2` must be a number >= 0, not `{l2}`", field="l2")
    if ledger_weight < 0 or not math.isfinite(ledger_weight):
        raise InputError(f"`--ledger-weight` must be >= 0, not `{ledger_weight}`",
                         field="ledger_weight")
    examples = _datasets(data or (("corpus", "agentdojo", "demo") if not ledgers else ()))
    for path in ledgers:
        found = ledger_examples(path, weight=ledger_weight)
        for line, message in found.errors:
            err_console.print(f"[yellow]skipped[/yellow] {path}:{line}: {message}")
        err_console.print(f"{path}: {len(found.examples)} labeled decisions "
                          f"({sum(1 for e in found.examples if e.harmful)} harmful), "
                          f"{found.unknown} unjudged skipped")
        examples.extend(found.examples)
    if not examples:
        raise InputError("no training examples", field="data")
    model = train(examples, TrainOptions(l2=l2))
    model.save(out)
    console.print(f"[green]trained[/green] {model.version} on {len(examples)} examples "
                  f"({sum(1 for e in examples if e.harmful)} harmful; "
                  f"{dict(Counter(e.source for e in examples))}): {len(model.weights)} weights "
                  f"-> {out}")


def _parse_budgets(text: str) -> tuple[float, ...]:
    try:
        budgets = tuple(float(b) for b in text.split(",") if b.strip())
    except ValueError:
        raise InputError(f"`--budgets` must be comma-separated fractions, not `{text}`",
                         field="budgets") from None
    if not budgets or any(not 0.0 < b < 1.0 for b in budgets):
        raise InputError(f"`--budgets` must be fractions in (0, 1), not `{text}`",
                         field="budgets")
    return budgets


@triage.command("eval")
@click.argument("dataset")
@click.option("--split", type=click.Choice(["suite", "task"]), default="suite",
              show_default=True, help="Leave one suite out, or k folds grouped by task.")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 50))
@click.option("--budgets", default="0.01,0.05,0.10", show_default=True,
              help="Benign escalation budgets (fractions).")
@click.option("--semantic/--no-semantic", default=False, show_default=True,
              help="Also evaluate learned + semantic (needs the `semantic` extra).")
@click.option("--train-extra", multiple=True, metavar="NAME|FILE",
              help="Add a dataset to every fold's training side (never evaluated on).")
@click.option("--score", type=click.Choice(["risk", "suspicion"]), default="risk",
              show_default=True)
@click.option("--resamples", default=1000, show_default=True, type=click.IntRange(10, 100000))
@click.option("--json", "json_out", default=None, type=click.Path(dir_okay=False),
              help="Also write the full result as JSON.")
@policy_option
@fail_cleanly
def eval_command(dataset: str, split: str, folds: int, budgets: str, semantic: bool,
                 train_extra: tuple[str, ...], score: str, resamples: int,
                 json_out: str | None, policy: str | None) -> None:
    """ROC AUC and TPR at each benign escalation budget, held out, with bootstrap intervals."""
    from stakes.evals._triage_eval import TriageEvalOptions, evaluate_triage
    from stakes.policy import compile_policy

    options = TriageEvalOptions(
        split=split,  # type: ignore[arg-type]
        folds=folds, budgets=_parse_budgets(budgets), score=score,  # type: ignore[arg-type]
        resamples=resamples, train_extra=tuple(_datasets(train_extra)),
    )
    examples = _datasets((dataset,))
    second = None
    if semantic:
        from stakes.triage._semantic import semantic_second_stage

        second = semantic_second_stage()
    result = evaluate_triage(examples, options, policy=compile_policy(policy),
                             second_stage=second,
                             progress=lambda m: err_console.print(f"[dim]{m}[/dim]"))
    if json_out:
        Path(json_out).write_text(json.dumps(result.to_json(), indent=1), encoding="utf-8")
    _print(result)


def _print(result: TriageEval) -> None:
    budgets = result.meta["budgets"]
    table = Table(box=None, header_style="bold",
                  title=f"held out ({result.meta['split']} split), score = "
                  f"{result.meta['score']}; interval = 95% cluster bootstrap; n = harmful")
    table.add_column("scorer")
    table.add_column("subset")
    table.add_column("n", justify="right")
    table.add_column("ROC AUC")
    for b in budgets:
        table.add_column(f"TPR @ {b:g}")
    subsets = [s.removeprefix("auc|") for s in result.metrics[result.scorers[0]]
               if s.startswith("auc|")]
    for scorer in result.scorers:
        metrics = result.metrics[scorer]
        for subset in subsets:
            auc = metrics[f"auc|{subset}"]
            if auc.n == 0:
                continue
            table.add_row(scorer, subset, str(auc.n), _short(auc),
                          *(_short(metrics[f"tpr@{b:g}|{subset}"]) for b in budgets))
        table.add_section()
    console.print(table)
    calib = ", ".join(f"{k.removeprefix('achieved@')}: {_short(v)}"
                      for k, v in result.calibration.items())
    console.print(f"learned, thresholds fit on the training side instead, benign escalation "
                  f"achieved held out, per budget: {calib}")
    attacked = result.metrics[result.scorers[-1]]
    if attacked[f"benign_attacked@{budgets[0]:g}"].n:
        line = ", ".join(f"{b:g}: {_short(attacked[f'benign_attacked@{b:g}'])}"
                         for b in budgets)
        console.print(f"{result.scorers[-1]}: share of benign calls made after an injection "
                      f"landed that escalate, per budget: {line}")
    console.print(f"[dim]{result.meta['examples']} examples, {result.meta['harmful']} harmful, "
                  f"{len(result.folds)} folds, {result.meta['seconds']} s[/dim]")


def _short(interval: Interval) -> str:
    if math.isnan(interval.estimate):
        return "n/a"
    return f"{interval.estimate:.2f} [{interval.low:.2f}-{interval.high:.2f}]"
