"""Nothing is lost: a seq returned by `append` survives kill -9; several processes share a file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from stakes.ledger import SqliteLedger

WRITER = """
import sys
from stakes.ledger import SqliteLedger

path, tag, count, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
store = SqliteLedger(path)
for n in range(count):
    events = [{"v": 1, "kind": "decision", "event_id": f"{tag}-{n}-{k}", "decision_id": f"d-{n}",
               "verdict": "allow", "payload": {"n": n, "pad": "x" * 500}} for k in range(size)]
    seqs = store.append(events)
    print(seqs[-1], flush=True)
"""

pytestmark = pytest.mark.slow


def _writer(db: Path, tag: str, count: int, size: int = 1) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), tag, str(count), str(size)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )


@pytest.mark.parametrize("size", [1, 50])
def test_every_returned_seq_survives_sigkill(db: Path, size: int) -> None:
    SqliteLedger(db).close()  # create the schema first, so the writer starts appending at once
    printed: list[int] = []
    with _writer(db, "crash", 1_000_000, size) as writer:
        assert writer.stdout is not None
        assert writer.stderr is not None
        for line in writer.stdout:
            printed.append(int(line))
            if len(printed) == 300:
                writer.send_signal(signal.SIGKILL)  # mid-stream: it keeps appending until now
                break
        writer.wait(timeout=30)
        assert writer.returncode == -signal.SIGKILL, writer.stderr.read()
    with SqliteLedger(db) as store:
        report = store.verify()
        assert report.ok, report.problem
        seqs = [e.seq for e in store.entries()]
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no broken chain
    assert set(printed) <= set(seqs)  # every seq the writer was told about is there
    assert len(seqs) >= printed[-1] == 300 * size
    with SqliteLedger(db) as store:  # and the ledger is writable again
        assert store.append([{"event_id": "after", "kind": "decision"}]) == [len(seqs) + 1]


def test_two_processes_appending_at_once_keep_one_chain(db: Path) -> None:
    SqliteLedger(db).close()
    with _writer(db, "w0", 150) as first, _writer(db, "w1", 150) as second:
        for writer in (first, second):
            out, err = writer.communicate(timeout=120)
            assert writer.returncode == 0, err
            assert len(out.split()) == 150
    with SqliteLedger(db) as store:
        assert store.count() == 300
        assert store.verify(head=store.head()).ok
