"""Normalization: one canonical, de-obfuscated view of an action's arguments.

`normalize(action)` collects every string leaf of `args` (recursively; keys too when they are
not plain identifiers). Only when a cheap prefilter fires (non-ASCII text, `%`, a backslash,
`&`, `$`, a pipe or `;`, a 16-character base64-alphabet run, padded base64...) does it fold
unicode and decode what was hidden. Shell and SQL are parsed when the tool name, an argument key
or a content sniff (the first word, or a separator) says the text is a command or a statement.
A routine read takes the fast path: one pass over the arguments, `isascii`, two or three regex
scans, no parsing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stakes.domain import Action
from stakes.triage._decode import decode_blobs, fold_unicode, undo_escapes, undo_url
from stakes.triage._shell import ShellInfo, merge_shell, parse_argv, parse_shell
from stakes.triage._sql import SqlInfo, merge_sql, parse_sql
from stakes.triage._words import tool_words

__all__ = ["SHELL_KEYS", "SQL_KEYS", "Normalized", "normalize"]

SHELL_KEYS = frozenset(("cmd", "command", "commands", "script", "shell", "bash", "sh", "argv",
                        "cmdline", "command_line", "shell_command", "run"))
"""Argument keys whose string values are shell commands."""
SQL_KEYS = frozenset(("sql", "query", "statement", "statements", "stmt", "sql_query", "raw_sql",
                      "sql_statement"))
"""Argument keys whose values are SQL (`query` only for SQL tools or SQL-shaped text)."""
_CODE_KEYS = frozenset(("code", "source", "program", "snippet", "expression"))
_DESIGNATED = SHELL_KEYS | SQL_KEYS

_SHELL_WORDS = frozenset((
    "shell", "bash", "sh", "zsh", "exec", "execute", "run", "terminal", "cmd", "command",
    "console", "powershell", "pwsh", "subprocess", "system", "popen", "spawn", "ssh",
))
_SQL_WORDS = frozenset((
    "sql", "db", "database", "postgres", "postgresql", "psql", "mysql", "mariadb", "sqlite",
    "sqlite3", "mssql", "sqlserver", "oracle", "bigquery", "snowflake", "redshift", "athena",
    "clickhouse", "duckdb", "warehouse", "trino", "presto", "cockroach",
))
_CODE_WORDS = {"python": "python3", "py": "python3", "ipython": "python3", "jupyter": "python3",
               "notebook": "python3", "node": "node", "javascript": "node", "js": "node",
               "ruby": "ruby", "perl": "perl", "php": "php"}
_SHELL, _SQL = 1, 2

# The prefilter: any of these sends a string down the slow path (folding and decoding).
_TRIGGER = re.compile(r"[%\\&$`|;\n\r<>(]")
_RUN16 = re.compile(r"[A-Za-z0-9+]{16}")
_PADDED = re.compile(r"[A-Za-z0-9+/]{6,}={1,2}(?![A-Za-z0-9])")
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
_WILDCARD = re.compile(r"^(?:\*|\*:\*|[\w-]+:\*|arn:[\w-]*:iam::\*.*|\*/\*)$")
_IFS_TEXT = re.compile(r"\$\{IFS(?:[%#:][^}]*)?\}|\$IFS(?:\$\d)?")
_SPACES = re.compile(r"[ \t\f\v]{2,}|\t")
_TRICKS = frozenset(("quoting", "backslash", "ifs", "line_continuation", "ansi_c", "brace", "glob",
                     "variable", "expansion"))
_MAX_DECODED = 32
_SCALARS = frozenset((int, float, bool, type(None)))
_EMPTY: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Normalized:
    """The canonical view of one action's arguments.

    Attributes:
        text: Every string value (and non-identifier key), folded and lowercased, joined by
            newlines, with decoded payloads and de-obfuscated shell commands appended; runs of
            spaces and tabs collapsed to one space.
        decoded: Payloads that had to be decoded (base64, hex, URL, escapes), as decoded.
        flags: What was undone: `encoded.base64`, `encoded.hex`, `encoded.url`,
            `encoded.unicode`, `encoded.layered`, `encoded.command` (a decoded payload is a
            command or statement), `homoglyph`, `zero_width`, `quoting_trick`.
        shell: The parsed shell commands, when any argument is (or looks like) one.
        sql: The parsed SQL, when any argument is (or looks like) SQL.
        keys: Every argument key, lowercase, at any depth.
        wildcards: Keys (lowercase) whose value is a wildcard: `*`, `s3:*`, `*:*`, `arn:...:*`.
        shell_sniffed: True when `shell` comes only from content sniffing (no shell tool or key).
        sql_sniffed: True when `sql` comes only from content sniffing (no SQL tool or key).
    """

    text: str
    decoded: tuple[str, ...] = ()
    flags: frozenset[str] = _EMPTY
    shell: ShellInfo | None = None
    sql: SqlInfo | None = None
    keys: frozenset[str] = _EMPTY
    wildcards: frozenset[str] = _EMPTY
    shell_sniffed: bool = False
    sql_sniffed: bool = False


_NEW = object.__new__
_SET = tuple(getattr(Normalized, name).__set__ for name in Normalized.__slots__)
_S_TEXT, _S_DECODED, _S_FLAGS, _S_SHELL, _S_SQL, _S_KEYS, _S_WILD, _S_SHSN, _S_SQSN = _SET


def _make(
    text: str, decoded: tuple[str, ...], flags: frozenset[str], shell: ShellInfo | None,
    sql: SqlInfo | None, keys: frozenset[str], wildcards: frozenset[str], shell_sniffed: bool,
    sql_sniffed: bool,
) -> Normalized:
    """Build a `Normalized` without the frozen dataclass `__init__` (3x cheaper, same object)."""
    obj = _NEW(Normalized)
    _S_TEXT(obj, text)
    _S_DECODED(obj, decoded)
    _S_FLAGS(obj, flags)
    _S_SHELL(obj, shell)
    _S_SQL(obj, sql)
    _S_KEYS(obj, keys)
    _S_WILD(obj, wildcards)
    _S_SHSN(obj, shell_sniffed)
    _S_SQSN(obj, sql_sniffed)
    return obj


_KINDS: dict[str, tuple[int, str]] = {}


def _tool_kind(tool: str) -> tuple[int, str]:
    kind_lang = _KINDS.get(tool)
    if kind_lang is None:
        words = tool_words(tool)
        kind = _SQL if _SQL_WORDS.intersection(words) else (
            _SHELL if _SHELL_WORDS.intersection(words) else 0)
        lang = next((_CODE_WORDS[w] for w in words if w in _CODE_WORDS), "")
        kind_lang = (kind, lang)
        if len(_KINDS) < 8192:
            _KINDS[tool] = kind_lang
    return kind_lang


def normalize(action: Action) -> Normalized:
    """Normalize an action's arguments for the rules and stakes inference.

    Args:
        action: The proposed action.

    Returns:
        The normalized view. Pure: no I/O; never raises on odd argument values (non-string
        leaves are skipped, nesting is cut at depth 16).
    """
    args = action.args
    kind, lang = _KINDS.get(action.tool) or _tool_kind(action.tool)
    leaves: list[tuple[str, str]] = []
    flat = True
    for k, v in args.items():
        if type(v) is str:
            leaves.append((k, v))
            if "*" in v:
                flat = False
        elif type(v) not in _SCALARS:
            flat = False
            break
    argvs: list[tuple[str, list[str]]] = []
    shape = (_SHAPES.get(tuple(args), _UNSEEN) if flat else None)
    if shape is _UNSEEN:
        shape = _key_shape(args)
    if shape is not None:
        key_set, designated = shape
        wild_set = _EMPTY
    else:
        leaves = []
        keys: list[str] = []
        wild: list[str] = []
        _collect(args, leaves, keys, wild, argvs, 0)
        key_set = frozenset(map(str.lower, keys)) if keys else _EMPTY
        wild_set = frozenset(map(str.lower, wild)) if wild else _EMPTY
        designated = not key_set.isdisjoint(_DESIGNATED)
    if not leaves:
        return _make("", (), _EMPTY, None, None, key_set, wild_set, False, False)
    joined = leaves[0][1] if len(leaves) == 1 else "\n".join([v for _, v in leaves])
    if joined.isascii() and _TRIGGER.search(joined) is None and (
        len(joined) < 16 or _RUN16.search(joined) is None) and (
        "=" not in joined or not _padded(joined)
    ):
        text = joined.lower()
        if "  " in text or "\t" in text:
            text = _SPACES.sub(" ", text)
        if not kind and not lang and not argvs and not designated:
            if len(leaves) == 1:  # inline `_sniffable` for the common single-value case
                first = text.lstrip().partition(" ")[0]
                sniff = first in _SNIFF_FIRST or (
                    "/" in first and first.rpartition("/")[2] in _SNIFF_FIRST)
            else:
                sniff = _sniffable(leaves)
            if not sniff:
                return _make(text, (), _EMPTY, None, None, key_set, wild_set, False, False)
        return _structures(kind, lang, leaves, [], text, set(), key_set, wild_set, argvs)
    flags: set[str] = set()
    folded: list[tuple[str, str]] = []
    decoded: list[tuple[str, str]] = []
    seen: set[str] = set()
    for key, value in leaves:
        if not value.isascii():
            value, found = fold_unicode(value)
            flags.update(found)
        folded.append((key, value))
        seen.add(value)
        _decode(key, value, decoded, seen, flags, 0)
    parts = []
    for _, value in folded:
        if "\\\n" in value:
            value = value.replace("\\\n", "")
            flags.add("quoting_trick")
        if "IFS" in value:
            value, n = _IFS_TEXT.subn(" ", value)
            if n:
                flags.add("quoting_trick")
        parts.append(value)
    parts.extend(d for _, d in decoded)
    text = _SPACES.sub(" ", "\n".join(parts).lower())
    return _structures(kind, lang, folded, decoded, text, flags, key_set, wild_set, argvs)


def _padded(text: str) -> bool:
    """Could `text` hold padded base64 (`cm0gLXJmIC8=`)? Only when a `=` follows a letter."""
    i = text.find("=")
    while i >= 0:
        if i and (text[i - 1].isalnum() or text[i - 1] in "+/="):
            return _PADDED.search(text) is not None
        i = text.find("=", i + 1)
    return False


def _sniffable(leaves: Sequence[tuple[str, str]]) -> bool:
    """Could one of these (ASCII, separator-free) strings be a command or a statement?

    Only the first word matters: without `;`, `|`, `&` or a newline a command starts the string.
    """
    for _, value in leaves:
        first = value.lstrip().partition(" ")[0].lower()
        if first in _SNIFF_FIRST or ("/" in first and first.rpartition("/")[2] in _SNIFF_FIRST):
            return True
    return False


_SHAPES: dict[tuple[Any, ...], tuple[frozenset[str], bool] | None] = {}
_UNSEEN: Any = object()


def _key_shape(args: Mapping[str, Any]) -> tuple[frozenset[str], bool] | None:
    """`(keys, has a shell/SQL key)` for flat lowercase identifier keys, else None (cached)."""
    sig = tuple(args)
    shape: tuple[frozenset[str], bool] | None = None
    if all(type(k) is str and k.isidentifier() and k == k.lower() for k in sig):
        keys = frozenset(sig) if sig else _EMPTY
        shape = (keys, not keys.isdisjoint(_DESIGNATED))
    if len(_SHAPES) < 4096:
        _SHAPES[sig] = shape
    return shape


def _collect(
    obj: Any, leaves: list[tuple[str, str]], keys: list[str], wild: list[str],
    argvs: list[tuple[str, list[str]]], depth: int,
) -> None:
    if depth > 16 or not isinstance(obj, Mapping):
        return
    for k, v in obj.items():
        key = k if type(k) is str else str(k)
        keys.append(key)
        if not key.isidentifier():
            leaves.append(("", key))
        if isinstance(v, str):
            leaves.append((key, str(v)))
            if "*" in v and _WILDCARD.match(v):
                wild.append(key)
        elif isinstance(v, Mapping):
            _collect(v, leaves, keys, wild, argvs, depth + 1)
        elif isinstance(v, list | tuple):
            _collect_list(key, v, leaves, keys, wild, argvs, depth + 1)


def _collect_list(
    key: str, items: Sequence[Any], leaves: list[tuple[str, str]], keys: list[str],
    wild: list[str], argvs: list[tuple[str, list[str]]], depth: int,
) -> None:
    if depth > 16:
        return
    strings = True
    for item in items:
        if isinstance(item, str):
            leaves.append((key, str(item)))
            if "*" in item and _WILDCARD.match(item):
                wild.append(key)
        else:
            strings = False
            if isinstance(item, Mapping):
                _collect(item, leaves, keys, wild, argvs, depth + 1)
            elif isinstance(item, list | tuple):
                _collect_list(key, item, leaves, keys, wild, argvs, depth + 1)
    if strings and len(items) > 1 and key.lower() in SHELL_KEYS:
        argvs.append((key, list(items)))


def _decode(
    key: str, value: str, out: list[tuple[str, str]], seen: set[str], flags: set[str], depth: int
) -> None:
    """Decode what `value` hides, recursively (3 layers), appending `(key, decoded)` to `out`."""
    if depth >= 3 or len(out) >= _MAX_DECODED:
        return
    found: list[str] = []
    hidden: set[str] = set()
    url = undo_url(value)
    if url is not None:
        found.append(url[0])
        if url[1]:
            hidden.add("encoded.url")
    esc = undo_escapes(value)
    if esc is not None:
        found.append(esc[0])
        hidden.update(esc[1])
    for flag, blob in decode_blobs(value):
        found.append(blob)
        hidden.add(flag)
    if hidden:
        flags.update(hidden)
        if depth:
            flags.add("encoded.layered")
    for d in found:
        if not d.isascii():
            d, more = fold_unicode(d)
            flags.update(more)
        if d in seen or len(out) >= _MAX_DECODED:
            continue
        seen.add(d)
        out.append((key, d))
        _decode(key, d, out, seen, flags, depth + 1)


def _route(kind: int, lang: str, key: str, value: str, shell_keyed: bool) -> str:
    """Where a string goes: `shell`, `sql`, `code` (designated), `shell?`/`sql?` (sniffed), ``."""
    lk = key.lower()
    if lk in SQL_KEYS and (lk != "query" or kind == _SQL or _sql_shaped(value)):
        return "sql"
    if lk in SHELL_KEYS:
        return "shell"
    if lang and lk in _CODE_KEYS:
        return "code"
    if kind == _SQL and _SQL_START.match(value):
        return "sql"
    if kind == _SHELL and not shell_keyed:
        return "shell"
    if _SEPARATORS.search(value) is not None or _sniffable(((key, value),)):
        low = value.lower()
        if _SHELL_SNIFF.search(low):
            return "shell?"
        if _sql_shaped(value):
            return "sql?"
    return ""


def _sql_shaped(value: str) -> bool:
    """SQL-looking text: starts with a statement keyword (or stacks one) and has SQL's shape."""
    if _SQL_START.match(value) is None and ";" not in value:
        return False
    return _SQL_SHAPE.search(value.lower()) is not None


