"""Grounding: does an action's target come from the user, or only from a tool result?

An agent that sends money to an IBAN, posts to a URL or runs a command that only a tool result
(a web page, an email, a file) mentioned, and that neither the task nor a user or system message
did, may be following injected instructions. The check is cheap and runs only when the action
carries a context.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stakes.domain import Action
from stakes.triage._normalize import SHELL_KEYS, Normalized

__all__ = ["TOOL_ROLES", "USER_ROLES", "message_text", "ungrounded_target"]

TOOL_ROLES = frozenset(("tool", "function", "tool_result", "observation", "ipython"))
USER_ROLES = frozenset(("user", "system", "developer", "human"))
_SIDES = {**dict.fromkeys(TOOL_ROLES, 1), **dict.fromkeys(USER_ROLES, 2)}
"""Role (lowercase) to 1 (a tool result) or 2 (the user's side); other roles are not read."""
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


def message_text(message: Mapping[str, Any]) -> str:
    """A context message's text: a string, or the text parts of a list of content blocks."""
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return "\n".join(
            str(part.get("text", "")) if isinstance(part, Mapping) else str(part)
            for part in content
        )
    return "" if content is None else str(content)


def _table(chars: str) -> bytes:
    table = bytearray(b" " * 256)
    for c in chars:
        table[ord(c)] = ord("a")
    return bytes(table)


# `[a-z0-9]` to `a`: an IBAN or a crypto address holds a run of 11 (`[a-z0-9]{11,30}`, `0x` and
# 40 hex digits), so a text without one (one `bytes.translate` and a substring test) has none.
_ALNUM = _table("abcdefghijklmnopqrstuvwxyz0123456789")
_RUN11 = "a" * 11


def ungrounded_target(action: Action, norm: Normalized) -> str | None:
    """The first target of `action` that only a tool result mentions, or None.

    Targets are URLs (grounded when the user mentioned the URL or its host), email addresses,
    IBANs, crypto addresses, and the values of target-like argument keys (`to`, `recipient`,
    `url`, `cmd`, ...). Most actions have none, which costs a few substring tests and no look at
    the context; otherwise the cost is linear in the size of the context.

    Args:
        action: The action, with its `task` and `context` messages.
        norm: Its normalized view (targets are read from `norm.text`).

    Returns:
        The ungrounded target (lowercase), or None when every target is grounded or no tool
        result mentions it.
    """
    if not action.context:
        return None
    candidates = _text_targets(norm.text)
    if not norm.keys.isdisjoint(_TARGET_KEYS):  # `norm.keys` holds every key, lowercase
        for key, value in action.args.items():
            if isinstance(key, str) and key.lower() in _TARGET_KEYS:
                for item in (value if isinstance(value, list | tuple) else (value,)):
                    if isinstance(item, str) and len(item.strip()) >= 4:
                        target = item.strip().lower()
                        # Only the URL pattern sets group 1, and it needs the scheme first.
                        candidates += ((target, _host(target) if target.startswith(
                            ("http://", "https://")) else target),)
    if not candidates:
        return None
    tool_parts: list[str] = []
    user_parts: list[str] = [action.task]
    for message in action.context:
        role = message.get("role", "")
        side = _SIDES.get(role) if type(role) is str else None
        if side is None:
            side = _SIDES.get(str(role).lower(), 0)
        if side:
            content = message.get("content", "")
            (tool_parts if side == 1 else user_parts).append(
                content if type(content) is str else message_text(message))
    if not tool_parts:
        return None
    tool_text = "\n".join(tool_parts).lower()
    user_text = None  # folded only when a candidate shows up in a tool result
    for target, short in candidates:
        if target in tool_text or short in tool_text:
            if user_text is None:
                user_text = "\n".join(user_parts).lower()
            if not (target in user_text or short in user_text):
                return target
    return None


_TEXTS: dict[str, tuple[tuple[str, str], ...]] = {}
_TOKENS: dict[str, tuple[tuple[str, str], ...]] = {}
_HOSTS: dict[str, str] = {}
_MEMO_SIZE = 4096
_MEMO_MAX_LEN = 512


def _text_targets(text: str) -> tuple[tuple[str, str], ...]:
    """`(target, url host or target)` for each `_TARGETS` match in `text`, in order (memoized).

    Every match holds `://`, `@` or a run of 11 `[a-z0-9]`, and none holds whitespace (where a
    word boundary sees what it sees at either end of a string): the matches in `text` are
    those of its whitespace-separated tokens that hold one. Searching only those tokens keeps
    the email pattern from backtracking across the whole text.
    """
    found = _TEXTS.get(text)
    if found is None:
        found = ()
        run = len(text) >= 11 and _RUN11 in text.encode().translate(_ALNUM).decode()
        if run or "://" in text or "@" in text:
            for token in text.split():
                if "://" in token or "@" in token or (run and len(token) >= 11):
                    found += _token_targets(token)
        if len(text) <= _MEMO_MAX_LEN:
            if len(_TEXTS) >= _MEMO_SIZE:
                _TEXTS.clear()  # cheap bound; the function is pure, dropping entries is safe
            _TEXTS[text] = found
    return found


def _token_targets(token: str) -> tuple[tuple[str, str], ...]:
    """`(target, url host or target)` for each `_TARGETS` match in one token.

    Memoized: URLs and addresses repeat across actions.
    """
    found = _TOKENS.get(token)
    if found is None:
        found = tuple((m.group(0), m.group(1) or m.group(0)) for m in _TARGETS.finditer(token))
        if len(token) <= _MEMO_MAX_LEN:
            if len(_TOKENS) >= _MEMO_SIZE:
                _TOKENS.clear()  # cheap bound; the function is pure, dropping entries is safe
            _TOKENS[token] = found
    return found


def _host(value: str) -> str:
    """The host `_TARGETS` reads from a URL-shaped target value, else the value (memoized)."""
    host = _HOSTS.get(value)
    if host is None:
        url = _TARGETS.match(value)
        host = url.group(1) if url and url.group(1) else value
        if len(value) <= _MEMO_MAX_LEN:
            if len(_HOSTS) >= _MEMO_SIZE:
                _HOSTS.clear()  # cheap bound; the function is pure, dropping entries is safe
            _HOSTS[value] = host
    return host
