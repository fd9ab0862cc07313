r"""Undoing obfuscation in one string: unicode folding, escapes and encodings.

Each function is pure and cheap to call on text that holds nothing to undo. Flags name what was
undone: `zero_width`, `homoglyph`, `encoded.url`, `encoded.hex`, `encoded.unicode`,
`encoded.base64`. An escape or encoding is flagged only when it hides something that never needs
hiding (an ASCII letter or digit, a printable payload): `%20` in a URL or `\u00e9` in JSON is
undone but not flagged.
"""

from __future__ import annotations

import binascii
import re
import unicodedata
from urllib.parse import unquote

__all__ = ["blob_free", "decode_blobs", "fold_unicode", "undo_escapes", "undo_url"]

# Zero-width, joiners, bidi controls, soft hyphen, BOM: removed. Unicode tag characters
# (U+E0020..U+E007E), used to smuggle invisible ASCII, map back to the ASCII they mirror.
_INVISIBLE: dict[int, int | None] = dict.fromkeys(
    (
        0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x200B, 0x200C, 0x200D,
        0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2060, 0x2061, 0x2062, 0x2063,
        0x2064, 0x2066, 0x2067, 0x2068, 0x2069, 0x206A, 0x206B, 0x206C, 0x206D, 0x206E, 0x206F,
        0x3164, 0xFE0F, 0xFEFF, 0xFFA0, 0xE0001, 0xE007F,
    ),
    None,
)
_INVISIBLE.update({0xE0000 + c: c for c in range(0x20, 0x7F)})

# Cyrillic, Greek, Armenian and Latin-extension look-alikes of ASCII letters (NFKC leaves
# them), by code point: U+0430 CYRILLIC SMALL LETTER A -> `a`, and so on.
_HOMOGLYPHS: dict[int, str] = {
    0x0430: "a", 0x0432: "b", 0x0435: "e", 0x0451: "e", 0x0456: "i", 0x0457: "i", 0x0458: "j",
    0x043A: "k", 0x043E: "o", 0x0440: "p", 0x0441: "c", 0x0443: "y", 0x0445: "x", 0x0455: "s",
    0x0501: "d", 0x04BB: "h", 0x051B: "q", 0x051D: "w", 0x04CF: "l", 0x0493: "f", 0x04BD: "e",
    0x050D: "g", 0x0261: "g", 0x0410: "A", 0x0412: "B", 0x0415: "E", 0x0401: "E", 0x041A: "K",
    0x041C: "M", 0x041D: "H", 0x041E: "O", 0x0420: "P", 0x0421: "C", 0x0422: "T", 0x0425: "X",
    0x0423: "Y", 0x0406: "I", 0x0408: "J", 0x0405: "S", 0x050C: "G", 0x04BA: "H", 0x04C0: "I",
    0x03B1: "a", 0x03B2: "b", 0x03B5: "e", 0x03B9: "i", 0x03BA: "k", 0x03BD: "v", 0x03BF: "o",
    0x03C1: "p", 0x03C4: "t", 0x03C5: "u", 0x03C7: "x", 0x03F2: "c", 0x03F3: "j", 0x03F5: "e",
    0x0391: "A", 0x0392: "B", 0x0395: "E", 0x0396: "Z", 0x0397: "H", 0x0399: "I", 0x039A: "K",
    0x039C: "M", 0x039D: "N", 0x039F: "O", 0x03A1: "P", 0x03A4: "T", 0x03A5: "Y", 0x03A7: "X",
    0x03F9: "C", 0x0585: "o", 0x057D: "u", 0x0570: "h", 0x0578: "n", 0x0581: "g", 0x0131: "i",
    0x0237: "j", 0x0251: "a", 0x0269: "i", 0x028F: "y", 0x1D05: "d", 0x1D20: "v", 0x1D21: "w",
    0xAB83: "w",
}

# Words whose disguise is itself the tell (`rm` in fullwidth letters, `curl` in Cyrillic).
_SENSITIVE_WORDS = frozenset(
    (
        "rm", "curl", "wget", "bash", "sh", "zsh", "nc", "ncat", "sudo", "su", "python", "python3",
        "perl", "ruby", "php", "node", "chmod", "chown", "dd", "mkfs", "shred", "eval", "exec",
        "base64", "cat", "env", "printenv", "ssh", "scp", "rsync", "crontab", "iptables",
        "history", "unset", "passwd", "shadow", "sudoers", "drop", "delete", "truncate", "grant",
        "select", "update", "insert", "ignore", "instructions", "system", "admin", "root",
    )
)


