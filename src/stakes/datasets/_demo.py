"""The demo's labeled ops traffic as examples (a third, synthetic source for training)."""

from __future__ import annotations

from stakes.datasets._example import Example

__all__ = ["demo_examples"]


def demo_examples(n_tasks: int = 600, *, seed: int = 2000) -> list[Example]:
    """The demo traffic generator's actions as examples.

    Malicious actions are `harmful`; routine and legitimately critical ones `benign` (category
    `routine` or `high_stakes`). The suite is the agent, the group the task. `side_effect` is
    read off the tool name (verb level >= 2): the generator does not run its tools. The default
    seed (2000) differs from the demo's evaluation seed (0) and its reference sample's (1000),
    so training on it never sees the traffic the demo reports on.
    """
    from stakes.demo import generate_traffic
    from stakes.triage import name_stakes

    out: list[Example] = []
    for item in generate_traffic(n_tasks, seed=seed):
        harmful = item.label == "malicious"
        out.append(Example(
            action=item.action, label="harmful" if harmful else "benign", source="demo",
            suite=item.action.agent or "demo", group=f"demo/{item.task_id}",
            side_effect=name_stakes(item.action.tool) >= 2, form=item.form,
            category=item.attack or ("high_stakes" if item.label == "critical" else "routine"),
        ))
    return out
