"""Normalization: one canonical, de-obfuscated view of an action's arguments.

`normalize(action)` collects every string leaf of `args` (recursively; keys too when they are
not plain identifiers). Only when a cheap prefilter fires (non-ASCII text, `%`, a backslash,
`&`, `$`, a pipe or `;`, a 16-character base64-alphabet run, padded base64...) does it fold
unicode and decode what was hidden. Shell and SQL are parsed when the tool name, an argument key
or a content sniff (the first word, or a separator) says the text is a command or a statement.
A routine read takes the fast path: `isascii`, one `bytes.translate` into character classes and
a few substring tests, no regex scan, no parsing. When the prefilter fires but there is nothing
to fold or decode (a SELECT with `(`, several plain arguments), an exact shortcut returns what
the slow path would. Results for repeated arguments are memoized (bounded; pure function,
immutable result).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import FrozenInstanceError, field, make_dataclass
from typing import Any, NamedTuple, cast

from stakes.domain import Action
from stakes.triage._decode import (
    blob_free,
    decode_blobs,
    fold_unicode,
    undo_escapes,
    undo_url,
)
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

# The prefilter (`_FAST_CLASSES` below): any of `%\&$`|;\n\r<>(` or a 16-character run of
# `[A-Za-z0-9+]` keeps a single string off the fast path.
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


class Normalized(NamedTuple):
    """The canonical view of one action's arguments.

    Immutable, compared and hashed by value. A `NamedTuple` (built with `tuple.__new__`, the
    cheapest immutable object to construct) that also keeps the contract of the frozen dataclass
    it replaced: `dataclasses.is_dataclass`, `dataclasses.replace` and `dataclasses.fields` work,
    and assigning a field raises `dataclasses.FrozenInstanceError`.

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


def _frozen(self: Normalized, name: str, value: Any = None) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


# Set after the class body so type checkers still see the fields as read-only, and take the
# dataclass metadata (fields, parameters) of an equivalent frozen dataclass.
_SPEC = make_dataclass(
    "Normalized",
    [(name, Normalized.__annotations__[name], field(default=Normalized._field_defaults[name]))
     if name in Normalized._field_defaults else (name, Normalized.__annotations__[name])
     for name in Normalized._fields],
    frozen=True,
)
for _name, _value in (("__setattr__", _frozen), ("__delattr__", _frozen),
                      ("__dataclass_fields__", vars(_SPEC)["__dataclass_fields__"]),
                      ("__dataclass_params__", vars(_SPEC)["__dataclass_params__"])):
    setattr(Normalized, _name, _value)

_new = cast("Callable[[type[Normalized], tuple[Any, ...]], Normalized]", tuple.__new__)
"""`_new(Normalized, (text, decoded, ...))`: all nine fields, without `__new__`'s defaults."""

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


def _table(classes: dict[str, str]) -> bytes:
    """A `bytes.translate` table: each byte to its class letter (` ` when in no class)."""
    table = bytearray(b" " * 256)
    for chars, cls in classes.items():
        for c in chars:
            table[ord(c)] = ord(cls)
    return bytes(table)


