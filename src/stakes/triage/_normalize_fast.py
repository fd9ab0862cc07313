"""The byte-class prefilter of normalization's fast paths.

One `bytes.translate` maps a string onto character classes, so that the fast-path prefilter
(trigger characters, a 16-character base64-alphabet run) and the exact "nothing to fold or
decode" test (escapes, `%XX`, `&#`, `$IFS`, a decodable blob, separators) are a few substring
tests instead of regex scans; `_padded` is the cheap gate in front of the padded-base64 regex.
"""

from __future__ import annotations

import re

__all__ = ["_BLOB_CLASS", "_EXACT_CLASSES", "_FAST_CLASSES", "_RUN16_CLASS", "_padded"]

# The prefilter (`_FAST_CLASSES` below): any of `%\&$`|;\n\r<>(` or a 16-character run of
# `[A-Za-z0-9+]` keeps a single string off the fast path.
_PADDED = re.compile(r"[A-Za-z0-9+/]{6,}={1,2}(?![A-Za-z0-9])")


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


def _padded(text: str) -> bool:
    """Could `text` hold padded base64 (`cm0gLXJmIC8=`)? Only when a `=` follows a letter."""
    i = text.find("=")
    while i >= 0:
        if i and (text[i - 1].isalnum() or text[i - 1] in "+/="):
            return _PADDED.search(text) is not None
        i = text.find("=", i + 1)
    return False
