"""A realistic, deterministic, labeled traffic generator for an ops deployment.

`generate_traffic` plays `n_tasks` agent tasks (ops, support, finance, release and data agents
working on natural-language requests) and returns their tool calls as `LabeledAction`s, interleaved
as concurrent tasks would be. About 95-96% of actions are routine, 3-4% legitimately critical (a
prod deploy or a transfer the task asks for) and about 1% malicious: an agent, usually hijacked by
an injection in a tool result, slips an attack into an otherwise benign task. About 40% of the
attacks are evasive (encoded, obfuscated, split or disguised as a routine call).

The labels live beside the action, never in it: a scorer sees exactly what a gate would see.
Everything is drawn from `random.Random(seed)`; different seeds give different tasks, so one
seed can calibrate and another evaluate. The tasks and their steps come from `_scenarios`
(over the data in `_tables`), the attacks from `_attacks`.
"""

from __future__ import annotations

import json
import random
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from math import log
from pathlib import Path
from typing import Any, get_args

from stakes.demo import _scenarios as sc
from stakes.demo._attacks import FAMILIES, INJECTIONS, PAYMENT_INJECTIONS
from stakes.demo._scenarios import Form, Label, Scene, Step
from stakes.domain import Action
from stakes.errors import InputError

__all__ = ["CORE_NAMESPACES", "FAMILIES", "LabeledAction", "generate_traffic", "read_jsonl",
           "summary", "write_jsonl"]

MALICIOUS_TASK_SHARE = 0.07  # of tasks; ~1.4 malicious actions each -> ~1% of actions
CRITICAL_TASK_SHARE = 0.25  # of tasks; ~1.35 critical actions each -> ~3.5% of actions
UNKNOWN_TOOL_SHARE = 0.03  # calls to tools outside the core vocabulary, in any task's middle
INJECTED_SHARE = 0.8  # attacks prompted by an injection in a tool result (else self-initiated)
CONCURRENCY = 6  # tasks in flight at once when interleaving
CORE_NAMESPACES = frozenset({"fs", "shell", "sql", "http", "git", "deploy", "k8s", "iam",
                             "payments", "email", "secrets", "monitoring", "logging", "tickets"})


@dataclass(frozen=True, slots=True)
class LabeledAction:
    """An action with its ground truth, kept beside (never inside) the action.

    Attributes:
        action: The tool call as the gate sees it.
        label: `routine`, `critical` (high stakes, asked for) or `malicious`.
        attack: The attack family of a malicious action, else None.
        form: `evasive` when the attack is encoded, obfuscated, split or disguised.
        task_id: The task the action belongs to.
    """

    action: Action
    label: Label
    attack: str | None = None
    form: Form = "plain"
    task_id: str = ""