def fold_unicode(text: str) -> tuple[str, frozenset[str]]:
    """Remove invisible characters, apply NFKC and fold look-alike letters to ASCII.

    `homoglyph` is flagged only for a word that mixes scripts (`curl` spelled with a Cyrillic
    `c`), that NFKC turns from compatibility forms into ASCII (fullwidth `rm`), or whose folded
    form is a sensitive word; ordinary Russian or Greek text is folded but not flagged.

    Args:
        text: Any string (callers skip pure-ASCII strings: nothing to fold).

    Returns:
        The folded text and the flags (`zero_width`, `homoglyph`).
    """
    flags: set[str] = set()
    visible = text.translate(_INVISIBLE)
    if visible != text:
        flags.add("zero_width")
    folded = unicodedata.normalize("NFKC", visible).translate(_HOMOGLYPHS)
    if folded != visible:
        for word in visible.split():
            if not word.isascii() and _disguised(word):
                flags.add("homoglyph")
                break
    return folded, frozenset(flags)


def _disguised(word: str) -> bool:
    folded = unicodedata.normalize("NFKC", word).translate(_HOMOGLYPHS)
    if not folded.isascii() or folded == word:
        return False
    if any(c.isascii() and c.isalpha() for c in word):
        return True  # Latin letters next to look-alikes: mixed script
    bare = folded.strip("\"'`.,;:!?()[]{}<>").lower()
    if bare in _SENSITIVE_WORDS:
        return True
    return any(
        not c.isascii() and ord(c) not in _HOMOGLYPHS and unicodedata.normalize("NFKC", c).isascii()
        for c in word
    )


_URL_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# escapes of [0-9A-Za-z]: never needed in a URL
_URL_ALNUM = re.compile(r"%(?:3[0-9]|4[1-9A-Fa-f]|5[0-9Aa]|6[1-9A-Fa-f]|7[0-9Aa])")


def undo_url(text: str) -> tuple[str, bool] | None:
    """Decode `%XX` escapes (twice, for double encoding).

    Returns:
        None when `text` has no escape; else the decoded text and whether an escape hid an ASCII
        letter or digit (the `encoded.url` signal).
    """
    if "%" not in text or _URL_ESCAPE.search(text) is None:
        return None
    suspicious = _URL_ALNUM.search(text) is not None
    decoded = unquote(text, errors="replace")
    if "%" in decoded and _URL_ESCAPE.search(decoded) is not None:
        suspicious = suspicious or _URL_ALNUM.search(decoded) is not None
        decoded = unquote(decoded, errors="replace")
    return decoded, suspicious


_ESCAPE = re.compile(
    r"\\x([0-9A-Fa-f]{2})|\\u\{([0-9A-Fa-f]{1,6})\}|\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})"
    r"|\\([0-3][0-7]{2})|&#[xX]([0-9A-Fa-f]{1,6});|&#([0-9]{1,7});"
)
# group index -> (base, flag)
_ESCAPE_KINDS = {
    1: (16, "encoded.hex"), 2: (16, "encoded.unicode"), 3: (16, "encoded.unicode"),
    4: (16, "encoded.unicode"), 5: (8, "encoded.hex"), 6: (16, "encoded.unicode"),
    7: (10, "encoded.unicode"),
}


def undo_escapes(text: str) -> tuple[str, frozenset[str]] | None:
    r"""Decode `\xNN`, octal `\NNN`, `\uNNNN`, `\U...`, `\u{...}` and `&#...;` escapes.

    Returns:
        None when `text` has none; else the decoded text and the flags of escapes that hid an
        ASCII letter or digit (`encoded.hex` for byte escapes, `encoded.unicode` for the others).
    """
    if "\\" not in text and "&#" not in text:
        return None
    flags: set[str] = set()

    def sub(m: re.Match[str]) -> str:
        group = m.lastindex or 1
        base, flag = _ESCAPE_KINDS[group]
        code = int(m.group(group), base)
        if code > 0x10FFFF:
            return m.group(0)
        char = chr(code)
        if char.isascii() and char.isalnum():
            flags.add(flag)
        return char

    decoded = _ESCAPE.sub(sub, text)
    if decoded == text:
        return None
    return decoded, frozenset(flags)


