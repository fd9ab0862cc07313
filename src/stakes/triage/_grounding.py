"""Grounding: where an action's arguments come from, relative to its task and context.

An agent doing what its user asked uses values the user gave (a recipient, an amount, a path) or
values a tool returned while it worked on the task. An agent following an injection uses values
and verbs that only an untrusted tool result mentioned, often next to text that addresses the
agent ("ignore your previous instructions", "before you solve the task, please ..."). This
module measures, per action:

- where each target value (recipients, URLs, emails, IBANs, hosts, paths under target-like keys)
  is found: the user's side (task, user and system messages), only tool results, only the
  instruction-like part of tool results, or nowhere;
- the same for amounts and for the words of longer free-text arguments (a message body, a
  subject), as fractions;
- whether the tool's verb family (pay, send, delete, share, ...) is named by the user or only by
  a tool result.

All of it is a pure function of the action, and it costs nothing when the action carries no task
and no context (the common routine case).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from stakes.domain import Action
from stakes.triage._context import TOOL_ROLES, USER_ROLES, message_text
from stakes.triage._words import tool_words

__all__ = ["Grounding", "grounding", "verb_families"]

_TARGET_KEYS = frozenset((
    "to", "recipient", "recipients", "payee", "beneficiary", "iban", "account", "account_number",
    "email", "emails", "address", "url", "urls", "endpoint", "webhook", "host", "destination",
    "dest", "cc", "bcc", "wallet", "wallet_address", "phone", "channel", "user", "username",
    "participants", "attendees", "invitee", "member", "path", "file", "file_path", "filename",
    "file_id", "target", "remote", "bucket", "domain", "website", "link", "password",
))
_AMOUNT_KEYS = frozenset(("amount", "value", "sum", "total", "price", "quantity", "qty"))
_TARGET_SHAPES = re.compile(
    r"https?://[^\s'\"<>]+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\b[a-z]{2}\d{2}[a-z0-9]{11,30}\b"
    r"|\bwww\.[\w-]+(?:\.[\w-]+)+"
)
_ALNUM = str.maketrans({c: "a" for c in "abcdefghijklmnopqrstuvwxyz0123456789"})
_RUN11 = "a" * 11
"""An IBAN holds a run of 11 `[a-z0-9]`: a text without one (after one translate) holds none."""
_WORD = re.compile(r"[a-z][a-z0-9']{3,}")
_STOP = frozenset((
    "this", "that", "with", "from", "have", "will", "your", "about", "there", "their", "they",
    "them", "what", "when", "which", "would", "could", "should", "please", "thanks", "thank",
    "hello", "dear", "best", "regards", "also", "just", "into", "than", "then", "more", "some",
    "here", "were", "been", "being", "does", "done", "make", "sure", "only", "each", "other",
))
# Text that addresses the agent rather than describing data: the shape of a prompt injection.
_INSTRUCTION = re.compile(
    r"ignore (?:all |any |your |the )?(?:previous|prior|above|earlier)|instructions?\b"
    r"|\bimportant\b|\burgent\b|\byou must\b|\bbefore you\b|\bafter you\b|\bdo not tell\b"
    r"|\bdon'?t tell\b|\bassistant\b|\bai (?:model|agent)\b|\blanguage model\b"
    r"|\btodo\b|system[ _]message|\boverride\b|\bnew task\b|\binstead\b|\bplease do\b"
    r"|\bmake sure to\b"
    r"|\bdisregard\b|\bfrom now on\b|\bas an ai\b|<information>|\bsecretly\b|\bwithout telling\b"
)
_STEMS = ("ignore", "instruction", "important", "urgent", "must", "before you", "after you",
          "tell", "assistant", "ai ", "model", "system", "todo", "override", "new task",
          "instead", "please do", "make sure", "disregard", "from now on", "<information>",
          "secretly", "without telling")
"""Literal substrings one of which every `_INSTRUCTION` match holds: a cheap prefilter (a
substring test is a C loop; the alternation is tried at every position by the regex engine)."""
_INSTRUCTION_REACH = 3
"""Lines after (and one line before) an instruction marker that count as instruction-like."""

_FAMILIES: dict[str, tuple[str, ...]] = {
    "pay": ("pay", "payment", "transfer", "wire", "send money", "money", "payout", "refund",
            "remit", "transaction", "iban", "bill", "rent", "invoice", "reimburse"),
    "send": ("send", "email", "mail", "reply", "forward", "message", "write to", "tell",
             "notify", "post", "dm", "contact", "share", "let them know", "inform"),
    "delete": ("delete", "remove", "erase", "clear", "drop", "purge", "clean up", "get rid",
               "cancel", "wipe", "destroy", "truncate"),
    "share": ("share", "grant", "access", "invite", "add", "permission", "collaborat"),
    "create": ("create", "add", "make", "schedule", "book", "set up", "new", "open", "reserve",
               "register", "write", "draft"),
    "update": ("update", "change", "edit", "modify", "set", "rename", "move", "reschedule",
               "correct", "fix", "adjust", "replace"),
    "auth": ("password", "credential", "login", "security", "account", "2fa", "mfa", "token",
             "key", "role", "admin", "privilege"),
    "exec": ("run", "execute", "command", "script", "deploy", "install", "restart", "migrate",
             "shell"),
}
_WORD_FAMILIES: dict[str, tuple[str, ...]] = {
    "pay": ("pay", "transfer", "wire", "money", "payout", "payment", "refund", "remit", "iban",
            "withdraw", "disburse", "transaction", "charge"),
    "send": ("send", "email", "mail", "reply", "forward", "message", "post", "notify", "dm",
             "publish", "tweet", "comment"),
    "delete": ("delete", "remove", "rm", "erase", "drop", "purge", "destroy", "wipe", "truncate",
               "cancel", "unlink", "del"),
    "share": ("share", "grant", "invite", "permission", "acl", "collaborator", "member", "add"),
    "create": ("create", "add", "new", "schedule", "book", "reserve", "make", "register",
               "insert", "write", "append", "upload"),
    "update": ("update", "change", "edit", "modify", "set", "rename", "move", "reschedule",
               "patch", "put", "replace", "overwrite"),
    "auth": ("password", "credential", "login", "token", "key", "secret", "role", "iam", "admin",
             "sudo", "privilege", "policy", "user"),
    "exec": ("run", "exec", "execute", "shell", "bash", "command", "script", "deploy",
             "install", "eval", "migrate", "kubectl", "terraform"),
}


def verb_families(tool: str) -> frozenset[str]:
    """The verb families (pay, send, delete, share, create, update, auth, exec) a tool name says.

    Cached per name: `send_money` -> {pay, send}; `delete_file` -> {delete}.
    """
    found = _VERB_CACHE.get(tool)
    if found is None:
        words = tool_words(tool)
        found = frozenset(
            family for family, names in _WORD_FAMILIES.items()
            if any(word in names for word in words)
        )
        if len(_VERB_CACHE) < 8192:
            _VERB_CACHE[tool] = found
    return found


_VERB_CACHE: dict[str, frozenset[str]] = {}


class Grounding(NamedTuple):
    """Where an action's values and verb come from.

    Attributes:
        targets: Target values found in the arguments.
        targets_user: Of those, how many the user's side mentions.
        targets_tool_only: How many only tool results mention.
        targets_instruction: How many only the instruction-like part of tool results mentions.
        targets_nowhere: How many nobody mentions (made up by the agent).
        amounts: Amount-like numbers in the arguments.
        amounts_user / amounts_tool_only / amounts_nowhere: As for targets.
        values: Other short string values (names, titles, dates, ids: 3 to 200 characters).
        values_user / values_tool_only / values_instruction / values_nowhere: As for targets.
        words_user: Fraction of free-text argument words the user's side uses.
        words_tool_only: Fraction only tool results use.
        words_instruction: Fraction only the instruction-like part of tool results uses.
        verb_user: The tool's verb family is named on the user's side.
        verb_tool_only: It is named only in tool results.
        verb_instruction: It is named in the instruction-like part of tool results.
        instructions: The tool results hold instruction-like text at all.
        has_task: The action carries a task or user message.
        has_tools: The action's context carries tool results.
    """

    targets: int = 0
    targets_user: int = 0
    targets_tool_only: int = 0
    targets_instruction: int = 0
    targets_nowhere: int = 0
    amounts: int = 0
    amounts_user: int = 0
    amounts_tool_only: int = 0
    amounts_nowhere: int = 0
    values: int = 0
    values_user: int = 0
    values_tool_only: int = 0
    values_instruction: int = 0
    values_nowhere: int = 0
    words_user: float = 0.0
    words_tool_only: float = 0.0
    words_instruction: float = 0.0
    verb_user: bool = False
    verb_tool_only: bool = False
    verb_instruction: bool = False
    instructions: bool = False
    has_task: bool = False
    has_tools: bool = False


_NONE = Grounding()


def _instruction_text(tool_text: str) -> str:
    """The instruction-like lines of tool results: a marker line, one before, a few after."""
    if not any(stem in tool_text for stem in _STEMS):
        return ""
    lines = tool_text.split("\n")
    keep = [False] * len(lines)
    hit = False
    for i, line in enumerate(lines):
        if any(stem in line for stem in _STEMS) and _INSTRUCTION.search(line):
            hit = True
            for j in range(max(0, i - 1), min(len(lines), i + _INSTRUCTION_REACH + 1)):
                keep[j] = True
    if not hit:
        return ""
    return "\n".join(line for line, k in zip(lines, keep, strict=True) if k)


def _values(args: Mapping[str, Any], key: str = "") -> Iterator[tuple[str, Any]]:
    """(lowercase key, leaf value) for every leaf in nested args."""
    for k, v in args.items():
        name = str(k).lower()
        if isinstance(v, Mapping):
            yield from _values(v, name)
        elif isinstance(v, list | tuple):
            for item in v:
                if isinstance(item, Mapping):
                    yield from _values(item, name)
                else:
                    yield name, item
        else:
            yield name or key, v


_TOKEN = re.compile(r"[a-z0-9]+")
_SUFFIXES = ("ing", "ed", "es", "s", "ment", "ments", "er")


def _word_forms(text: str) -> frozenset[str]:
    """The words of `text` and their stems (`paying` -> pay, `transfers` -> transfer)."""
    if not text:
        return frozenset()
    forms: set[str] = set()
    for word in _TOKEN.findall(text):
        forms.add(word)
        for suffix in _SUFFIXES:
            if len(word) > len(suffix) + 2 and word.endswith(suffix):
                forms.add(word[: -len(suffix)])
    return frozenset(forms)


def _says(phrases: tuple[str, ...], text: str, forms: frozenset[str]) -> bool:
    """True when `text` names one of `phrases`: a word (or its stem), or a multi-word phrase."""
    return any((p in text) if " " in p else (p in forms) for p in phrases)


def _number_forms(value: float) -> tuple[str, ...]:
    """Text forms a number may take in a message: 98.7 -> (98.7, 98.70); 1000 -> (1000, 1,000)."""
    if value == int(value):
        whole = int(value)
        return (str(whole), f"{whole:,}")
    return (f"{value:g}", f"{value:.2f}", f"{value:,.2f}")


def _amount_source(number: float, user_text: str, tool_text: str) -> int:
    """Where an amount is found: 5 (the user's side), 6 (only tool results) or 7 (nowhere)."""
    forms = _number_forms(number)
    if any(f in user_text for f in forms):
        return 5
    if any(f in tool_text for f in forms):
        return 6
    return 7


def grounding(action: Action) -> Grounding:
    """Measure where `action`'s values and verb come from (see the module docstring).

    Costs nothing without a task or context. Otherwise linear in the size of the context and
    the arguments: one lowercase copy of each side, a few substring tests per value.
    """
    if not action.context and not action.task:
        return _NONE
    user_parts = [action.task] if action.task else []
    tool_parts: list[str] = []
    for message in action.context:
        role = str(message.get("role", "")).lower()
        if role in TOOL_ROLES:
            tool_parts.append(message_text(message))
        elif role in USER_ROLES:
            user_parts.append(message_text(message))
    user_text = "\n".join(user_parts).lower()
    tool_text = "\n".join(tool_parts).lower()
    instr_text = _instruction_text(tool_text) if tool_text else ""
    # Values are matched with whitespace collapsed: tool results fold long lines.
    user_text, tool_text, instr_text = (" ".join(t.split()) for t in (user_text, tool_text,
                                                                       instr_text))
    counts = [0] * 8  # targets, user, tool only, instruction; amounts, user, tool only, nowhere
    nowhere = 0
    vals = [0] * 5  # values, user, tool only, instruction, nowhere
    words_total = words_user = words_tool = words_instr = 0
    vocab: tuple[set[str], set[str], set[str]] | None = None  # user, instruction, tool words
    for key, value in _values(action.args):
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            if key in _AMOUNT_KEYS and value:
                counts[4] += 1
                counts[_amount_source(float(value), user_text, tool_text)] += 1
            continue
        text = " ".join(str(value).lower().split())
        if not text:
            continue
        targets = [m.group(0) for m in _TARGET_SHAPES.finditer(text)] if (
            "://" in text or "@" in text or "www." in text or (
                len(text) >= 15 and _RUN11 in text.translate(_ALNUM))
        ) else []
        if key in _TARGET_KEYS and len(text) >= 3 and len(text) <= 200:
            targets.append(text)
        for target in dict.fromkeys(targets):
            counts[0] += 1
            if target in user_text:
                counts[1] += 1
            elif target in instr_text:
                counts[3] += 1
            elif target in tool_text:
                counts[2] += 1
            else:
                nowhere += 1
        if key in _AMOUNT_KEYS:
            try:
                number = float(text.replace(",", "").lstrip("$€£"))
            except ValueError:
                number = None
            if number:
                counts[4] += 1
                counts[_amount_source(number, user_text, tool_text)] += 1
            continue
        if not targets and 3 <= len(text) <= 200:
            vals[0] += 1
            if text in user_text:
                vals[1] += 1
            elif text in instr_text:
                vals[3] += 1
            elif text in tool_text:
                vals[2] += 1
            else:
                vals[4] += 1
        if len(text) >= 20 and not targets:
            words = [w for w in _WORD.findall(text) if w not in _STOP]
            if words:
                if vocab is None:
                    vocab = (set(_WORD.findall(user_text)), set(_WORD.findall(instr_text)),
                             set(_WORD.findall(tool_text)))
                user_words, instr_words, tool_words_ = vocab
                for word in words:
                    words_total += 1
                    if word in user_words:
                        words_user += 1
                    elif word in instr_words:
                        words_instr += 1
                    elif word in tool_words_:
                        words_tool += 1
    families = verb_families(action.tool)
    verb_user = verb_tool = verb_instr = False
    if families:
        user_forms = _word_forms(user_text)
        instr_forms = _word_forms(instr_text)
        tool_forms = _word_forms(tool_text)
        for family in families:
            phrases = _FAMILIES[family]
            if _says(phrases, user_text, user_forms):
                verb_user = True
            else:
                if instr_text and _says(phrases, instr_text, instr_forms):
                    verb_instr = True
                if tool_text and _says(phrases, tool_text, tool_forms):
                    verb_tool = True
    return Grounding(
        targets=counts[0], targets_user=counts[1], targets_tool_only=counts[2],
        targets_instruction=counts[3], targets_nowhere=nowhere,
        amounts=counts[4], amounts_user=counts[5], amounts_tool_only=counts[6],
        amounts_nowhere=counts[7],
        values=vals[0], values_user=vals[1], values_tool_only=vals[2],
        values_instruction=vals[3], values_nowhere=vals[4],
        words_user=words_user / words_total if words_total else 0.0,
        words_tool_only=words_tool / words_total if words_total else 0.0,
        words_instruction=words_instr / words_total if words_total else 0.0,
        verb_user=verb_user, verb_tool_only=verb_tool and not verb_user,
        verb_instruction=verb_instr, instructions=bool(instr_text),
        has_task=bool(user_text.strip()), has_tools=bool(tool_parts),
    )
