"""Datasets by name (`agentdojo`, `corpus`, `demo`) or by path (a JSONL file of examples)."""

from __future__ import annotations

from pathlib import Path

from stakes.datasets._example import Example, read_examples
from stakes.errors import InputError

__all__ = ["DATASET_NAMES", "load_dataset"]

DATASET_NAMES = ("agentdojo", "corpus", "demo")


def load_dataset(name: str) -> list[Example]:
    """Load a dataset by name or path.

    - `agentdojo`: the AgentDojo suites converted (and cached) by `load_agentdojo`;
    - `corpus`: the bundled hand-written ops corpus, with evasive forms;
    - `demo`: the demo's synthetic ops traffic (seed 2000, never the demo's evaluation seed);
    - anything else: a JSONL file of examples (`write_examples` format).

    Raises:
        InputError: for an unknown name that is not a readable file, or a bad line in it.
    """
    if name == "agentdojo":
        from stakes.datasets._agentdojo import load_agentdojo

        return list(load_agentdojo().examples)
    if name == "corpus":
        from stakes.datasets._corpus import corpus_examples

        return corpus_examples()
    if name == "demo":
        from stakes.datasets._demo import demo_examples

        return demo_examples()
    path = Path(name)
    if not path.is_file():
        raise InputError(f"no dataset `{name}`: give one of {', '.join(DATASET_NAMES)} or a "
                         "JSONL file of examples", field="dataset")
    return read_examples(path)
