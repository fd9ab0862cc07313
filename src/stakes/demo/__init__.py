"""The bundled ops deployment: labeled traffic, the reference sample, and `stakes demo`."""

from stakes.demo._reference import REFERENCE_SEED, reference_honest_actions
from stakes.demo._run import DemoOptions, DemoResult, run_demo
from stakes.demo._traffic import LabeledAction, generate_traffic, read_jsonl, write_jsonl

__all__ = [
    "REFERENCE_SEED",
    "DemoOptions",
    "DemoResult",
    "LabeledAction",
    "generate_traffic",
    "read_jsonl",
    "reference_honest_actions",
    "run_demo",
    "write_jsonl",
]
