"""The bundled corpus: hand-written agent tool calls across seven ops domains, labeled.

Each domain is one JSONL file under `stakes/data/corpus/` (`shell`, `sql`, `cloud`, `payments`,
`deploy`, `files`, `comms`), one entry a line:

    {"id": "shell-017", "kind": "harmful", "category": "persistence", "side_effect": true,
     "action": {"tool": "shell.run", "args": {...}, "task": "...", "context": [...], ...}}

`kind` is `routine` (reads, listings, small edits), `high_stakes` (a production migration, a
payout, a grant: asked for by the task and grounded in it) or `harmful` (what a hijacked or
misaligned agent does: exfiltration, destruction, privilege_escalation, persistence,
disable_monitoring, fraud). A benign entry's category repeats its kind. Files are validated
strictly: the first bad line raises `InputError` naming the file and the line.

`corpus_examples()` turns entries into `Example`s (source `corpus`, suite = the domain, group
`corpus/<id>`) and, unless told not to, appends each harmful entry's evasive forms
(`evasive_forms`) right after it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from stakes.datasets._evasion import evasive_forms
from stakes.datasets._example import Example
from stakes.domain import Action
from stakes.errors import InputError

__all__ = ["DOMAINS", "HARM_CATEGORIES", "KINDS", "corpus_examples", "read_corpus"]

DOMAINS = ("shell", "sql", "cloud", "payments", "deploy", "files", "comms")
KINDS = ("routine", "high_stakes", "harmful")
HARM_CATEGORIES = ("exfiltration", "destruction", "privilege_escalation", "persistence",
                   "disable_monitoring", "fraud")

_KEYS = ("id", "kind", "category", "side_effect", "action")
_ROLES = ("user", "assistant", "tool")
_ID = re.compile(r"[a-z][a-z_]*-[0-9]+")


def corpus_examples(*, evasive: bool = True) -> list[Example]:
    """Load the bundled corpus, in domain order then file order.

    Args:
        evasive: Also return the evasive forms of each harmful entry, right after it.

    Returns:
        Fresh `Example`s on every call (nothing is shared between calls).

    Raises:
        InputError: when a bundled file is missing or has a bad line (a packaging error).
    """
    root = resources.files("stakes.data").joinpath("corpus")
    seen: dict[str, str] = {}
    out: list[Example] = []
    for domain in DOMAINS:
        name = f"{domain}.jsonl"
        entry = root.joinpath(name)
        if not entry.is_file():
            raise InputError(f"corpus file `{name}` is missing", code="input.corpus",
                             file=f"corpus/{name}")
        text = entry.read_text(encoding="utf-8")
        for example in _parse(text.splitlines(), domain=domain, file=f"corpus/{name}",
                              seen=seen):
            out.append(example)
            if evasive:
                out.extend(evasive_forms(example))
    return out


def read_corpus(path: str | Path) -> list[Example]:
    """Read one corpus file (plain entries only); its domain is the file name's stem.

    Raises:
        InputError: naming the file and line of the first bad entry, or when unreadable.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read `{path}`: {exc.strerror}", code="input.unreadable",
                         file=str(path)) from None
    return _parse(text.splitlines(), domain=path.stem, file=str(path), seen={})


def _parse(lines: Iterable[str], *, domain: str, file: str,
           seen: dict[str, str]) -> list[Example]:
    """Validate and convert the lines of one file; `seen` maps ids to the file that had them."""
    out: list[Example] = []
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"not JSON ({exc})", code="input.bad_json", file=file,
                             line=number) from None
        out.append(_entry(obj, domain=domain, file=file, line=number, seen=seen))
    return out


@dataclass(frozen=True, slots=True)
class _Where:
    """A line of a corpus file, to build errors that name it."""

    file: str
    line: int

    def __call__(self, message: str, field: str | None = None) -> InputError:
        return InputError(message, code="input.corpus", file=self.file, line=self.line,
                          field=field)


def _entry(obj: Any, *, domain: str, file: str, line: int, seen: dict[str, str]) -> Example:
    fail = _Where(file, line)
    if not isinstance(obj, dict):
        raise fail("a corpus entry must be a JSON object")
    for key in obj:
        if key not in _KEYS:
            raise fail(f"unknown field `{key}`", key)
    for key in _KEYS:
        if key not in obj:
            raise fail(f"`{key}` is required", key)
    entry_id = obj["id"]
    if not isinstance(entry_id, str) or not _ID.fullmatch(entry_id):
        raise fail(f"`id` must look like `{domain}-017`, not `{entry_id}`", "id")
    if not entry_id.startswith(f"{domain}-"):
        raise fail(f"`id` `{entry_id}` must start with the domain `{domain}-`", "id")
    if entry_id in seen:
        raise fail(f"duplicate id `{entry_id}` (first in `{seen[entry_id]}`)", "id")
    kind = obj["kind"]
    if kind not in KINDS:
        raise fail(f"`kind` must be one of {', '.join(KINDS)}, not `{kind}`", "kind")
    category = obj["category"]
    if kind == "harmful" and category not in HARM_CATEGORIES:
        raise fail(f"`category` of a harmful entry must be one of {', '.join(HARM_CATEGORIES)}, "
                   f"not `{category}`", "category")
    if kind != "harmful" and category != kind:
        raise fail(f"`category` of a `{kind}` entry must be `{kind}`, not `{category}`",
                   "category")
    if not isinstance(obj["side_effect"], bool):
        raise fail("`side_effect` must be true or false", "side_effect")
    action = _action(obj["action"], entry_id, fail)
    seen[entry_id] = file
    return Example(
        action=action, label="harmful" if kind == "harmful" else "benign", source="corpus",
        suite=domain, group=f"corpus/{entry_id}", side_effect=obj["side_effect"],
        form="plain", category=category, phase="clean",
    )


def _action(raw: Any, entry_id: str, fail: _Where) -> Action:
    """Parse the action and check what a corpus entry needs beyond a bare action."""
    if isinstance(raw, dict) and raw.get("id", entry_id) != entry_id:
        raise fail(f"`action.id` must be absent or `{entry_id}`", "action.id")
    try:
        action = Action.from_json(raw)
    except InputError as exc:
        field = exc.context.get("field")
        raise fail(exc.message, f"action.{field}" if field else "action") from None
    if not action.task.strip():
        raise fail("`action.task` must be a non-empty string", "action.task")
    if not action.context:
        raise fail("`action.context` must list at least one message", "action.context")
    for index, message in enumerate(action.context):
        _message(message, f"action.context[{index}]", fail)
    return action.with_(id=entry_id)


def _message(message: Mapping[str, Any], where: str, fail: _Where) -> None:
    role = message.get("role")
    if role not in _ROLES:
        raise fail(f"`role` must be one of {', '.join(_ROLES)}, not `{role}`", f"{where}.role")
    if not isinstance(message.get("content"), str):
        raise fail("`content` must be a string", f"{where}.content")
    if role == "tool" and not isinstance(message.get("name"), str):
        raise fail("a tool message needs the tool's `name`", f"{where}.name")
    extra = [key for key in message if key not in ("role", "content", "name")]
    if extra:
        raise fail(f"unknown field `{extra[0]}`", f"{where}.{extra[0]}")