_ALNUM_PLUS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+"
# The fast-path prefilter as one `bytes.translate`: `!` marks a trigger, `a` the run class.
_FAST_CLASSES = _table({_ALNUM_PLUS: "a", "%\\&$`|;\n\r<>(": "!"})
_RUN16_CLASS = "a" * 16
# What the slow path would undo, by class: `!` always needs it (escapes, line continuations,
# form feeds and vertical tabs that `_SPACES` folds), `%`, `&` and `$` only with `%XX`, `&#`
# and `IFS`; `b` is `decode_blobs`' alphabet (a blob needs a run of 8); `;`, `&`, `$` and `n`
# (newline) are what `_SEPARATORS` looks for.
_EXACT_CLASSES = _table({
    _ALNUM_PLUS + "/_-": "b", "\\\f\v": "!", "%": "%", "&": "&", "$": "$", ";|`": ";", "\n": "n",
})
_BLOB_CLASS = "b" * 8
_URL_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


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
    if len(args) == 1:  # the common case, without building lists
        key = next(iter(args))
        value = args[key]
        if type(value) is str and "*" not in value and value.isascii():
            memo_key = (action.tool, key, value)
            known = _ONE.get(memo_key)
            if known is not None:
                return known
            shape = _SHAPES1.get(key, _UNSEEN)
            if shape is _UNSEEN:
                shape = _key_shape(args)
                if len(_SHAPES1) < 4096:
                    _SHAPES1[key] = shape
            if shape is not None:
                classes = value.encode().translate(_FAST_CLASSES).decode()
                if "!" not in classes and (len(classes) < 16 or _RUN16_CLASS not in classes) and (
                    "=" not in value or not _padded(value)
                ):
                    key_set, designated = shape
                    text = value.lower()
                    if "  " in text or "\t" in text:
                        text = _SPACES.sub(" ", text)
                    if not kind and not lang and not designated:
                        first = text.lstrip().partition(" ")[0]
                        if first not in _SNIFF_FIRST and (
                            "/" not in first or first.rpartition("/")[2] not in _SNIFF_FIRST
                        ):
                            norm = _new(Normalized, (text, (), _EMPTY, None, None, key_set, _EMPTY,
                                                     False, False))
                            return _remember(memo_key, norm)
                    return _remember(memo_key, _structures(
                        kind, lang, [(key, value)], [], text, set(), key_set, _EMPTY, [],
                        "/dev/" in value))
    elif len(args) > 1:
        many = _many(action, args, kind, lang)
        if many is not None:
            return many
    leaves: list[tuple[str, str]] = []
    values: list[str] = []
    flat = True
    for item in args.items():
        v = item[1]
        if type(v) is str:
            leaves.append(item)
            values.append(v)
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
        values = [v for _, v in leaves]
        key_set = frozenset(map(str.lower, keys)) if keys else _EMPTY
        wild_set = frozenset(map(str.lower, wild)) if wild else _EMPTY
        designated = not key_set.isdisjoint(_DESIGNATED)
    if not leaves:
        return _new(Normalized, ("", (), _EMPTY, None, None, key_set, wild_set, False, False))
    if len(leaves) == 1:
        joined = values[0]
        # The fast path: no trigger character, no 16-character run, no padded base64.
        if joined.isascii():
            classes = joined.encode().translate(_FAST_CLASSES).decode()
            if "!" not in classes and (len(classes) < 16 or _RUN16_CLASS not in classes) and (
                "=" not in joined or not _padded(joined)
            ):
                text = joined.lower()
                if "  " in text or "\t" in text:
                    text = _SPACES.sub(" ", text)
                if not kind and not lang and not argvs and not designated:
                    first = text.lstrip().partition(" ")[0]
                    if first not in _SNIFF_FIRST and (
                        "/" not in first or first.rpartition("/")[2] not in _SNIFF_FIRST
                    ):
                        return _new(Normalized, (text, (), _EMPTY, None, None, key_set, wild_set,
                                                 False, False))
                return _structures(kind, lang, leaves, [], text, set(), key_set, wild_set, argvs,
                                   "/dev/" in joined)
    else:
        joined = "\n".join(values)
    # Nothing to fold or decode: the slow path below would only lowercase and join, so do just
    # that (exactly: no escape, `%XX`, `&#`, `$IFS`, form feed or decodable blob).
    if joined.isascii():
        classes = joined.encode().translate(_EXACT_CLASSES).decode()
        if "!" not in classes and ("%" not in classes or _URL_ESCAPE.search(joined) is None) and (
            "&" not in classes or "&#" not in joined
        ) and ("$" not in classes or "IFS" not in joined) and (
            _BLOB_CLASS not in classes or blob_free(joined)
        ):
            text = joined.lower()
            if "  " in text or "\t" in text:
                text = _SPACES.sub(" ", text)
            if not kind and not lang and not argvs and not designated:
                seps = (";" in classes or "&" in classes or "$" in classes
                        or classes.count("n") != len(leaves) - 1 or "/dev/" in joined)
                if not seps and not _sniffable(leaves):
                    return _new(Normalized, (text, (), _EMPTY, None, None, key_set, wild_set,
                                             False, False))
            else:
                seps = True  # exact either way; `_sniffed` memoizes the value-only part
            return _structures(kind, lang, leaves, [], text, set(), key_set, wild_set, argvs,
                               seps)
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
    return _structures(kind, lang, folded, decoded, text, flags, key_set, wild_set, argvs, True)


_MANY: dict[tuple[Any, ...], Normalized] = {}
"""Results for actions of several string arguments, by `(tool, *keys, *values)` (bounded)."""
_MANY_MAX_LEN = 512


def _many(action: Action, args: Mapping[str, Any], kind: int, lang: str) -> Normalized | None:
    """Two or more string arguments under plain keys, with nothing to fold or decode.

    Exactly what the general path returns for them, with fewer steps (one `bytes.translate` for
    what the slow path would undo). None sends the action down the general path (a number or a
    nested value, a wildcard, non-ASCII text, an escape or an encoding).
    """
    for value in args.values():
        if type(value) is not str:
            return None
    joined = "\n".join(args.values())
    memo_key = (action.tool, *args, *args.values())
    known = _MANY.get(memo_key)
    if known is not None:
        return known
    if "*" in joined or not joined.isascii():
        return None
    shape = _SHAPES.get(tuple(args), _UNSEEN)
    if shape is _UNSEEN:
        shape = _key_shape(args)
    if shape is None:
        return None
    key_set, designated = shape
    classes = joined.encode().translate(_EXACT_CLASSES).decode()
    if "!" in classes or ("%" in classes and _URL_ESCAPE.search(joined) is not None) or (
        "&" in classes and "&#" in joined
    ) or ("$" in classes and "IFS" in joined) or (
        _BLOB_CLASS in classes and not blob_free(joined)
    ):
        return None
    text = joined.lower()
    if "  " in text or "\t" in text:
        text = _SPACES.sub(" ", text)
    norm = None
    if not kind and not lang and not designated and not (
        ";" in classes or "&" in classes or "$" in classes
        or classes.count("n") != len(args) - 1 or "/dev/" in joined
    ):
        # No separator anywhere: each string routes by content alone (`_sniffed`), and when
        # none routes, `_structures` would return the plain view.
        for value in args.values():
            if _sniffed(value):
                break
        else:
            norm = _new(Normalized, (text, (), _EMPTY, None, None, key_set, _EMPTY, False, False))
    if norm is None:
        norm = _structures(kind, lang, [*args.items()], [], text, set(), key_set, _EMPTY, [],
                           True)
    if len(joined) <= _MANY_MAX_LEN:
        if len(_MANY) >= _MEMO_SIZE:
            _MANY.clear()  # cheap bound; results are pure, so dropping them is always safe
        _MANY[memo_key] = norm
    return norm


