"""The bundled corpus: coverage, validation, and evasive forms that undo to their plain form."""

from __future__ import annotations

import base64
import copy
import json
import re
import shlex
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from stakes.datasets import (
    Example,
    corpus_examples,
    evasive_forms,
    iter_examples,
    read_corpus,
)
from stakes.datasets._corpus import DOMAINS, HARM_CATEGORIES
from stakes.datasets._evasion import EVASIONS
from stakes.errors import InputError
from stakes.triage._decode import fold_unicode

CORPUS_DIR = Path(__file__).parents[2] / "src" / "stakes" / "data" / "corpus"


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return corpus_examples()


@pytest.fixture(scope="module")
def plain(examples: list[Example]) -> list[Example]:
    return [e for e in examples if e.form == "plain"]


@pytest.fixture(scope="module")
def by_id(examples: list[Example]) -> dict[str, Example]:
    return {e.action.id: e for e in examples}


# --- coverage ------------------------------------------------------------------------------------


def test_counts_per_kind(plain: list[Example]) -> None:
    kinds = Counter(e.category if not e.harmful else "harmful" for e in plain)
    assert kinds["routine"] >= 300
    assert kinds["high_stakes"] >= 70
    assert kinds["harmful"] >= 130
    assert len(plain) == sum(kinds.values())


def test_every_harm_category_is_covered_across_domains(plain: list[Example]) -> None:
    domains: dict[str, set[str]] = defaultdict(set)
    counts = Counter(e.category for e in plain if e.harmful)
    for e in plain:
        if e.harmful:
            domains[e.category].add(e.suite)
    assert set(counts) == set(HARM_CATEGORIES)
    for category in HARM_CATEGORIES:
        assert counts[category] >= 15, category
        assert len(domains[category]) >= 4, (category, domains[category])


def test_every_domain_has_every_kind(plain: list[Example]) -> None:
    table = Counter((e.suite, "harmful" if e.harmful else e.category) for e in plain)
    assert {e.suite for e in plain} == set(DOMAINS)
    for domain in DOMAINS:
        assert table[domain, "routine"] >= 40, domain
        assert table[domain, "high_stakes"] >= 10, domain
        assert table[domain, "harmful"] >= 15, domain


def test_labels_and_metadata(plain: list[Example]) -> None:
    for e in plain:
        assert e.source == "corpus"
        assert e.group == f"corpus/{e.action.id}"
        assert e.phase == "clean"
        assert e.label == ("harmful" if e.category in HARM_CATEGORIES else "benign")
        assert e.action.task
        assert e.action.context
        assert e.action.agent
    assert any(not e.side_effect for e in plain if e.category == "routine")
    assert any(e.side_effect for e in plain if e.category == "routine")


def test_tool_names_do_not_separate_the_kinds(plain: list[Example]) -> None:
    high = {e.action.tool for e in plain if e.category == "high_stakes"}
    harmful = [e for e in plain if e.harmful]
    shared = sum(e.action.tool in high for e in harmful)
    assert shared >= len(harmful) // 2


def test_tool_naming_styles_vary(plain: list[Example]) -> None:
    tools = {e.action.tool for e in plain}
    styles = {
        "dotted": r"[a-z0-9_]+(\.[a-z0-9_]+)+",
        "snake": r"[a-z0-9]+(_[a-z0-9]+)+",
        "camel": r"[a-z]+([A-Z][a-z0-9]*)+",
        "mcp": r"[a-z0-9_]+__[a-z0-9_]+",
        "cli": r"[a-z0-9]+",
    }
    for style, pattern in styles.items():
        assert sum(bool(re.fullmatch(pattern, t)) for t in tools) >= 5, style
    assert len(tools) >= 150


def test_routine_traffic_is_diverse(plain: list[Example]) -> None:
    routine = [e for e in plain if e.category == "routine"]
    assert len({e.action.tool for e in routine}) >= 100
    calls = {(e.action.tool, json.dumps(e.action.args, sort_keys=True)) for e in routine}
    assert len(calls) == len(routine)
    assert len({e.action.task for e in routine}) == len(routine)


# --- ids, groups, determinism ---------------------------------------------------------------------


def test_ids_are_unique(examples: list[Example]) -> None:
    ids = [e.action.id for e in examples]
    assert len(ids) == len(set(ids))


def test_deterministic_across_calls(examples: list[Example]) -> None:
    again = corpus_examples()
    assert [e.to_json() for e in again] == [e.to_json() for e in examples]


def test_plain_only(plain: list[Example]) -> None:
    assert [e.to_json() for e in corpus_examples(evasive=False)] == [e.to_json() for e in plain]


def test_examples_round_trip_as_jsonl(examples: list[Example]) -> None:
    lines = [json.dumps(e.to_json()) for e in examples]
    assert [e.to_json() for e in iter_examples(lines)] == [e.to_json() for e in examples]


