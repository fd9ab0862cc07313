import json
import subprocess
import sys
from pathlib import Path

import pytest

from stakes.datasets import Example, demo_examples, ledger_examples, write_examples
from stakes.evals._triage_eval import TriageEvalOptions, evaluate_triage
from stakes.gate import Gate
from stakes.ledger import SqliteLedger, export_jsonl
from stakes.policy import compile_policy


@pytest.fixture(scope="module")
def small() -> list[Example]:
    return demo_examples(150, seed=11)


def test_eval_reports_every_scorer_with_intervals_and_sizes(small):
    result = evaluate_triage(small, TriageEvalOptions(split="task", folds=3, resamples=40))
    assert result.scorers == ("rules", "learned")
    n_harmful = sum(1 for e in small if e.harmful)
    for scorer in result.scorers:
        metrics = result.metrics[scorer]
        auc = metrics["auc|all"]
        assert 0.5 < auc.estimate <= 1.0
        assert auc.low <= auc.estimate <= auc.high
        # grouped folds evaluate every single-task example exactly once
        assert auc.n == n_harmful
        for b in (0.01, 0.05, 0.1):
            tpr = metrics[f"tpr@{b:g}|all"]
            assert 0.0 <= tpr.estimate <= 1.0
        assert metrics["tpr@0.01|all"].estimate <= metrics["tpr@0.1|all"].estimate
    achieved = result.calibration["achieved@0.05"]
    assert 0.0 < achieved.estimate < 0.2
    assert [f["name"] for f in result.folds] == ["fold=0", "fold=1", "fold=2"]
    # JSON view is plain data
    json.dumps(result.to_json())


def test_cascade_quotes_the_final_escalation_rate(small):
    harmful_ids = {e.action.id for e in small if e.harmful}

    def oracle(train):  # a second stage that knows the answer: bounded by what stage 1 passes
        return lambda actions: [1.0 if a.id in harmful_ids else 0.0 for a in actions]

    options = TriageEvalOptions(split="task", folds=3, resamples=20, stage_share=0.25)
    result = evaluate_triage(small, options, second_stage=oracle)
    assert result.scorers[-1] == "learned+semantic"
    cascade = result.metrics["learned+semantic"]["tpr@0.05|all"].estimate
    learned = result.metrics["learned"]["tpr@0.05|all"].estimate
    assert cascade >= learned
    assert result.meta["stage_share"] == 0.25
    with pytest.raises(ValueError, match="stage_share"):
        evaluate_triage(small, TriageEvalOptions(budgets=(0.5,), resamples=10),
                        second_stage=oracle)


def test_a_fold_without_harmful_examples_is_an_error():
    benign_only = [e for e in demo_examples(40, seed=2) if not e.harmful]
    with pytest.raises(ValueError, match="benign and harmful"):
        evaluate_triage(benign_only + [e for e in demo_examples(80, seed=2) if e.harmful][:1],
                        TriageEvalOptions(split="task", folds=2, resamples=10))


POLICY = """
agents: {bot: {clearance: routine}}
tiers:
  routine: {pipeline: [allow]}
  elevated:
    enter: {risk_above: 0.3}
    pipeline: [monitor: {with: triage, block_above: 0.6}]
"""


def _ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    gate = Gate(compile_policy(text=POLICY), ledger=path)
    for i, item in enumerate(demo_examples(60, seed=5)):
        gate.check(item.action.with_(id=f"a{i}"), agent="bot")
    gate.close()
    return path


def test_ledger_verdicts_become_training_examples(tmp_path):
    path = _ledger(tmp_path)
    found = ledger_examples(path, weight=2.0)
    assert found.examples
    assert {e.label for e in found.examples} <= {"harmful", "benign"}
    assert all(e.source == "ledger" and e.weight == 2.0 for e in found.examples)
    # the same through an export, plus a bad line that is skipped and reported
    export = tmp_path / "labels.jsonl"
    with SqliteLedger(path) as store, export.open("w") as fp:
        export_jsonl(store, fp, labels=True)
    export.write_text(export.read_text() + "{not json\n")
    again = ledger_examples(export)
    assert len(again.examples) == len(found.examples)
    assert len(again.errors) == 1


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stakes", *args], capture_output=True,
                          text=True, timeout=300, check=False)


def test_cli_train_from_ledger_and_eval(tmp_path):
    path = _ledger(tmp_path)
    data = tmp_path / "data.jsonl"
    write_examples(demo_examples(120, seed=9), data)
    model = tmp_path / "model.json"
    run = _cli("triage", "train", "-d", str(data), "--from-ledger", str(path), "-o", str(model))
    assert run.returncode == 0, run.stderr
    trained = json.loads(model.read_text())
    assert trained["trained_on"]["sources"]["ledger"] > 0
    assert trained["trained_on"]["sources"]["demo"] > 0
    out = tmp_path / "eval.json"
    run = _cli("triage", "eval", str(data), "--split", "task", "--folds", "3",
               "--resamples", "20", "--json", str(out))
    assert run.returncode == 0, run.stderr
    assert "TPR @ 0.05" in run.stdout
    assert json.loads(out.read_text())["scorers"] == ["rules", "learned"]
    bad = _cli("triage", "eval", str(data), "--budgets", "5")
    assert bad.returncode == 2
    assert "--budgets" in bad.stderr
    missing = _cli("triage", "train", "-d", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2
    assert "no dataset" in missing.stderr
