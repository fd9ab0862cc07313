"""Regenerate tests/fixtures/agentdojo-small.jsonl: a small, real AgentDojo subset.

    python bench/make_agentdojo_fixture.py [--cache-dir DIR]

Deterministic: the full conversion (cached by `load_agentdojo`) is filtered by CRC32 orders,
no randomness. Per suite: the clean benign calls and hard negatives of user tasks taken in CRC32
order until about 50 such examples, and the first 50 harmful examples in CRC32 order of their
ids. Examples whose JSON passes 16 KB (the workspace inbox dumps) are left out to keep the file
small.
"""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import orjson

from stakes.datasets import AGENTDOJO_SUITES, Example, load_agentdojo, write_examples

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "agentdojo-small.jsonl"
BENIGN_PER_SUITE = 50
HARMFUL_PER_SUITE = 50
MAX_BYTES = 16_000


def crc(text: str) -> int:
    return zlib.crc32(text.encode())


def select(examples: tuple[Example, ...]) -> list[Example]:
    small = [e for e in examples if len(orjson.dumps(e.to_json())) <= MAX_BYTES]
    keep: set[str] = set()
    for suite in AGENTDOJO_SUITES:
        benign = [e for e in small if e.suite == suite and not e.harmful]
        tasks = sorted({e.extra["user_task"] for e in benign}, key=lambda t: crc(f"{suite}/{t}"))
        chosen: list[Example] = []
        for task in tasks:
            if len(chosen) >= BENIGN_PER_SUITE:
                break
            chosen += [e for e in benign if e.extra["user_task"] == task]
        harmful = sorted((e for e in small if e.suite == suite and e.harmful),
                         key=lambda e: crc(e.action.id))[:HARMFUL_PER_SUITE]
        keep.update(e.action.id for e in chosen + harmful)
    return [e for e in examples if e.action.id in keep]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = load_agentdojo(cache_dir=args.cache_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    count = write_examples(select(data.examples), args.out)
    print(f"wrote {count} examples to {args.out} (agentdojo {data.manifest['agentdojo_version']})")


if __name__ == "__main__":
    main()