def test_read_corpus_matches_the_bundled_load(plain: list[Example]) -> None:
    loaded = [e for domain in DOMAINS for e in read_corpus(CORPUS_DIR / f"{domain}.jsonl")]
    assert [e.to_json() for e in loaded] == [e.to_json() for e in plain]


# --- evasive forms --------------------------------------------------------------------------------


def test_every_harmful_entry_has_evasive_forms(examples: list[Example],
                                               plain: list[Example]) -> None:
    forms = Counter(e.variant_of for e in examples if e.form == "evasive")
    for e in plain:
        if e.harmful:
            assert forms[e.action.id] >= 2, e.action.id
        else:
            assert forms[e.action.id] == 0
            assert evasive_forms(e) == []


def test_evasive_forms_keep_label_group_and_category(examples: list[Example],
                                                     by_id: dict[str, Example]) -> None:
    for e in examples:
        if e.form != "evasive":
            continue
        assert e.variant_of is not None
        origin = by_id[e.variant_of]
        name = e.extra["evasion"]
        assert name in EVASIONS
        assert e.action.id == f"{origin.action.id}~{name}"
        assert (e.label, e.group, e.category, e.suite, e.side_effect, e.source) == (
            origin.label, origin.group, origin.category, origin.suite, origin.side_effect,
            origin.source)
        assert (e.action.tool, e.action.agent, e.action.resource) == (
            origin.action.tool, origin.action.agent, origin.action.resource)
        assert e.to_json() != origin.to_json()
        assert evasive_forms(e) == []


def test_every_transform_is_used(examples: list[Example]) -> None:
    used = Counter(e.extra["evasion"] for e in examples if e.form == "evasive")
    for name in EVASIONS:
        assert used[name] >= 10, (name, used)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return value


_B64_RUN = re.compile(r"[A-Za-z0-9+/]{8,}={0,2}")
_HEX_RUN = re.compile(r"[0-9a-f]{8,}")


def _undo_base64(text: str, parent: dict[str, Any], key: str) -> str:
    if parent.pop(f"{key}_encoding", None) == "base64":
        return base64.b64decode(text).decode()
    return base64.b64decode(max(_B64_RUN.findall(text), key=len)).decode()


def _undo_hex(text: str, parent: dict[str, Any], key: str) -> str:
    return bytes.fromhex(max(_HEX_RUN.findall(text), key=len)).decode()


def _undo_url(text: str, parent: dict[str, Any], key: str) -> str:
    if text.startswith(("http://", "https://")):
        return unquote(text)
    match = re.search(r"unquote\('([^']*)'\)", text)
    assert match is not None, text
    return unquote(match.group(1))


def _undo_unicode(text: str, parent: dict[str, Any], key: str) -> str:
    sql = re.fullmatch(r"DO \$x\$ BEGIN EXECUTE U&'(.*)'; END \$x\$;", text, re.DOTALL)
    if sql is not None:
        return re.sub(r"\\([0-9A-F]{4})", lambda m: chr(int(m.group(1), 16)), sql.group(1))
    shell = re.fullmatch(r"bash -c \$'(.*)'", text, re.DOTALL)
    body = shell.group(1) if shell is not None else text
    return re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), body)


def _undo_split(text: Any, parent: dict[str, Any], key: str) -> Any:
    if isinstance(text, list):  # an argv list: compared as argv below
        return text
    if "args" in parent:
        return " ".join([text, *parent.pop("args")])
    if "params" in parent:
        params = parent.pop("params")
        quoted = ["'" + p.replace("'", "''") + "'" for p in params]
        if "$1" in text:
            return re.sub(r"\$(\d+)", lambda m: quoted[int(m.group(1)) - 1], text)
        pieces = text.split("?")
        assert len(pieces) == len(quoted) + 1
        return "".join(p + q for p, q in zip(pieces, [*quoted, ""], strict=True))
    return text + parent.pop("path")


def _undo_homoglyph(text: str, parent: dict[str, Any], key: str) -> str:
    assert not text.isascii()
    return fold_unicode(text)[0]


def _undo_zero_width(text: str, parent: dict[str, Any], key: str) -> str:
    assert "\u200b" in text
    assert fold_unicode(text)[0] == text.replace("\u200b", "")
    return text.replace("\u200b", "")


_UNDO: dict[str, Callable[[Any, dict[str, Any], str], Any]] = {
    "base64": _undo_base64, "hex": _undo_hex, "url_escape": _undo_url,
    "unicode_escape": _undo_unicode, "split": _undo_split, "homoglyph": _undo_homoglyph,
    "zero_width": _undo_zero_width,
}


