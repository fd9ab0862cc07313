"""Labeled datasets for training and evaluating triage: AgentDojo, the corpus, the ledger."""

from stakes.datasets._agentdojo import (
    AGENTDOJO_BENCHMARK_VERSION,
    AGENTDOJO_SUITES,
    AgentDojoDataset,
    agentdojo_cache_path,
    convert_agentdojo,
    load_agentdojo,
)
from stakes.datasets._corpus import corpus_examples, read_corpus
from stakes.datasets._demo import demo_examples
from stakes.datasets._evasion import evasive_forms
from stakes.datasets._example import (
    Example,
    groups_of,
    iter_examples,
    read_examples,
    write_examples,
)
from stakes.datasets._ledger import LedgerLabels, ledger_examples
from stakes.datasets._named import DATASET_NAMES, load_dataset

__all__ = [
    "AGENTDOJO_BENCHMARK_VERSION",
    "AGENTDOJO_SUITES",
    "AgentDojoDataset",
    "DATASET_NAMES",
    "Example",
    "LedgerLabels",
    "agentdojo_cache_path",
    "convert_agentdojo",
    "corpus_examples",
    "demo_examples",
    "evasive_forms",
    "groups_of",
    "iter_examples",
    "ledger_examples",
    "load_agentdojo",
    "load_dataset",
    "read_corpus",
    "read_examples",
    "write_examples",
]