def _padded(text: str) -> bool:
    """Could `text` hold padded base64 (`cm0gLXJmIC8=`)? Only when a `=` follows a letter."""
    i = text.find("=")
    while i >= 0:
        if i and (text[i - 1].isalnum() or text[i - 1] in "+/="):
            return _PADDED.search(text) is not None
        i = text.find("=", i + 1)
    return False


def _sniffable(leaves: Sequence[tuple[Any, str]]) -> bool:
    """Could one of these (ASCII, separator-free) strings be a command or a statement?

    Only the first word matters: without `;`, `|`, `&` or a newline a command starts the string.
    """
    for _, value in leaves:
        first = value.lstrip().partition(" ")[0].lower()
        if first in _SNIFF_FIRST or ("/" in first and first.rpartition("/")[2] in _SNIFF_FIRST):
            return True
    return False


_ONE: dict[tuple[str, Any, str], Normalized] = {}
"""Results for one-argument actions by `(tool, key, value)`: agents re-read the same paths, list
the same directories and namespaces. `normalize` is pure and `Normalized` immutable, so a result
can be shared; bounded like the shell and SQL parse caches."""
_MEMO_SIZE = 4096
_ONE_MAX_LEN = 256


def _remember(memo_key: tuple[str, Any, str], norm: Normalized) -> Normalized:
    if len(memo_key[2]) <= _ONE_MAX_LEN:
        if len(_ONE) >= _MEMO_SIZE:
            _ONE.clear()  # cheap bound; results are pure, so dropping them is always safe
        _ONE[memo_key] = norm
    return norm


_SHAPES: dict[tuple[Any, ...], tuple[frozenset[str], bool] | None] = {}
_SHAPES1: dict[Any, tuple[frozenset[str], bool] | None] = {}  # by the key of one-argument args
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


def _structures(
    kind: int, lang: str, leaves: list[tuple[str, str]], decoded: list[tuple[str, str]],
    text: str, flags: set[str], keys: frozenset[str], wild: frozenset[str],
    argvs: list[tuple[str, list[str]]], seps: bool,
) -> Normalized:
    shell_keyed = not keys.isdisjoint(SHELL_KEYS)
    if len(leaves) == 1 and not decoded and not argvs and not flags:
        key, value = leaves[0]  # one SQL statement: the common case, without the merging
        route = _route(kind, lang, key, value, shell_keyed, seps)
        if route == "sql" or route == "sql?":
            return _new(Normalized, (text, (), _EMPTY, None, parse_sql(value), keys, wild, False,
                                     route == "sql?"))
    shells: list[ShellInfo] = []
    sqls: list[SqlInfo] = []
    designated_shell = designated_sql = False
    n_leaves = len(leaves)
    for i, (key, value) in enumerate([*leaves, *decoded] if decoded else leaves):
        route = _route(kind, lang, key, value, shell_keyed, seps)
        if not route:
            continue
        if i >= n_leaves:
            flags.add("encoded.command")
        if route == "sql" or route == "sql?":
            sqls.append(parse_sql(value))
            designated_sql = designated_sql or route == "sql"
        elif route == "code":
            shells.append(parse_argv([lang, "-r" if lang == "php" else "-e" if lang in (
                "node", "ruby", "perl") else "-c", value]))
            designated_shell = True
        else:
            shells.append(parse_shell(value))
            designated_shell = designated_shell or route == "shell"
    for _, argv in argvs:
        shells.append(parse_argv(argv))
        designated_shell = True
    shell = (shells[0] if len(shells) == 1 else merge_shell(shells)) if shells else None
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
    sql = (sqls[0] if len(sqls) == 1 else merge_sql(sqls)) if sqls else None
    return _new(Normalized, (
        text,
        tuple([d for _, d in decoded]) if decoded else (),
        frozenset(flags) if flags else _EMPTY,
        shell,
        sql,
        keys,
        wild,
        shell is not None and not designated_shell,
        sql is not None and not designated_sql,
    ))
