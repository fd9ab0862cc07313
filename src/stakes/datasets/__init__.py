"""Labeled datasets for training and evaluating triage: AgentDojo, the corpus, the ledger."""

from stakes.datasets._demo import demo_examples
from stakes.datasets._example import (
    Example,
    groups_of,
    iter_examples,
    read_examples,
    write_examples,
)

__all__ = [
    "Example",
    "demo_examples",
    "groups_of",
    "iter_examples",
    "read_examples",
    "write_examples",
]