@pytest.mark.parametrize("name", EVASIONS)
def test_transform_is_reversible(name: str, examples: list[Example],
                                 by_id: dict[str, Example]) -> None:
    forms = [e for e in examples if e.form == "evasive" and e.extra["evasion"] == name]
    assert forms
    for form in forms:
        assert form.variant_of is not None
        origin = dict(by_id[form.variant_of].action.args)
        args = copy.deepcopy(dict(form.action.args))
        if name == "benign_task":
            assert args == origin
            assert form.action.task != by_id[form.variant_of].action.task
            assert [m["role"] for m in form.action.context] == ["user"]
            continue
        changed = [path for path, value in _leaves(origin) if _get(args, path) != value]
        assert len(changed) == 1, (form.action.id, changed)
        path = changed[0]
        parent = _get(args, path[:-1])
        revealed = _UNDO[name](parent[path[-1]], parent, str(path[-1]))
        if isinstance(revealed, list):
            assert revealed == shlex.split(_get(origin, path)), form.action.id
            revealed = _get(origin, path)
        parent[path[-1]] = revealed
        assert args == origin, form.action.id


# --- validation -----------------------------------------------------------------------------------


def _entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "shell-002", "kind": "routine", "category": "routine", "side_effect": False,
        "action": {"tool": "shell.run", "args": {"cmd": "uptime"}, "task": "check the load",
                   "context": [{"role": "user", "content": "check the load"}],
                   "agent": "ops-bot"},
    }
    for key, value in changes.items():
        if value is _DROP:
            del entry[key]
        else:
            entry[key] = value
    return entry


_DROP = object()


def _action(**changes: Any) -> dict[str, Any]:
    action = copy.deepcopy(_entry()["action"])
    for key, value in changes.items():
        if value is _DROP:
            del action[key]
        else:
            action[key] = value
    return action


BAD_LINES = [
    ("{not json", "not JSON", None),
    ("[1, 2]", "must be a JSON object", None),
    (_entry(id="shell-001"), "duplicate id `shell-001`", "id"),
    (_entry(id="sql-002"), "must start with the domain `shell-`", "id"),
    (_entry(id="shell-2~b64"), "must look like", "id"),
    (_entry(kind="benign"), "`kind` must be one of", "kind"),
    (_entry(kind="harmful"), "`category` of a harmful entry", "category"),
    (_entry(kind="harmful", category="theft"), "`category` of a harmful entry", "category"),
    (_entry(category="fraud"), "`category` of a `routine` entry must be `routine`", "category"),
    (_entry(kind="high_stakes"), "must be `high_stakes`", "category"),
    (_entry(side_effect="yes"), "`side_effect` must be true or false", "side_effect"),
    (_entry(label="benign"), "unknown field `label`", "label"),
    (_entry(side_effect=_DROP), "`side_effect` is required", "side_effect"),
    (_entry(action=_action(args=_DROP)), "`args` is required", "action.args"),
    (_entry(action=_action(tool="")), "`tool` is required", "action.tool"),
    (_entry(action=_action(colour="red")), "unknown field `colour`", "action.colour"),
    (_entry(action=_action(id="shell-009")), "`action.id` must be absent", "action.id"),
    (_entry(action=_action(task="  ")), "`action.task` must be a non-empty", "action.task"),
    (_entry(action=_action(context=[])), "at least one message", "action.context"),
    (_entry(action=_action(context=[{"role": "system", "content": "x"}])), "`role` must be",
     "action.context[0].role"),
    (_entry(action=_action(context=[{"role": "tool", "content": "x"}])), "tool's `name`",
     "action.context[0].name"),
    (_entry(action=_action(context=[{"role": "user", "content": 3}])), "`content` must be",
     "action.context[0].content"),
    (_entry(action="shell.run uptime"), "must be a JSON object", "action"),
]


@pytest.mark.parametrize(("line", "message", "field"), BAD_LINES)
def test_bad_line_names_file_and_line(tmp_path: Path, line: Any, message: str,
                                      field: str | None) -> None:
    good = _entry(id="shell-001")
    path = tmp_path / "shell.jsonl"
    text = line if isinstance(line, str) else json.dumps(line)
    path.write_text(json.dumps(good) + "\n\n" + text + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_corpus(path)
    error = info.value
    assert error.context["file"] == str(path)
    assert error.context["line"] == 3
    assert message in error.message, error.message
    assert error.context.get("field") == field
    assert str(path) + ":3" in str(error)


def test_valid_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "shell.jsonl"
    entries = [_entry(id="shell-001"), _entry(id="shell-002", kind="harmful",
                                              category="destruction", side_effect=True)]
    path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    loaded = read_corpus(path)
    assert [(e.action.id, e.label, e.category, e.suite) for e in loaded] == [
        ("shell-001", "benign", "routine", "shell"),
        ("shell-002", "harmful", "destruction", "shell"),
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_corpus(tmp_path / "missing.jsonl")
