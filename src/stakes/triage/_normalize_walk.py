"""Walking and decoding for normalization: string leaves, wildcards, argv lists, payloads.

`_collect` gathers every string leaf of nested arguments (keys too when they are not plain
identifiers), the keys whose value is a wildcard and the string lists under shell keys (argv
form), cut at depth 16. `_decode` undoes what a string hides (URL escapes, backslash and unicode
escapes, base64 and hex blobs) recursively, three layers deep and at most 32 payloads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from stakes.triage._decode import decode_blobs, fold_unicode, undo_escapes, undo_url
from stakes.triage._normalize_route import SHELL_KEYS

__all__ = ["_collect", "_collect_list", "_decode"]

_WILDCARD = re.compile(r"^(?:\*|\*:\*|[\w-]+:\*|arn:[\w-]*:iam::\*.*|\*/\*)$")
_MAX_DECODED = 32


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