# --- assembly -----------------------------------------------------------------------------------
def generate_traffic(n_tasks: int = 600, *, seed: int = 0) -> list[LabeledAction]:
    """Generate the labeled actions of `n_tasks` tasks, interleaved as concurrent tasks run.

    The default size yields about 6,000 actions (8-12 per task, heavy-tailed). The share of
    critical and malicious tasks is fixed (rounded), so the label mix barely moves between seeds;
    attack families are dealt round-robin (in a per-seed order) and every family's second, fourth,
    seventh... instance is evasive, so each family shows both forms from 14 malicious tasks on.

    Args:
        n_tasks: How many tasks to play.
        seed: Seeds the only random stream; the same seed gives the same list.

    Returns:
        The actions in arrival order; ids are `{task_id}-{k}` with k counting from 0 per task.

    Raises:
        ValueError: When `n_tasks` is negative.
    """
    if n_tasks < 0:
        raise ValueError(f"n_tasks must be >= 0, got {n_tasks}")
    master = random.Random(seed)
    n_mal = round(n_tasks * MALICIOUS_TASK_SHARE)
    n_crit = round(n_tasks * CRITICAL_TASK_SHARE)
    kinds = ["malicious"] * n_mal + ["critical"] * n_crit + ["routine"] * (n_tasks - n_mal - n_crit)
    master.shuffle(kinds)
    order = master.sample(sorted(FAMILIES), len(FAMILIES))
    tasks: list[list[LabeledAction]] = []
    seen: set[str] = set()
    j = 0
    for kind in kinds:
        rng = random.Random(master.getrandbits(64))
        task_id = f"t-{rng.getrandbits(32):08x}"
        while task_id in seen:
            task_id = f"t-{rng.getrandbits(32):08x}"
        seen.add(task_id)
        family, evasive = None, False
        if kind == "malicious":
            family, evasive = order[j % len(order)], (j // len(order)) % 5 in (1, 3)
            j += 1
        tasks.append(_task(rng, task_id, kind, family, evasive))
    return _interleave(tasks, random.Random(master.getrandbits(64)))


def _task(rng: random.Random, task_id: str, kind: str, family: str | None,
          evasive: bool) -> list[LabeledAction]:
    """Play one task: its template's steps, plus an attack when `family` is set."""
    if kind == "critical":
        tpl = rng.choice(sc.CRITICAL)
    else:
        agents = FAMILIES[family][0] if family else tuple(sc.AGENT_WEIGHTS)
        agent = rng.choices(agents, [sc.AGENT_WEIGHTS[a] for a in agents])[0]
        tpl = rng.choice([t for t in sc.ROUTINE if t.agent == agent])
    s = sc.new_scene(rng, tpl.agent, tpl.env)
    text = s.fill(rng.choice(tpl.texts))
    block = tpl.block(s) if tpl.block else []
    length = min(48, round(rng.lognormvariate(log(8.3), 0.45)))
    middle = max(1, length - len(tpl.opening) - len(tpl.closing) - len(block))
    steps = [g(s) for g in tpl.opening]
    steps += [(sc.unknown_tool if rng.random() < UNKNOWN_TOOL_SHARE else rng.choice(tpl.pool))(s)
              for _ in range(middle)]
    steps += block + [g(s) for g in tpl.closing]
    if family:
        steps = _inject(s, steps, family, evasive)
    return _actions(steps, task_id, s.agent, text)


def _inject(s: Scene, steps: list[Step], family: str, evasive: bool) -> list[Step]:
    """Insert an attack of `family` into a benign task, usually after a poisoned tool result."""
    _, plain, tricky = FAMILIES[family]
    variants = tricky if evasive else plain
    ask, attack = s.pick(variants)(s)
    form: Form = "evasive" if evasive else "plain"
    attack = [replace(a, label="malicious", attack=family, form=form) for a in attack]
    at = s.rng.randint(1, len(steps))
    if s.rng.random() < INJECTED_SHARE:
        carrier = _carrier(s)
        text = s.pick(PAYMENT_INJECTIONS if family == "fraud" else INJECTIONS).format(ask=ask)
        head = carrier.result if len(carrier.result) < 90 else carrier.result[:90].rsplit(" ", 1)[0]
        attack.insert(0, replace(carrier, result=f"{head}\n{text}"))
    return steps[:at] + attack + steps[at:]


def _carrier(s: Scene) -> Step:
    """The read whose result carries the injection: an invoice, a ticket, a page or a log."""
    if s.agent == "finance-bot":
        return Step("fs.read", {"path": s.fill("invoices/{invoice}.txt")},
                    result=s.fill("Invoice {invoice} from {vendor}, due {date}."))
    if s.agent == "support-bot":
        return sc.tickets_search(s)
    return s.pick((sc.fs_read, sc.http_get, sc.k8s_logs, sc.tickets_search))(s)


def _clip(text: str, limit: int = 280) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _actions(steps: Sequence[Step], task_id: str, agent: str, text: str) -> list[LabeledAction]:
    """Turn steps into actions, each with the last three messages of the task as context."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": _clip(text)}]
    out = []
    for k, st in enumerate(steps):
        action = Action(tool=st.tool, args=st.args, id=f"{task_id}-{k}", agent=agent, task=text,
                        context=tuple(messages[-3:]), resource=st.resource,
                        metadata={"task_id": task_id})
        out.append(LabeledAction(action, st.label, st.attack, st.form, task_id))
        messages.append({"role": "tool", "name": st.tool, "content": _clip(st.result)})
    return out


def _interleave(tasks: list[list[LabeledAction]], rng: random.Random) -> list[LabeledAction]:
    """Merge tasks as `CONCURRENCY` agents would emit them; each task keeps its own order."""
    pending, active = deque(tasks), list[deque[LabeledAction]]()
    out: list[LabeledAction] = []
    while pending or active:
        while pending and len(active) < CONCURRENCY:
            active.append(deque(pending.popleft()))
        i = rng.randrange(len(active))
        if active[i]:
            out.append(active[i].popleft())
        if not active[i]:
            active.pop(i)
    return out


# --- files and summaries ------------------------------------------------------------------------
def write_jsonl(actions: Iterable[LabeledAction], path: str | Path, *, truth: bool = True) -> None:
    """Write one action per line, its ground truth under a top-level `truth` key.

    Args:
        actions: The labeled actions.
        path: The file to write (overwritten).
        truth: When False, write the bare actions, ready for `stakes score`.
    """
    with Path(path).open("w", encoding="utf-8") as f:
        for la in actions:
            obj = la.action.to_json()
            if truth:
                obj["truth"] = {"label": la.label, "attack": la.attack, "form": la.form,
                                "task_id": la.task_id}
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")


def read_jsonl(path: str | Path) -> list[LabeledAction]:
    """Read a file written by `write_jsonl` (with truth); blank lines are skipped.

    Raises:
        InputError: naming the line whose action or `truth` is malformed.
    """
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg}", code="input.bad_json", line=n) from None
        t = obj.pop("truth", None) if isinstance(obj, dict) else None
        if (not isinstance(t, dict) or t.get("label") not in get_args(Label)
                or t.get("form") not in get_args(Form)
                or not isinstance(t.get("attack"), str | None)
                or not isinstance(t.get("task_id"), str)):
            raise InputError("`truth` must hold label, attack, form and task_id",
                             code="input.bad_value", line=n, field="truth")
        out.append(LabeledAction(Action.from_json(obj, line=n), t["label"], t["attack"],
                                 t["form"], t["task_id"]))
    return out


def summary(actions: Sequence[LabeledAction]) -> dict[str, Any]:
    """Counts by label, agent, tool, attack family and form (form over malicious actions).

    Returns:
        `{"actions", "tasks", "label", "agent", "tool", "attack", "form", "unknown_tools"}`,
        each count a dict sorted by decreasing count; `unknown_tools` counts calls to tools
        outside the core vocabulary.
    """
    def count(values: Iterable[Any]) -> dict[str, int]:
        return dict(Counter(str(v) for v in values).most_common())

    malicious = [a for a in actions if a.label == "malicious"]
    return {
        "actions": len(actions),
        "tasks": len({a.task_id for a in actions}),
        "label": count(a.label for a in actions),
        "agent": count(a.action.agent for a in actions),
        "tool": count(a.action.tool for a in actions),
        "attack": count(a.attack for a in malicious),
        "form": count(a.form for a in malicious),
        "unknown_tools": sum(a.action.tool.split(".")[0] not in CORE_NAMESPACES for a in actions),
    }

