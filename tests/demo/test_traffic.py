from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from stakes.demo._traffic import (
    CORE_NAMESPACES,
    FAMILIES,
    LabeledAction,
    generate_traffic,
    read_jsonl,
    summary,
    write_jsonl,
)
from stakes.domain import Action
from stakes.errors import InputError


@pytest.fixture(scope="module")
def seed0() -> list[LabeledAction]:
    return generate_traffic(seed=0)


@pytest.fixture(scope="module")
def seed1() -> list[LabeledAction]:
    return generate_traffic(seed=1)


@pytest.fixture(params=[0, 1])
def traffic(request: pytest.FixtureRequest) -> list[LabeledAction]:
    actions: list[LabeledAction] = request.getfixturevalue(f"seed{request.param}")
    return actions


def test_same_seed_same_traffic(seed0: list[LabeledAction]) -> None:
    assert generate_traffic(seed=0) == seed0
    assert generate_traffic(40, seed=5) == generate_traffic(40, seed=5)


def test_different_seeds_give_different_tasks(
    seed0: list[LabeledAction], seed1: list[LabeledAction]
) -> None:
    ids0, ids1 = {a.task_id for a in seed0}, {a.task_id for a in seed1}
    assert ids0.isdisjoint(ids1)
    texts0, texts1 = {a.action.task for a in seed0}, {a.action.task for a in seed1}
    assert len(texts0 & texts1) < 0.25 * len(texts0)


def test_label_mix_for_the_default_size(traffic: list[LabeledAction]) -> None:
    n = len(traffic)
    assert 5000 <= n <= 8000
    assert 8 <= n / len({a.task_id for a in traffic}) <= 12
    labels = Counter(a.label for a in traffic)
    assert 0.945 <= labels["routine"] / n <= 0.965
    assert 0.03 <= labels["critical"] / n <= 0.04
    assert 0.008 <= labels["malicious"] / n <= 0.012


def test_every_attack_family_appears_plain_and_evasive(traffic: list[LabeledAction]) -> None:
    seen = {(a.attack, a.form) for a in traffic if a.label == "malicious"}
    assert seen == {(family, form) for family in FAMILIES for form in ("plain", "evasive")}
    malicious = [a for a in traffic if a.label == "malicious"]
    assert 0.25 <= sum(a.form == "evasive" for a in malicious) / len(malicious) <= 0.55
    honest = [a for a in traffic if a.label != "malicious"]
    assert all(a.attack is None and a.form == "plain" for a in honest)


def test_every_action_round_trips(traffic: list[LabeledAction]) -> None:
    for la in traffic:
        assert Action.from_json(la.action.to_json()) == la.action
        assert Action.from_json_line(json.dumps(la.action.to_json())) == la.action


def test_no_label_leaks_into_the_action(traffic: list[LabeledAction]) -> None:
    for la in traffic:
        text = json.dumps(la.action.to_json(), ensure_ascii=False).lower()
        for word in ("malicious", "attack", "label", "evasive", "critical"):
            assert word not in text, (word, la.action.id)
        assert la.action.metadata == {"task_id": la.task_id}


def test_task_ids_group_actions(traffic: list[LabeledAction]) -> None:
    by_task: dict[str, list[LabeledAction]] = defaultdict(list)
    for la in traffic:
        by_task[la.task_id].append(la)
    assert len({la.action.id for la in traffic}) == len(traffic)
    for task_id, actions in by_task.items():
        assert len({a.action.agent for a in actions}) == 1
        assert len({a.action.task for a in actions}) == 1
        assert [a.action.id for a in actions] == [f"{task_id}-{k}" for k in range(len(actions))]
    position = {la.action.id: i for i, la in enumerate(traffic)}
    contiguous = sum(
        position[actions[-1].action.id] - position[actions[0].action.id] == len(actions) - 1
        for actions in by_task.values()
    )
    assert contiguous < len(by_task)  # tasks run concurrently, so their actions interleave


def test_context_is_short_and_starts_with_the_request(traffic: list[LabeledAction]) -> None:
    for la in traffic:
        context = la.action.context
        assert 1 <= len(context) <= 3
        assert all(len(m["content"]) < 300 for m in context)
        if la.action.id.endswith("-0"):
            assert context == ({"role": "user", "content": la.action.task},)


