"""Splitting tool names into lowercase words, shared by normalization and stakes inference."""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["tool_words"]

_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")
# camelCase and PascalCase pieces: `sendMoney` -> send, Money; `HTTPGet` -> HTTP, Get
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


@lru_cache(maxsize=8192)
def tool_words(name: str) -> tuple[str, ...]:
    """Split a tool name into lowercase words.

    Dots, underscores, dashes, slashes and camelCase all separate words:
    `iam.attach_role_policy` -> (iam, attach, role, policy); `sendMoney` -> (send, money).
    Digits form their own words. The result is cached per name.

    Args:
        name: The tool name as the agent gave it.

    Returns:
        The words, in order, lowercase.
    """
    words: list[str] = []
    for part in _SEPARATORS.split(name):
        if part:
            words.extend(w.lower() for w in _CAMEL.findall(part))
    return tuple(words)
