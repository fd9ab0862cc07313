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
from collections.abc import Callable, Mapping
from dataclasses import FrozenInstanceError, field, make_dataclass
from typing import Any, NamedTuple, cast

from stakes.domain import Action
from stakes.triage._decode import blob_free, fold_unicode
from stakes.triage._normalize_fast import (
    _BLOB_CLASS,
    _EXACT_CLASSES,
    _FAST_CLASSES,
    _RUN16_CLASS,
    _padded,
)
from stakes.triage._normalize_route import (
    _DESIGNATED,
    _SHELL,
    _SNIFF_FIRST,
    _SQL,
    SHELL_KEYS,
    SQL_KEYS,
    _route,
    _sniffable,
    _sniffed,
)
from stakes.triage._normalize_walk import _collect, _decode
from stakes.triage._shell import ShellInfo, merge_shell, parse_argv, parse_shell
from stakes.triage._sql import SqlInfo, merge_sql, parse_sql
from stakes.triage._words import tool_words

__all__ = ["SHELL_KEYS", "SQL_KEYS", "Normalized", "normalize"]

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
_IFS_TEXT = re.compile(r"\$\{IFS(?:[%#:][^}]*)?\}|\$IFS(?:\$\d)?")
_SPACES = re.compile(r"[ \t\f\v]{2,}|\t")
_TRICKS = frozenset(("quoting", "backslash", "ifs", "line_continuation", "ansi_c", "brace", "glob",
                     "variable", "expansion"))
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
