"""Grounding: does an action's target come from the user, or only from a tool result?

An agent that sends money to an IBAN, posts to a URL or runs a command that only a tool result
(a web page, an email, a file) mentioned, and that neither the task nor a user or system message
did, may be following injected instructions. The check is cheap and runs only when the action
carries a context.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from stakes.domain import Action
from stakes.triage._normalize import SHELL_KEYS, Normalized

__all__ = ["ungrounded_target"]

_TOOL_ROLES = frozenset(("tool", "function", "tool_result", "observation", "ipython"))
_USER_ROLES = frozenset(("user", "system", "developer", "human"))
_TARGET_KEYS = frozenset(("to", "recipient", "recipients", "payee", "beneficiary", "iban",
                          "account", "account_number", "email", "address", "url", "endpoint",
                          "webhook", "host", "destination", "dest", "cc", "bcc", "wallet",
                          "wallet_address", "phone", "channel", *SHELL_KEYS))
_TARGETS = re.compile(
    r"https?://([^\s/'\"<>?#]+)[^\s'\"<>]*"          # a url (group 1: its host)
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"                  # an email address
    r"|\b[a-z]{2}\d{2}[a-z0-9]{11,30}\b"              # an iban
    r"|\b0x[0-9a-f]{40}\b"                            # an ethereum address
)


def _content(message: Mapping[str, Any]) -> str:
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return "\n".join(
            str(part.get("text", "")) if isinstance(part, Mapping) else str(part)
            for part in content
        )
    return str(content)


def _values(args: Mapping[str, Any]) -> Iterable[str]:
    for key, value in args.items():
        if isinstance(key, str) and key.lower() in _TARGET_KEYS:
            items = value if isinstance(value, list | tuple) else (value,)
            for item in items:
                if isinstance(item, str) and len(item.strip()) >= 4:
                    yield item.strip().lower()


def ungrounded_target(action: Action, norm: Normalized) -> str | None:
    """The first target of `action` that only a tool result mentions, or None.

    Targets are URLs (grounded when the user mentioned the URL or its host), email addresses,
    IBANs, crypto addresses, and the values of target-like argument keys (`to`, `recipient`,
    `url`, `cmd`, ...). Cost is linear in the size of the context.

    Args:
        action: The action, with its `task` and `context` messages.
        norm: Its normalized view (targets are read from `norm.text`).

    Returns:
        The ungrounded target (lowercase), or None when every target is grounded or no tool
        result mentions it.
    """
    tool_parts: list[str] = []
    user_parts: list[str] = [action.task]
    for message in action.context:
        role = str(message.get("role", "")).lower()
        if role in _TOOL_ROLES:
            tool_parts.append(_content(message))
        elif role in _USER_ROLES:
            user_parts.append(_content(message))
    if not tool_parts:
        return None
    tool_text = "\n".join(tool_parts).lower()
    user_text = "\n".join(user_parts).lower()
    candidates: list[tuple[str, str]] = []
    for m in _TARGETS.finditer(norm.text):
        candidates.append((m.group(0), m.group(1) or m.group(0)))
    for value in _values(action.args):
        url = _TARGETS.match(value)
        candidates.append((value, url.group(1) if url and url.group(1) else value))
    for target, short in candidates:
        if (target in tool_text or short in tool_text) and not (
            target in user_text or short in user_text
        ):
            return target
    return None