def _structures(
    kind: int, lang: str, leaves: list[tuple[str, str]], decoded: list[tuple[str, str]],
    text: str, flags: set[str], keys: frozenset[str], wild: frozenset[str],
    argvs: list[tuple[str, list[str]]],
) -> Normalized:
    shell_keyed = not keys.isdisjoint(SHELL_KEYS)
    if len(leaves) == 1 and not decoded and not argvs and not flags:
        key, value = leaves[0]  # one SQL statement: the common case, without the merging
        route = _route(kind, lang, key, value, shell_keyed)
        if route == "sql" or route == "sql?":
            return _make(text, (), _EMPTY, None, parse_sql(value), keys, wild, False,
                         route == "sql?")
    shells: list[ShellInfo] = []
    sqls: list[SqlInfo] = []
    designated_shell = designated_sql = False
    n_leaves = len(leaves)
    for i, (key, value) in enumerate((*leaves, *decoded)):
        route = _route(kind, lang, key, value, shell_keyed)
        if not route:
            continue
        if i >= n_leaves:
            flags.add("encoded.command")
        if route.startswith("shell"):
            shells.append(parse_shell(value))
            designated_shell = designated_shell or route == "shell"
        elif route == "code":
            shells.append(parse_argv([lang, "-r" if lang == "php" else "-e" if lang in (
                "node", "ruby", "perl") else "-c", value]))
            designated_shell = True
        else:
            sqls.append(parse_sql(value))
            designated_sql = designated_sql or route == "sql"
    for _, argv in argvs:
        shells.append(parse_argv(argv))
        designated_shell = True
    shell = merge_shell(shells)
    if shell is not None:
        for statement in shell.embedded_sql:
            sqls.append(parse_sql(statement))
            designated_sql = designated_sql or designated_shell
        if shell.tricks:
            if shell.tricks & _TRICKS:
                flags.add("quoting_trick")
            if "encoded" in shell.tricks:
                flags.update(("encoded.base64", "encoded.command"))
            text = f"{text}\n{shell.canonical.lower()}"
    sql = merge_sql(sqls)
    return Normalized(
        text,
        tuple(d for _, d in decoded),
        frozenset(flags) if flags else _EMPTY,
        shell,
        sql,
        keys,
        wild,
        shell is not None and not designated_shell,
        sql is not None and not designated_sql,
    )
