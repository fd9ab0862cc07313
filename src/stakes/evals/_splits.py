"""Grouped splits: nothing about a task (or a suite) crosses from training into evaluation.

- `leave_one_suite_out`: one fold per suite; the held-out suite's tools, tasks and data are
  never seen in training (so it also measures tools never seen).
- `grouped_folds`: k folds by task. A task's fold is CRC-32(task id) mod k, so every example of
  a task lands in the same fold. An example built from two tasks (an attack: user task + injection
  task, group `suite/u+i`) is evaluated in fold f only when both tasks fall in f, and trains
  fold f only when neither does; otherwise it is left out of that fold entirely.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from stakes.datasets import Example, groups_of

__all__ = ["Fold", "grouped_folds", "leave_one_suite_out"]


@dataclass(frozen=True, slots=True)
class Fold:
    """One split: indices into the example list.

    Attributes:
        name: `suite=<name>` or `fold=<k>`.
        train: Indices of training examples.
        test: Indices of held-out examples.
    """

    name: str
    train: tuple[int, ...]
    test: tuple[int, ...]


def leave_one_suite_out(examples: Sequence[Example]) -> list[Fold]:
    """One fold per suite (sorted by name): train on the other suites, test on this one."""
    suites = sorted({e.suite for e in examples})
    return [
        Fold(name=f"suite={suite}",
             train=tuple(i for i, e in enumerate(examples) if e.suite != suite),
             test=tuple(i for i, e in enumerate(examples) if e.suite == suite))
        for suite in suites
    ]


def _fold_of(task: str, k: int) -> int:
    return zlib.crc32(task.encode()) % k


def grouped_folds(examples: Sequence[Example], k: int = 5) -> list[Fold]:
    """Split into k folds by task (see the module docstring).

    Raises:
        ValueError: when k < 2.
    """
    if k < 2:
        raise ValueError(f"k must be at least 2, got `{k}`")
    parts = [{_fold_of(task, k) for task in groups_of(e.group)} for e in examples]
    return [
        Fold(name=f"fold={f}",
             train=tuple(i for i, p in enumerate(parts) if f not in p),
             test=tuple(i for i, p in enumerate(parts) if p == {f}))
        for f in range(k)
    ]
