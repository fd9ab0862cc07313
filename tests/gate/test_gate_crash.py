"""A decision returned by the gate survives kill -9 of the process that made it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from stakes.ledger import SqliteLedger

AGENT = """
import sys
from stakes import Gate
gate = Gate.from_policy(ledger=sys.argv[1])
bot = gate.agent("ops-bot")
n = 0
while True:
    tool = "payments.transfer" if n % 7 == 0 else "fs.read"
    decision = bot.check({"tool": tool, "args": {"path": f"/srv/{n}", "amount": 5}})
    print(decision.id, decision.verdict.value, flush=True)
    n += 1
"""


def test_returned_decisions_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    returned: list[str] = []
    with subprocess.Popen([sys.executable, "-c", AGENT, str(db)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=dict(os.environ)) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            returned.append(line.split()[0])
            if len(returned) == 200:
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL
    with SqliteLedger(db) as store:
        report = store.verify()
        assert report.ok, report.problem
        recorded = {e.event["decision_id"] for e in store.entries()
                    if e.event["kind"] == "decision"}
    assert set(returned) <= recorded