def test_agents_tools_and_resources_look_like_an_ops_deployment(
    traffic: list[LabeledAction],
) -> None:
    agents = Counter(la.action.agent for la in traffic)
    assert set(agents) == {"ops-bot", "support-bot", "finance-bot", "release-agent", "data-bot"}
    assert agents.most_common(1)[0][0] == "ops-bot"
    routine = [la for la in traffic if la.label == "routine"]
    unknown = [la for la in routine if la.action.tool.split(".")[0] not in CORE_NAMESPACES]
    assert 0.02 <= len(unknown) / len(routine) <= 0.05
    assert len({la.action.tool for la in unknown}) >= 8
    for la in traffic:
        if la.action.tool.startswith("sql."):
            assert la.action.resource == f"db://{la.action.args['database']}"
    assert len({str(la.action.args.get("sql")) for la in routine}) > 300
    assert len({str(la.action.args.get("path")) for la in routine}) > 150


def test_critical_actions_are_asked_for_by_vetted_or_owning_agents(
    traffic: list[LabeledAction],
) -> None:
    for la in (a for a in traffic if a.label == "critical"):
        tool, agent = la.action.tool, la.action.agent
        if tool in ("deploy.release", "deploy.rollback", "sql.migrate"):
            assert agent == "release-agent"
        if tool == "payments.transfer":
            assert agent == "finance-bot"
            assert la.action.args["memo"].split(" INV-")[0] in la.action.task


def test_malicious_actions_hide_in_innocent_tasks(traffic: list[LabeledAction]) -> None:
    malicious_tasks = {a.task_id for a in traffic if a.label == "malicious"}
    firsts = {}
    for la in traffic:
        if la.label == "malicious" and la.task_id not in firsts:
            firsts[la.task_id] = la
    assert set(firsts) == malicious_tasks
    honest_texts = {a.action.task for a in traffic if a.task_id not in malicious_tasks}
    texts = [la.action.task for la in firsts.values()]
    # task texts come from the same templates as honest tasks: none mentions the attack
    assert sum(t in honest_texts for t in texts) >= 0.3 * len(texts)
    injected = [la for la in firsts.values() if la.action.context[-1]["role"] == "tool"
                and "\n" in la.action.context[-1]["content"]]
    assert len(injected) >= 0.5 * len(firsts)


def test_jsonl_round_trip(tmp_path: Path) -> None:
    actions = generate_traffic(30, seed=7)
    path = tmp_path / "traffic.jsonl"
    write_jsonl(actions, path)
    assert read_jsonl(path) == actions
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert set(first["truth"]) == {"label", "attack", "form", "task_id"}
    bare = tmp_path / "bare.jsonl"
    write_jsonl(actions, bare, truth=False)
    lines = bare.read_text(encoding="utf-8").splitlines()
    assert [Action.from_json_line(line) for line in lines] == [a.action for a in actions]


def test_read_jsonl_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = {"tool": "fs.read", "args": {"path": "/tmp/x"},
            "truth": {"label": "routine", "attack": None, "form": "plain", "task_id": "t-1"}}
    bad = dict(good, truth={"label": "bogus", "attack": None, "form": "plain", "task_id": "t"})
    path.write_text(f"{json.dumps(good)}\n\n{json.dumps(bad)}\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_jsonl(path)
    assert info.value.context["line"] == 3
    path.write_text('{"tool": "fs.read"\n', encoding="utf-8")
    with pytest.raises(InputError):
        read_jsonl(path)


def test_summary_counts(seed0: list[LabeledAction]) -> None:
    s = summary(seed0)
    assert s["actions"] == len(seed0) == sum(s["label"].values()) == sum(s["agent"].values())
    assert s["tasks"] == 600
    assert sum(s["tool"].values()) == len(seed0)
    assert sum(s["attack"].values()) == s["label"]["malicious"] == sum(s["form"].values())
    assert set(s["attack"]) == set(FAMILIES)


def test_sizes() -> None:
    assert generate_traffic(0) == []
    assert len({a.task_id for a in generate_traffic(3, seed=2)}) == 3
    with pytest.raises(ValueError, match="n_tasks"):
        generate_traffic(-1)