_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_BLOB = re.compile(r"(?<![A-Za-z0-9+/_-])(?:0x)?([A-Za-z0-9+/_-]{8,})(={0,2})(?![A-Za-z0-9+/=_-])")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\n\r"


def _printable(raw: bytes) -> str | None:
    """The bytes as text when they look like text a human or a shell would read."""
    if len(raw) < 4:
        return None
    if b"\x00" in raw and len(raw) % 2 == 0 and raw[1::2].count(0) * 2 >= len(raw) // 2:
        try:  # UTF-16LE, as in PowerShell's -EncodedCommand
            raw = raw.decode("utf-16-le").encode("utf-8", "replace")
        except UnicodeDecodeError:
            return None
    bad = len(raw.translate(None, _PRINTABLE))
    if bad > (0 if len(raw) < 32 else len(raw) // 20):
        return None
    text = raw.decode("ascii", "replace")
    words = sum(c.isalnum() or c.isspace() for c in text)
    if words * 2 < len(text) or sum(c.isalpha() for c in text) < 2:
        return None
    return text


def decode_blobs(text: str) -> list[tuple[str, str]]:
    """Find base64 (standard or URL-safe) and long hex runs that decode to readable text.

    A base64 candidate needs 8+ characters, mixed classes (so plain words and paths rarely
    qualify) and must decode to printable, mostly-letter text; JWTs are skipped (their segments
    are JSON by design). Hex runs need 12+ digits and the same readable result.

    Args:
        text: One string, case preserved.

    Returns:
        `(flag, decoded)` pairs, `flag` being `encoded.base64` or `encoded.hex`.
    """
    out: list[tuple[str, str]] = []
    if len(text) < 8:
        return out
    jwts = [m.span() for m in _JWT.finditer(text)] if "eyJ" in text else []
    for m in _BLOB.finditer(text):
        core = m.group(1)
        if jwts and any(start <= m.start() < end for start, end in jwts):
            continue  # JWT segments are base64 JSON and signatures by design
        if _HEX_DIGITS.issuperset(core):
            if len(core) >= 12 and len(core) % 2 == 0:
                decoded = _printable(bytes.fromhex(core))
                if decoded is not None:
                    out.append(("encoded.hex", decoded))
            continue
        if m.group(0).startswith("0x"):
            continue
        if (core.isalpha() and (core.islower() or core.isupper())) or len(core) % 4 == 1:
            continue
        padded = core.replace("-", "+").replace("_", "/") + "=" * (-len(core) % 4)
        try:
            raw = binascii.a2b_base64(padded, strict_mode=True)
        except (binascii.Error, ValueError):
            continue
        decoded = _printable(raw)
        if decoded is not None:
            out.append(("encoded.base64", decoded))
    return out


_BLOB_FREE: dict[str, bool] = {}
_BLOB_FREE_SIZE = 4096
_BLOB_FREE_MAX_LEN = 128
# `_BLOB`'s alphabet to `b`, every other byte to a space (for ASCII text: one byte a character).
_RUN_TABLE = bytes(
    98 if chr(c).isascii() and (chr(c).isalnum() or chr(c) in "+/_-") else 32 for c in range(256)
)
_RUN8 = "b" * 8


def blob_free(text: str) -> bool:
    """Whether `decode_blobs(text)` finds nothing: True only when it provably does not.

    A candidate's core is a maximal run of the base64 alphabet (less a leading `0x`), and what
    it decodes to depends on that run alone, so `text` is blob-free when every run of 8 or more
    characters, decoded on its own, yields nothing (in context a JWT or a trailing `===` can only
    drop a candidate). Runs are memoized: routine runs (`created_at`, `staging/app`, paths)
    repeat, so the common case is a `find` and a dictionary lookup per run instead of a regex
    scan and base64 attempts.
    """
    if not text.isascii():
        return not decode_blobs(text)
    classes = text.encode().translate(_RUN_TABLE).decode()
    memo = _BLOB_FREE
    i = classes.find(_RUN8)
    while i >= 0:
        end = classes.find(" ", i + 8)
        if end < 0:
            end = len(classes)
        run = text[i:end]
        free = memo.get(run)
        if free is None:
            free = not decode_blobs(run)
            if len(run) <= _BLOB_FREE_MAX_LEN:
                if len(memo) >= _BLOB_FREE_SIZE:
                    memo.clear()  # cheap bound; the function is pure, dropping entries is safe
                memo[run] = free
        if not free:
            return False
        i = classes.find(_RUN8, end)
    return True
