r"""The shell tokenizer: words (quotes, escapes, `$'...'`, substitutions) and operators.

`Lexer` turns a command line into `("w", word, inner)` and `("op", operator, ())` tokens, where
`inner` names the commands run by substitutions inside the word (parsed through `parse`, which
the parser subclass provides). Quoting tricks it undoes are recorded in `tricks`: `quoting`
(`r''m`, `"c"u"r"l`), `backslash` (`r\m`), `line_continuation`, `ansi_c` (`$'\x72'`).
"""

from __future__ import annotations

import re

__all__ = ["Lexer", "Token", "closing"]

Token = tuple[str, str, tuple[str, ...]]
"""`(kind, text, inner)`: kind `w` (a word) or `op` (an operator)."""

_PLAIN = re.compile(r"[^\s'\"\\|;&<>()`$#]+")
_DQ_PLAIN = re.compile(r"[^\"\\$`]+")
_OPS = ("&>>", "<<<", "<<-", "&&", "||", ";;", "|&", ">>", "&>", ">&", "<&", "<<", "<>", ">|",
        "|", ";", "&", "<", ">", "(", ")")
_ANSI_C = re.compile(r"\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{4}|[0-7]{1,3}|.)")
_ANSI_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "e": "\x1b", "a": "\a", "b": "\b", "0": "\0"}


def closing(s: str, i: int, opener: str = "(", closer: str = ")") -> int:
    """Index of the bracket closing the one just before `i` (quotes respected), or len(s)."""
    depth, n = 1, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "'" and opener == "(":
            j = s.find("'", i + 1)
            i = n if j < 0 else j + 1
            continue
        if c == '"' and opener == "(":
            j = i + 1
            while j < n and s[j] != '"':
                j += 2 if s[j] == "\\" else 1
            i = j + 1
            continue
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n


def _backtick_end(s: str, i: int) -> int:
    n = len(s)
    while i < n:
        if s[i] == "\\":
            i += 2
            continue
        if s[i] == "`":
            return i
        i += 1
    return n


def _ansi_c(body: str) -> str:
    def sub(m: re.Match[str]) -> str:
        e = m.group(1)
        if e[0] == "x" and len(e) > 1:
            return chr(int(e[1:], 16))
        if e[0] == "u" and len(e) == 5:
            return chr(int(e[1:], 16))
        if e[0] in "01234567":
            return chr(int(e, 8) & 0xFF)
        return _ANSI_SIMPLE.get(e, e)

    return _ANSI_C.sub(sub, body)


