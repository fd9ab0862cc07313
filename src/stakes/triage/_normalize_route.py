"""Routing for normalization: which strings are shell commands, SQL or code.

The argument keys that designate shell (`SHELL_KEYS`), SQL (`SQL_KEYS`) and code, and content
sniffing for the strings that no tool name or key designates: the first word of a string, its
separators and SQL's shape decide whether it is parsed as a command or a statement. `_route`
combines the tool's kind, the key and the content; sniffing and SQL-start tests are memoized
for short strings (bounded; pure).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "SHELL_KEYS",
    "SQL_KEYS",
    "_CODE_KEYS",
    "_DESIGNATED",
    "_SHELL",
    "_SNIFF_FIRST",
    "_SQL",
    "_route",
    "_sniffable",
    "_sniffed",
]

SHELL_KEYS = frozenset(("cmd", "command", "commands", "script", "shell", "bash", "sh", "argv",
                        "cmdline", "command_line", "shell_command", "run"))
"""Argument keys whose string values are shell commands."""
SQL_KEYS = frozenset(("sql", "query", "statement", "statements", "stmt", "sql_query", "raw_sql",
                      "sql_statement"))
"""Argument keys whose values are SQL (`query` only for SQL tools or SQL-shaped text)."""
_CODE_KEYS = frozenset(("code", "source", "program", "snippet", "expression"))
_DESIGNATED = SHELL_KEYS | SQL_KEYS

_SHELL, _SQL = 1, 2
_SHELL_SNIFF = re.compile(
    r"(?m)(?:^|[;&|`]|\$\()\s*(?:sudo\s+|env\s+|nohup\s+|exec\s+)?(?:/[\w./-]*/)?"
    r"(?:rm|curl|wget|nc|ncat|netcat|socat|bash|sh|zsh|dash|python[\d.]*|perl|ruby|php|chmod|"
    r"chown|dd|mkfs[\w.]*|base64|eval|crontab|ssh|scp|rsync|iptables|systemctl|shred|truncate|"
    r"mkfifo|telnet|xxd|useradd|usermod|setenforce|auditctl|sudo|kubectl|terraform|printenv|"
    r"wipefs|powershell|iex|history|unset|cat|echo)(?=[\s;|&]|$)|/dev/(?:tcp|udp)/"
)
_SQL_SHAPE = re.compile(
    r"\bselect\b[\s\S]+\bfrom\b|\binsert\s+into\b|\bupdate\s+\S+\s+set\b|\bdelete\s+from\b"
    r"|\bdrop\s+(?:table|database|schema|view|index|user|role)\b|\btruncate\s+table\b"
    r"|\balter\s+(?:table|user|role|database)\b|\bgrant\s+[\s\S]+\bto\b|\bcopy\s+\S+\s+(?:from|to)\b"
    r"|\bcreate\s+(?:table|user|role|database|function|trigger|or\s+replace)\b"
    r"|;\s*(?:drop|delete|update|insert|truncate)\b"
)
_SQL_START = re.compile(
    r"\s*(?:\(\s*)?(?:select|insert|update|delete|drop|truncate|alter|grant|revoke|create|copy|"
    r"with|replace|merge|upsert|exec|execute|call|show|explain|describe|desc|values|pragma|"
    r"vacuum|analyze|attach|load|set|begin|commit|rollback)\b",
    re.IGNORECASE,
)
_SEPARATORS = re.compile(r"[;&|`\n]|\$\(|/dev/(?:tcp|udp)/")
# First words that make a separator-free string worth parsing as a command or a statement.
_SNIFF_FIRST = frozenset((
    "rm", "curl", "wget", "nc", "ncat", "netcat", "socat", "bash", "sh", "zsh", "dash", "python",
    "python3", "perl", "ruby", "php", "chmod", "chown", "dd", "mkfs", "base64", "eval", "crontab",
    "ssh", "scp", "rsync", "iptables", "systemctl", "shred", "truncate", "mkfifo", "telnet", "xxd",
    "useradd", "usermod", "setenforce", "auditctl", "sudo", "kubectl", "terraform", "printenv",
    "wipefs", "powershell", "iex", "history", "unset", "cat", "env", "nohup", "exec", "export",
    "select", "insert", "update", "delete", "drop", "truncate", "alter", "grant", "revoke",
    "create", "copy", "with", "replace", "merge",
))


def _sniffable(leaves: Sequence[tuple[Any, str]]) -> bool:
    """Could one of these (ASCII, separator-free) strings be a command or a statement?

    Only the first word matters: without `;`, `|`, `&` or a newline a command starts the string.
    """
    for _, value in leaves:
        first = value.lstrip().partition(" ")[0].lower()
        if first in _SNIFF_FIRST or ("/" in first and first.rpartition("/")[2] in _SNIFF_FIRST):
            return True
    return False


def _route(kind: int, lang: str, key: str, value: str, shell_keyed: bool, seps: bool) -> str:
    """Where a string goes: `shell`, `sql`, `code` (designated), `shell?`/`sql?` (sniffed), ``.

    `seps` False promises that no string of the action holds a `_SEPARATORS` match.
    """
    lk = key.lower()
    if lk in SQL_KEYS and (lk != "query" or kind == _SQL or _sql_shaped(value)):
        return "sql"
    if lk in SHELL_KEYS:
        return "shell"
    if lang and lk in _CODE_KEYS:
        return "code"
    if kind == _SQL and _sql_start(value):
        return "sql"
    if kind == _SHELL and not shell_keyed:
        return "shell"
    if not seps and len(value) > _SNIFFED_MAX_LEN:
        return _sniff(value, False)
    return _sniffed(value)


def _sniff(value: str, seps: bool) -> str:
    """`shell?`, `sql?` or `` for a string no tool name or key designates (content sniffing)."""
    if (seps and _SEPARATORS.search(value) is not None) or _sniffable(((None, value),)):
        low = value.lower()
        if _SHELL_SNIFF.search(low):
            return "shell?"
        if _sql_shaped(value):
            return "sql?"
    return ""


_SNIFFED: dict[str, str] = {}
_SNIFFED_MAX_LEN = 128


def _sniffed(value: str) -> str:
    """`_sniff(value, True)`, memoized for short strings.

    Exact whatever `seps` says: a string without a `_SEPARATORS` match sniffs the same either way.
    """
    route = _SNIFFED.get(value)
    if route is None:
        route = _sniff(value, True)
        if len(value) <= _SNIFFED_MAX_LEN:
            if len(_SNIFFED) >= 4096:
                _SNIFFED.clear()  # cheap bound; the function is pure, dropping entries is safe
            _SNIFFED[value] = route
    return route


def _sql_shaped(value: str) -> bool:
    """SQL-looking text: starts with a statement keyword (or stacks one) and has SQL's shape."""
    if ";" not in value and not _sql_start(value):
        return False
    return _SQL_SHAPE.search(value.lower()) is not None


_STARTS: dict[str, bool] = {}


def _sql_start(value: str) -> bool:
    """`_SQL_START.match(value)`, memoized for short strings (database names, search queries).

    The case-insensitive alternation costs about a microsecond even anchored; the strings it
    sees outside SQL arguments (`staging/app`, `etl-orders-nightly failed`) repeat.
    """
    found = _STARTS.get(value)
    if found is None:
        found = _SQL_START.match(value) is not None
        if len(value) <= 128:
            if len(_STARTS) >= 4096:
                _STARTS.clear()  # cheap bound; the function is pure, dropping entries is safe
            _STARTS[value] = found
    return found
