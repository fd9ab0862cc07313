"""Redaction: secrets in arguments, context and reasons never reach the ledger."""

from __future__ import annotations

import fnmatch
import importlib
import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from stakes.errors import PolicyError
from stakes.ledger._chain import canonical

__all__ = ["DEFAULT_KEYS", "DEFAULT_PATTERNS", "REDACTED", "Redactor"]

REDACTED = "[REDACTED]"
"""What replaces the whole value under a secret key."""

DEFAULT_KEYS: tuple[str, ...] = (
    "*password*", "*passwd*", "*passphrase*", "pwd", "*secret*", "*token*",
    "api_key", "*api_key*", "*api-key*", "*apikey*", "authorization", "proxy-authorization",
    "*private_key*", "*private-key*", "*privatekey*", "*credential*", "cookie", "set-cookie",
)
"""Key globs (`fnmatch` syntax, matched case-insensitively against the whole key)."""

DEFAULT_PATTERNS: tuple[str, ...] = (
    r"(?#private-key)-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?"
    r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
    r"(?#aws-access-key)\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    r"(?#github-token)\b(?:ghp_|gho_|ghu_|ghs_|ghr_|github_pat_)[A-Za-z0-9_]{20,}",
    r"(?#api-key)\b(?:sk-|sk_live_|sk_test_|rk_live_|rk_test_)[A-Za-z0-9_\-]{16,}",
    r"(?#slack-token)\bxox[abposr]-[A-Za-z0-9\-]{10,}",
    r"(?#jwt)\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
    r"(?#bearer-token)(?i:\bbearer\s+)(?P<secret>[A-Za-z0-9\-._~+/]{16,}=*)",
    r"(?#url-password)://[^\s/?#@:\[\]]*:(?P<secret>[^\s/?#@\[\]]+)@",
    r"(?#secret-param)(?i:\b(?:password|passwd|pwd|secret|token|api[_\-]?key|access[_\-]?key)"
    r"[\"']?\s*[=:]\s*[\"']?)(?P<secret>(?!\[REDACTED)[^\s&;,\"']+)",
)
"""Regular expressions for secrets inside strings, applied in this order.

A pattern names itself with a leading regex comment, `(?#name)` (unnamed: `pattern`). A match
becomes `[REDACTED:<name>]`; when the pattern has a group named `secret`, only that group is
replaced: `postgres://app:hunter2@db` becomes `postgres://app:[REDACTED:url-password]@db`.
"""

_KEY_CACHE_MAX = 4096
_MERGE_PREFIX = 5
_SCALARS = frozenset({int, float, bool, type(None)})
_NAME = re.compile(r"^\(\?#([^)]*)\)")
_LEADING_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")
_NAMED_GROUP = re.compile(r"\(\?P<\w+>")
_UNSAFE = re.compile(r"[\"'\\\x00-\x1f\x7f]")  # characters JSON or repr() would escape
_GLOB_SPECIAL = re.compile(r"\*|\?|\[[^\]]*\]?")
# `re.IGNORECASE` matches these to ASCII letters, but `str.lower()` leaves them alone.
_FOLD_FIXES = str.maketrans({"\u0131": "i", "\u017f": "s"})


def _fold(text: str) -> str:
    """Lowercase `text` so that an ASCII needle is found wherever `re.IGNORECASE` would match."""
    low = text.lower()
    return low if text.isascii() else low.translate(_FOLD_FIXES)

Needles = frozenset[tuple[str, bool]]
"""Substrings `(text, folded)`, at least one of which every match contains; `folded` ones are
lowercase and looked for in lowercased text."""


def _split(pattern: str) -> tuple[str, str]:
    """`(name, regex)`: the `(?#name)` comment removed, leading global flags made scoped.

    `(?i)rest` becomes `(?i:rest)` so that patterns can be joined into one alternation.
    """
    m = _NAME.match(pattern)
    name = m.group(1).strip() if m else ""
    rest = pattern[m.end():] if m else pattern
    f = _LEADING_FLAGS.match(rest)
    if f:
        rest = f"(?{f.group(1)}:{rest[f.end():]})"
    return name or "pattern", rest


def _needle(text: str, folded: bool) -> Needles | None:
    """The longest piece of `text` free of escaped characters, as a one-needle set."""
    piece = max(_UNSAFE.split(text), key=len)
    if not piece or not piece.isprintable() or (folded and not piece.isascii()):
        return None
    return frozenset({(piece.lower() if folded else piece, folded)})


_COMMON = frozenset("abcdefghijklmnopqrstuvwxyz0123456789 :/.,_-=")


def _rarity(needles: Needles) -> tuple[int, int, int]:
    """How selective a needle set is (higher is better).

    Its weakest needle's count of characters uncommon in ordinary text (uppercase, `@`, `#`...),
    then that needle's length, then fewer needles.
    """
    weakest = min((sum(c not in _COMMON for c in t), len(t)) for t, _ in needles)
    return (*weakest, -len(needles))


def _better(a: Needles | None, b: Needles | None) -> Needles | None:
    """The more selective of two needle sets (see `_rarity`)."""
    if a is None or b is None:
        return a or b
    return a if _rarity(a) >= _rarity(b) else b


def _lead(items: Any, ops: Any) -> str:
    """The literal characters a parsed sequence starts with."""
    chars = []
    for op, av in items:
        if op is not ops.LITERAL:
            break
        chars.append(chr(av))
    return "".join(chars)


def _required(items: Any, folded: bool, ops: Any) -> Needles | None:
    """Needles that every match of the parsed regex sequence `items` must contain, or None.

    Walks the `re` parser's tree: runs of literals at this level are required; so is what a
    group, an atomic group or a repeat with a minimum >= 1 requires; a branch requires the
    union of what each alternative requires (when each requires something), and a literal run
    just before a branch extends each alternative's leading literals (`A(?:KIA|SIA)` requires
    `AKIA` or `ASIA`).
    """
    best: Needles | None = None
    run: list[str] = []
    for op, av in [*items, (None, None)]:
        if op is ops.LITERAL:
            run.append(chr(av))
            continue
        before = "".join(run)
        if run:
            best = _better(best, _needle(before, folded))
            run = []
        if op is ops.SUBPATTERN:
            _, add, remove, sub = av
            inner = (folded or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE
            best = _better(best, _required(sub.data, inner, ops))
        elif op is ops.ATOMIC_GROUP:
            best = _better(best, _required(av.data, folded, ops))
        elif op in (ops.MAX_REPEAT, ops.MIN_REPEAT, ops.POSSESSIVE_REPEAT) and av[0] >= 1:
            best = _better(best, _required(av[2].data, folded, ops))
        elif op is ops.BRANCH:
            alternatives = [_required(alt.data, folded, ops) for alt in av[1]]
            if all(alternatives):
                best = _better(best, frozenset().union(*alternatives))  # type: ignore[arg-type]
            if before:
                joined = [_needle(before + _lead(alt.data, ops), folded) for alt in av[1]]
                if all(joined):
                    best = _better(best, frozenset().union(*joined))  # type: ignore[arg-type]
    return best


def _pattern_needles(regex: str) -> Needles | None:
    """What every match of `regex` contains; None when that cannot be worked out."""
    try:
        parser = importlib.import_module("re._parser")
        ops = importlib.import_module("re._constants")
        return _required(parser.parse(regex).data, False, ops)
    except Exception:  # a private API: without it the screen is just skipped (slower, as safe)
        return None


def _glob_needles(glob: str) -> Needles | None:
    """The longest literal piece of a key glob (keys match case-insensitively: folded)."""
    return _needle(max(_GLOB_SPECIAL.split(glob), key=len), True)


class _Rule:
    """One compiled string pattern, its needles, and how it replaces a match."""

    __slots__ = ("exact", "folded", "marker", "name", "regex", "whole")

    def __init__(self, name: str, pattern: str) -> None:
        self.name = name
        self.marker = f"[REDACTED:{name}]"
        try:
            self.regex = re.compile(pattern)
        except re.error as exc:
            raise PolicyError(
                f"redaction pattern `{name}` is not a valid regular expression: {exc}",
                code="policy.bad_redaction", field=f"patterns.{name}",
            ) from None
        if self.regex.search("") is not None:
            raise PolicyError(
                f"redaction pattern `{name}` matches the empty string",
                code="policy.bad_redaction", field=f"patterns.{name}",
            )
        self.whole = "secret" not in self.regex.groupindex
        needles = _pattern_needles(pattern) or frozenset()
        self.exact = tuple(sorted(t for t, f in needles if not f))
        self.folded = tuple(sorted(t for t, f in needles if f))

    def replace(self, m: re.Match[str]) -> str:
        if self.whole:
            return self.marker
        start, end = m.start("secret"), m.end("secret")
        if start < 0:  # the `secret` group did not take part in this match
            return self.marker
        return m.string[m.start():start] + self.marker + m.string[end:m.end()]


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return a[:n]


def _minimal(needles: Iterable[str]) -> tuple[str, ...]:
    """Fewer needles, each scan of the text being one needle.

    Needles sharing a prefix of at least 5 characters are replaced by that prefix (`passw` for
    `password` and `passwd`), and needles that contain another are dropped: finding the shorter
    one is implied.
    """
    merged: list[str] = []
    for needle in sorted(set(needles)):
        if merged:
            common = _common_prefix(merged[-1], needle)
            if len(common) >= _MERGE_PREFIX:
                merged[-1] = common
                continue
        merged.append(needle)
    kept: list[str] = []
    for needle in sorted(merged, key=len):
        if not any(k in needle for k in kept):
            kept.append(needle)
    return tuple(kept)


class Redactor:
    """Replaces secrets in JSON-like data before it is written to the ledger.

    - Keys: a value (of any type, whole objects and lists included; `null` is kept) whose key
      matches one of `keys` becomes `"[REDACTED]"`. Keys are `fnmatch` globs matched against the
      whole key, case-insensitively, compiled into one regex and memoized per key.
    - Patterns: inside every string, each match of a pattern becomes `[REDACTED:<name>]`.

    Fast when nothing matches: every key glob and pattern implies literal *needles* (`token` for
    `*token*`, `AKIA`/`ASIA` for the AWS key pattern...), at least one of which any match must
    contain. The value's canonical JSON is screened for those needles with C-speed substring
    search; when none occurs, nothing can match and the value is returned as is, without a walk.
    Otherwise the value is walked and each string is checked pattern by pattern. (A pattern
    whose needles cannot be worked out disables the screen: always correct, only slower.)

    Paths are reported as dotted keys with list indices in brackets, e.g. `action.args.password`
    or `action.context[2].content`.

    Args:
        keys: Key globs; `DEFAULT_KEYS` by default. Extend with `(*DEFAULT_KEYS, "pin")`.
        patterns: Regular expressions, each optionally named by a leading `(?#name)` comment,
            applied in order; `DEFAULT_PATTERNS` by default. A group named `secret` limits the
            replacement to that group. Backreferences are not supported.

    Raises:
        PolicyError: `policy.bad_redaction` for a pattern that does not compile or matches the
            empty string.
    """

    DEFAULT_KEYS: ClassVar[tuple[str, ...]] = DEFAULT_KEYS
    DEFAULT_PATTERNS: ClassVar[tuple[str, ...]] = DEFAULT_PATTERNS

    __slots__ = ("_exact", "_folded", "_key_cache", "_keys", "_rules", "_screen",
                 "key_globs", "patterns")

    def __init__(
        self, keys: Iterable[str] = DEFAULT_KEYS, patterns: Iterable[str] = DEFAULT_PATTERNS
    ) -> None:
        self.key_globs: tuple[str, ...] = tuple(dict.fromkeys(keys))
        self.patterns: tuple[str, ...] = tuple(dict.fromkeys(patterns))
        self._rules = tuple(_Rule(*_split(p)) for p in self.patterns)
        globs = "|".join(fnmatch.translate(k) for k in self.key_globs)
        self._keys = re.compile(globs, re.IGNORECASE) if globs else None
        self._key_cache: dict[str, bool] = {}
        key_needles = [_glob_needles(k) for k in self.key_globs]
        self._screen = all(key_needles) and all(r.exact or r.folded for r in self._rules)
        self._exact = _minimal(n for r in self._rules for n in r.exact)
        self._folded = _minimal(
            [n for r in self._rules for n in r.folded]
            + [t for needles in key_needles if needles for t, _ in needles]
        )

    def __repr__(self) -> str:
        names = [rule.name for rule in self._rules]
        return f"Redactor(keys={len(self.key_globs)}, patterns={names})"

    def is_secret_key(self, key: str) -> bool:
        """True when `key` matches one of the key globs (case-insensitive, whole key)."""
        hit = self._key_cache.get(key)
        if hit is None:
            hit = self._keys is not None and self._keys.match(key) is not None
            if len(self._key_cache) < _KEY_CACHE_MAX:
                self._key_cache[key] = hit
        return hit

    def redact_text(self, text: str) -> str:
        """`text` with every pattern match replaced (the same object when nothing matched)."""
        if self._screen and not self._suspect(text):
            return text
        low: str | None = None
        for rule in self._rules:
            if rule.exact or rule.folded:
                hit = False
                for needle in rule.exact:
                    if needle in text:
                        hit = True
                        break
                if not hit and rule.folded:
                    if low is None:
                        low = _fold(text)
                    for needle in rule.folded:
                        if needle in low:
                            hit = True
                            break
                if not hit:
                    continue
            replaced = rule.regex.sub(rule.replace, text)
            if replaced != text:
                text, low = replaced, None
        return text

    def redact(self, obj: Any) -> tuple[Any, list[str]]:
        """Redact a JSON-like value. The input is never mutated.

        When something is redacted, the result is a copy: mappings become dicts with string
        keys, lists and tuples become lists, other non-JSON objects become `str(obj)` (as the
        ledger's JSON encoder would write them). When nothing is, `obj` itself is returned.

        Returns:
            `(value, paths)`: the redacted value and the paths of the redacted values, in
            document order (empty when nothing was redacted).
        """
        value, paths, _ = self.redact_json(obj)
        return value, paths

    def redact_json(self, obj: Any) -> tuple[Any, list[str], str]:
        """`redact`, plus the canonical JSON of the result (computed once, for the ledger body).

        Returns:
            `(value, paths, canonical(value))`.
        """
        text: str | None = None
        if self._screen:
            try:
                text = canonical(obj)
            except (TypeError, ValueError):  # e.g. keys of mixed types: the walk fixes them
                text = None
            if text is not None and not self._suspect(text):
                return obj, [], text
        paths: list[str] = []
        value = self._walk(obj, "", paths)
        if not paths and text is not None:
            return obj, paths, text
        return value, paths, canonical(value)

    def _suspect(self, text: str) -> bool:
        """True when `text` contains a needle, so that a key or pattern might match."""
        for needle in self._exact:
            if needle in text:
                return True
        if self._folded:
            low = _fold(text)
            for needle in self._folded:
                if needle in low:
                    return True
        return False

    def _walk(self, obj: Any, path: str, paths: list[str]) -> Any:
        kind = type(obj)
        if kind is str:
            out = self.redact_text(obj)
            if out is not obj:
                paths.append(path)
            return out
        if kind in _SCALARS:
            return obj
        if isinstance(obj, Mapping):
            result: dict[str, Any] = {}
            for k, v in obj.items():
                key = k if type(k) is str else str(k)
                sub = f"{path}.{key}" if path else key
                if v is not None and self.is_secret_key(key):
                    result[key] = REDACTED
                    paths.append(sub)
                else:
                    result[key] = self._walk(v, sub, paths)
            return result
        if isinstance(obj, list | tuple):
            return [self._walk(v, f"{path}[{i}]", paths) for i, v in enumerate(obj)]
        if isinstance(obj, int | float):  # subclasses, e.g. numeric enums
            return obj
        return self._walk(str(obj), path, paths)