class Lexer:
    """Tokenizing half of the shell parser (see `stakes.triage._shell._Parser`)."""

    __slots__ = ("tricks",)

    def __init__(self) -> None:
        self.tricks: set[str] = set()

    def parse(self, src: str, depth: int, wrappers: tuple[str, ...]) -> list[str]:
        """Parse a nested command line; return the command names (provided by the parser)."""
        raise NotImplementedError

    def _tokens(self, s: str, depth: int) -> list[Token]:
        toks: list[Token] = []
        pieces: list[tuple[str, bool]] = []
        inner: list[str] = []
        heredocs: list[tuple[int, str, bool]] = []
        want_delim: bool | None = None
        i, n = 0, len(s)

        def flush() -> None:
            nonlocal want_delim
            if pieces:
                word = self._join(pieces)
                if want_delim is not None:
                    heredocs.append((len(toks), word, want_delim))
                    want_delim = None
                toks.append(("w", word, tuple(inner)))
                pieces.clear()
                inner.clear()

        while i < n:
            m = _PLAIN.match(s, i)
            if m:
                pieces.append((m.group(), False))
                i = m.end()
                continue
            c = s[i]
            if c in " \t\r\f\v":
                flush()
                i += 1
            elif c == "\n":
                flush()
                toks.append(("op", ";", ()))
                i += 1
                if heredocs:
                    i = self._heredoc_bodies(s, i, heredocs, toks)
                    heredocs.clear()
            elif c == "'":
                j = s.find("'", i + 1)
                j = n if j < 0 else j
                pieces.append((s[i + 1:j], True))
                i = j + 1
            elif c == '"':
                text, i = self._dquote(s, i + 1, depth, inner)
                pieces.append((text, True))
            elif c == "\\":
                nxt = s[i + 1:i + 2]
                if nxt == "\n":
                    self.tricks.add("line_continuation")
                elif nxt:
                    if nxt.isalnum():
                        self.tricks.add("backslash")
                    pieces.append((nxt, True))
                i += 2
            elif c == "$":
                i = self._dollar(s, i, depth, pieces, inner)
            elif c == "`":
                j = _backtick_end(s, i + 1)
                body = s[i + 1:j]
                inner.extend(self.parse(body, depth + 1, ()))
                pieces.append(("`" + body + "`", False))
                i = j + 1
            elif c == "#" and not pieces:
                j = s.find("\n", i)
                i = n if j < 0 else j
            elif c == "#":
                pieces.append(("#", False))
                i += 1
            elif c in "<>" and s.startswith("(", i + 1):
                j = closing(s, i + 2)
                body = s[i + 2:j]
                inner.extend(self.parse(body, depth + 1, ()))
                pieces.append((c + "(" + body + ")", False))
                i = j + 1
            else:
                if c in "<>" and pieces and all(not q and t.isdigit() for t, q in pieces):
                    pieces.clear()  # a file descriptor number: `2>`
                    inner.clear()
                else:
                    flush()
                op = next(o for o in _OPS if s.startswith(o, i))
                toks.append(("op", op, ()))
                i += len(op)
                if op in ("<<", "<<-"):
                    want_delim = op == "<<-"
        flush()
        return toks

    def _join(self, pieces: list[tuple[str, bool]]) -> str:
        if len(pieces) == 1:
            return pieces[0][0]
        for k, (text, quoted) in enumerate(pieces):
            if quoted and not text:
                self.tricks.add("quoting")
            if k and text and (quoted or pieces[k - 1][1]):
                prev = pieces[k - 1][0]
                if prev and prev[-1].isalnum() and text[0].isalnum():
                    self.tricks.add("quoting")
        return "".join(t for t, _ in pieces)

    def _dquote(self, s: str, i: int, depth: int, inner: list[str]) -> tuple[str, int]:
        out: list[str] = []
        n = len(s)
        while i < n:
            m = _DQ_PLAIN.match(s, i)
            if m:
                out.append(m.group())
                i = m.end()
                continue
            c = s[i]
            if c == '"':
                return "".join(out), i + 1
            if c == "\\":
                nxt = s[i + 1:i + 2]
                if nxt in ('"', "\\", "$", "`"):
                    out.append(nxt)
                elif nxt != "\n":
                    out.append("\\" + nxt)
                i += 2
            elif c == "`":
                j = _backtick_end(s, i + 1)
                body = s[i + 1:j]
                inner.extend(self.parse(body, depth + 1, ()))
                out.append("`" + body + "`")
                i = j + 1
            elif s.startswith("$(", i) and not s.startswith("$((", i):
                j = closing(s, i + 2)
                body = s[i + 2:j]
                inner.extend(self.parse(body, depth + 1, ()))
                out.append("$(" + body + ")")
                i = j + 1
            else:
                out.append("$")
                i += 1
        return "".join(out), n

    def _dollar(
        self, s: str, i: int, depth: int, pieces: list[tuple[str, bool]], inner: list[str]
    ) -> int:
        nxt = s[i + 1:i + 2]
        if nxt == "(":
            if s.startswith("((", i + 1):
                j = closing(s, i + 3)
                pieces.append((s[i:j + 2], False))
                return j + 2
            j = closing(s, i + 2)
            body = s[i + 2:j]
            inner.extend(self.parse(body, depth + 1, ()))
            pieces.append(("$(" + body + ")", False))
            return j + 1
        if nxt == "'":
            j = i + 2
            while j < len(s) and s[j] != "'":
                j += 2 if s[j] == "\\" else 1
            body = s[i + 2:j]
            decoded = _ansi_c(body)
            if decoded != body and re.search(r"\\(?:x|u|[0-7])", body):
                self.tricks.add("ansi_c")
            pieces.append((decoded, True))
            return j + 1
        if nxt == '"':
            text, j = self._dquote(s, i + 2, depth, inner)
            pieces.append((text, True))
            return j
        if nxt == "{":
            j = closing(s, i + 2, "{", "}")
            pieces.append((s[i:j + 1], False))
            return j + 1
        pieces.append(("$", False))
        return i + 1

    def _heredoc_bodies(
        self, s: str, i: int, heredocs: list[tuple[int, str, bool]],
        toks: list[Token],
    ) -> int:
        for index, delim, strip_tabs in heredocs:
            lines: list[str] = []
            n = len(s)
            while i < n:
                j = s.find("\n", i)
                j = n if j < 0 else j
                line = s[i:j]
                i = j + 1
                if (line.lstrip("\t") if strip_tabs else line) == delim:
                    break
                lines.append(line)
            toks[index] = ("w", "\n".join(lines), ())
        return i
