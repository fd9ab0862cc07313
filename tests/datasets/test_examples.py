"""Labeled examples: JSONL round trip, groups, and errors that name the line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from stakes.datasets import Example, groups_of, iter_examples, read_examples, write_examples
from stakes.domain import Action
from stakes.errors import InputError


def _example(**changes: Any) -> Example:
    base: dict[str, Any] = dict(
        action=Action(tool="send_money", args={"recipient": "US1", "amount": 10}, id="ad/x/c0",
                      agent="agentdojo-banking", task="pay the bill",
                      context=({"role": "user", "content": "pay the bill"},)),
        label="benign", source="agentdojo", suite="banking", group="banking/user_task_0",
        side_effect=True, category="user_task",
    )
    base.update(changes)
    return Example(**base)


def _line(**changes: Any) -> str:
    obj = _example().to_json()
    obj.update(changes)
    return orjson.dumps({k: v for k, v in obj.items() if v is not ...}).decode()


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    examples = [
        _example(),
        _example(label="harmful", group="banking/user_task_0+injection_task_1",
                 category="injection", phase="attacked", weight=2.5,
                 extra={"attack": "direct", "user_task": "user_task_0"}),
        _example(form="evasive", variant_of="ad/x/c0", side_effect=False),
    ]
    path = tmp_path / "examples.jsonl"
    assert write_examples(examples, path) == 3
    assert read_examples(path) == examples
    first = orjson.loads(path.read_text().splitlines()[0])
    assert "weight" not in first
    assert "extra" not in first
    assert examples[1].harmful
    assert not examples[0].harmful


def test_blank_lines_are_skipped() -> None:
    assert len(list(iter_examples(["", _line(), "  ", _line()]))) == 2


@pytest.mark.parametrize(("changes", "field"), [
    ({"label": "evil"}, "label"),
    ({"group": ...}, "group"),
    ({"group": ""}, "group"),
    ({"suite": 3}, "suite"),
    ({"weight": -1}, "weight"),
    ({"weight": "heavy"}, "weight"),
    ({"weight": True}, "weight"),
    ({"side_effect": "yes"}, "side_effect"),
    ({"form": "sneaky"}, "form"),
    ({"extra": []}, "extra"),
])
def test_bad_fields_name_the_field_and_line(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as info:
        list(iter_examples([_line(), _line(**changes)]))
    assert info.value.context["line"] == 2
    assert info.value.context["field"] == field
    assert "line 2" in str(info.value)
    assert f"`{field}`" in str(info.value)


def test_bad_json_and_bad_action_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(_line() + "\n{not json\n")
    with pytest.raises(InputError, match="line 2: not JSON"):
        read_examples(path)
    with pytest.raises(InputError) as info:
        list(iter_examples([_line(action={"args": {}})]))
    assert info.value.context == {"line": 1, "field": "tool"}
    with pytest.raises(InputError, match="line 1: an example must be a JSON object"):
        list(iter_examples(["[1, 2]"]))


def test_groups_of_splits_pairs() -> None:
    assert groups_of("banking/user_task_3+injection_task_1") == (
        "banking/user_task_3", "banking/injection_task_1")
    assert groups_of("banking/user_task_3") == ("banking/user_task_3",)
    assert groups_of("plain") == ("plain",)
