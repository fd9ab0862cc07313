r"""A small, fast shell parser: commands, pipelines, redirects, and the facts rules look for.

Not a POSIX shell: it tokenizes quotes, escapes, `$'...'`, `$(...)`, backticks, process
substitution, heredocs and operators well enough to see what would run, unwraps wrappers
(`sudo`, `env`, `xargs`, `nohup`, `timeout`, ...) and interpreters (`bash -c`, `sh -c`, `eval`,
`su -c`, `ssh host CMD`, `find -exec`), and undoes evasions on the way (`$IFS`, `r''m`, `r\m`,
`"c"u"r"l`, brace lists `{rm,-rf,/}`, argv0 globs `/???/r?`, variables `a=rm; $a`). A plain
command with no shell metacharacter skips the tokenizer (`str.split`). Parsing never raises.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stakes.triage._shell_cmd import Cmd
from stakes.triage._shell_facts import analyze
from stakes.triage._shell_lex import Lexer
from stakes.triage._shell_tables import (
    CODE_SHELL,
    ENDS,
    KEYWORDS,
    KNOWN_COMMANDS,
    SHELLS,
    SQL_CLIENTS,
    SSH_VALUE_OPTS,
    WRAPPERS,
    lang_of,
)

__all__ = ["ShellInfo", "merge_shell", "parse_argv", "parse_shell"]


@dataclass(frozen=True, slots=True)
class ShellInfo:
    """What a shell command line would do.

    Attributes:
        commands: Every simple command's name (argv0 basename, lowercase), nested ones included,
            in source order.
        argvs: The unwrapped argv of each command, aligned with `commands`.
        pipelines: Command names per pipeline of two or more commands.
        redirects: `(operator, target)` for every redirection.
        facts: Fact names (`destructive`, `network_egress`, `pipe_to_network`,
            `download_and_execute`, `pipe_to_shell`, `reverse_shell`, `privilege`, `sudo`,
            `persistence`, `defense_evasion`, `credential_access`).
        evidence: `(fact, what was seen)` for each fact, lowercase, user values in backticks.
        targets: Network destinations (hosts, `s3://bucket`) in order of appearance.
        tricks: Evasions undone: `quoting`, `backslash`, `ifs`, `line_continuation`, `ansi_c`,
            `brace`, `glob`, `variable`, `expansion`, `encoded`.
        embedded_sql: Statements passed to database clients (`psql -c ...`).
    """

    commands: tuple[str, ...] = ()
    argvs: tuple[tuple[str, ...], ...] = ()
    pipelines: tuple[tuple[str, ...], ...] = ()
    redirects: tuple[tuple[str, str], ...] = ()
    facts: frozenset[str] = frozenset()
    evidence: tuple[tuple[str, str], ...] = ()
    targets: tuple[str, ...] = ()
    tricks: frozenset[str] = frozenset()
    embedded_sql: tuple[str, ...] = ()

    def why(self, fact: str) -> str:
        """The evidence recorded for `fact` (empty when the fact is absent)."""
        for name, seen in self.evidence:
            if name == fact:
                return seen
        return ""

    @property
    def canonical(self) -> str:
        """The commands as they would run, one per line: quotes and evasions removed."""
        return "\n".join(" ".join(argv) for argv in self.argvs)


_MAX_DEPTH = 6
_CACHE: dict[str, ShellInfo] = {}
_NO_FACTS: frozenset[str] = frozenset()
_CACHE_SIZE = 2048
_CACHE_MAX_LEN = 512
_BUDGET = 200_000
_NEEDS_TOKENIZER = re.compile(r"[|;&<>()$`\\'\"\n#{}*?\[]|=")
_REDIRECT_OPS = frozenset((">", ">>", "<", "<>", ">|", "&>", "&>>", ">&", "<&", "<<", "<<-", "<<<"))
_IFS = re.compile(r"\$\{IFS(?:[%#:][^}]*)?\}|\$IFS(?:\$\d|\$\{\d\})?")
_SLASH_EXPANSION = re.compile(r"\$\{(?:PATH|HOME|PWD|SHELL|OLDPWD):0:1\}")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_BRACE_LIST = re.compile(r"^\{[^{}]*,[^{}]*\}$")


def parse_shell(cmd: str) -> ShellInfo:
    """Parse a shell command line into commands, pipelines, redirects and facts.

    Args:
        cmd: The command line (any string; garbage yields few commands and no facts).

    Returns:
        The parsed command line. Never raises.
    """
    cached = _CACHE.get(cmd)
    if cached is not None:
        return cached
    parser = _Parser()
    if _NEEDS_TOKENIZER.search(cmd) is None:
        words = cmd.split()
        if words:
            parser.command(words, [], [], 0, 0, 0, ())
    else:
        parser.parse(cmd, 0, ())
    info = parser.info(cmd)
    if len(cmd) <= _CACHE_MAX_LEN:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()  # cheap bound; parses are pure, so dropping them is always safe
        _CACHE[cmd] = info
    return info


def parse_argv(argv: Sequence[str]) -> ShellInfo:
    """Analyze an argv given as a list (no tokenizing): `["rm", "-rf", "/"]`."""
    parser = _Parser()
    words = [str(a) for a in argv]
    if words:
        parser.command(words, [], [], 0, 0, 0, ())
    return parser.info(" ".join(words))


def merge_shell(infos: Iterable[ShellInfo]) -> ShellInfo | None:
    """Combine the parses of several strings of one action (None when there are none)."""
    items = list(infos)
    if not items:
        return None
    if len(items) == 1:
        return items[0]
    evidence: dict[str, str] = {}
    targets: dict[str, None] = {}
    for info in items:
        for fact, seen in info.evidence:
            evidence.setdefault(fact, seen)
        targets.update(dict.fromkeys(info.targets))
    return ShellInfo(
        commands=tuple(c for i in items for c in i.commands),
        argvs=tuple(a for i in items for a in i.argvs),
        pipelines=tuple(p for i in items for p in i.pipelines),
        redirects=tuple(r for i in items for r in i.redirects),
        facts=frozenset(evidence),
        evidence=tuple(evidence.items()),
        targets=tuple(targets),
        tricks=frozenset().union(*(i.tricks for i in items)),
        embedded_sql=tuple(s for i in items for s in i.embedded_sql),
    )


def _basename(word: str) -> str:
    return word.rstrip("/").rsplit("/", 1)[-1].rsplit("\\", 1)[-1].lower()


class _Parser(Lexer):
    """Accumulates the simple commands of one command line (nested ones included)."""

    __slots__ = ("budget", "cmds", "pipes", "sql", "vars")

    def __init__(self) -> None:
        super().__init__()
        self.cmds: list[Cmd] = []
        self.vars: dict[str, str] = {}
        self.sql: list[str] = []
        self.pipes = 0
        self.budget = _BUDGET

    def info(self, source: str) -> ShellInfo:
        cmds = [c for c in self.cmds if c.name]
        evidence, targets = analyze(self.cmds, source.lower()) if self.cmds else ({}, [])
        pipelines: tuple[tuple[str, ...], ...] = ()
        if len(cmds) > 1:
            groups: dict[int, list[str]] = {}
            for c in cmds:
                groups.setdefault(c.pipeline, []).append(c.name)
            pipelines = tuple([tuple(g) for g in groups.values() if len(g) > 1])
        return ShellInfo(
            tuple([c.name for c in cmds]),
            tuple([tuple(c.argv) for c in cmds]),
            pipelines,
            tuple([r for c in self.cmds for r in c.redirects]) if self.cmds else (),
            frozenset(evidence) if evidence else _NO_FACTS,
            tuple(evidence.items()),
            tuple(targets),
            frozenset(self.tricks) if self.tricks else _NO_FACTS,
            tuple(self.sql),
        )

    # -- tokenizing -----------------------------------------------------------------------

    def parse(self, src: str, depth: int, wrappers: tuple[str, ...]) -> list[str]:
        """Parse `src` at nesting `depth`; return the names of the commands found."""
        if depth > _MAX_DEPTH or self.budget <= 0:
            return []
        self.budget -= len(src) + 1
        if "$" in src:
            src, n = _IFS.subn(" ", src)
            if n:
                self.tricks.add("ifs")
            src, n = _SLASH_EXPANSION.subn("/", src)
            if n:
                self.tricks.add("expansion")
        toks = self._tokens(src, depth)
        names: list[str] = []
        words: list[str] = []
        redirs: list[tuple[str, str]] = []
        inner: list[str] = []
        self.pipes += 1
        pipeline, position = self.pipes, 0
        k, n = 0, len(toks)
        while k < n:
            kind, text, tin = toks[k]
            if kind == "w":
                words.append(text)
                inner.extend(tin)
            elif text in _REDIRECT_OPS:
                target = ""
                if k + 1 < n and toks[k + 1][0] == "w":
                    k += 1
                    target = toks[k][1]
                    inner.extend(toks[k][2])
                redirs.append((text, target))
            else:
                if words or redirs:
                    names.extend(self.command(words, redirs, inner, pipeline, position, depth,
                                              wrappers))
                words, redirs, inner = [], [], []
                if text in ("|", "|&"):
                    position += 1
                else:
                    self.pipes += 1
                    pipeline, position = self.pipes, 0
            k += 1
        if words or redirs:
            names.extend(self.command(words, redirs, inner, pipeline, position, depth, wrappers))
        return names

    def command(
        self, words: list[str], redirs: list[tuple[str, str]], inner: list[str], pipeline: int,
        position: int, depth: int, wrappers: tuple[str, ...],
    ) -> list[str]:
        """Record one simple command (unwrapping wrappers and interpreters)."""
        if self.vars:
            words = [self._expand(w, k == 0) if "$" in w else w for k, w in enumerate(words)]
        assigns: list[str] = []
        while words and _ASSIGN.match(words[0]):
            name, _, value = words[0].partition("=")
            self.vars[name] = value
            assigns.append(words[0])
            words = words[1:]
        while words and words[0] in KEYWORDS:
            words = words[1:]
        if words and words[0] in ENDS and len(words) == 1:
            words = []
        if words and _BRACE_LIST.match(words[0]):
            words = [w for w in words[0][1:-1].split(",") if w] + words[1:]
            self.tricks.add("brace")
        wraps = list(wrappers)
        name = ""
        while words:
            name = _basename(words[0])
            spec = WRAPPERS.get(name)
            if spec is None:
                break
            rest = self._skip_options(name, words[1:], spec)
            if not rest:
                break
            wraps.append(name)
            words = rest
        if not words:
            self.cmds.append(Cmd("", [], redirs, pipeline, position, depth, tuple(wraps),
                                 tuple(inner), tuple(assigns)))
            return []
        name = "$()" if words[0].startswith(("$(", "`")) else name
        if any(ch in name for ch in "?*["):
            for known in KNOWN_COMMANDS:
                if fnmatch.fnmatchcase(known, name):
                    name = known
                    self.tricks.add("glob")
                    break
        cmd = Cmd(name, list(words), redirs, pipeline, position, depth, tuple(wraps),
                  tuple(inner), tuple(assigns))
        self.cmds.append(cmd)
        names = [name]
        nested = (*wraps, name)
        if name in SHELLS or name in ("su", "script"):
            script = self._option_value(words[1:], "c", anywhere=name == "su")
            if script is not None:
                names.extend(self.parse(script, depth + 1, nested))
            elif name in SHELLS:
                files = [w for w in words[1:] if not w.startswith("-")]
                if files:
                    cmd.script = files[0]
                else:
                    cmd.reads_stdin = True
                    for op, body in redirs:
                        if op in ("<<", "<<-", "<<<"):
                            names.extend(self.parse(body, depth + 1, nested))
        elif name == "eval":
            names.extend(self.parse(" ".join(words[1:]), depth + 1, nested))
        elif name == "ssh":
            remote = self._ssh_command(words[1:])
            if remote:
                names.extend(self.parse(remote, depth + 1, nested))
        elif name == "find":
            names.extend(self._find_exec(words, pipeline, position, depth, nested))
        elif name in SQL_CLIENTS:
            self._sql(name, words)
        else:
            lang = lang_of(name)
            if lang is not None:
                self._lang(cmd, lang, words)
        return names

    def _expand(self, word: str, first: bool) -> str:
        def sub(m: re.Match[str]) -> str:
            key = m.group(1) or m.group(2)
            return self.vars.get(key, m.group(0))

        out = _VAR.sub(sub, word)
        if first and out != word:
            self.tricks.add("variable")
        return out

    @staticmethod
    def _skip_options(name: str, args: list[str], spec: tuple[frozenset[str], int]) -> list[str]:
        value_opts, positional = spec
        k = 0
        while k < len(args):
            a = args[k]
            if a == "--":
                k += 1
                break
            if name == "env" and _ASSIGN.match(a):
                k += 1
                continue
            if not a.startswith("-") or len(a) == 1:
                break
            k += 2 if a in value_opts else 1
        return args[k + positional:]

    @staticmethod
    def _option_value(args: list[str], letter: str, *, anywhere: bool = False) -> str | None:
        """The argument after `-c` (or a cluster like `-lc`), skipping other options."""
        for k, a in enumerate(args):
            if a.startswith("-") and not a.startswith("--") and letter in a[1:]:
                rest = [w for w in args[k + 1:] if not w.startswith("-")] or args[k + 1:]
                return rest[0] if rest else None
            if not a.startswith("-") and not anywhere:
                return None
        return None

    @staticmethod
    def _ssh_command(args: list[str]) -> str:
        k = 0
        while k < len(args) and args[k].startswith("-"):
            k += 2 if args[k] in SSH_VALUE_OPTS else 1
        return " ".join(args[k + 1:])

    def _find_exec(
        self, words: list[str], pipeline: int, position: int, depth: int, nested: tuple[str, ...]
    ) -> list[str]:
        names: list[str] = []
        starts = []
        for w in words[1:]:
            if w.startswith(("-", "(", "!")):
                break
            starts.append(w)
        k = 0
        while k < len(words):
            if words[k] in ("-exec", "-execdir", "-ok", "-okdir"):
                end = k + 1
                while end < len(words) and words[end] not in (";", "+"):
                    end += 1
                part = words[k + 1:end]
                if part:
                    start = starts[0] if starts else "."
                    part = [start if w == "{}" else w for w in part]
                    names.extend(self.command(part, [], [], pipeline, position, depth + 1, nested))
                k = end
            k += 1
        return names

    def _sql(self, name: str, words: list[str]) -> None:
        opts = SQL_CLIENTS[name]
        for k, w in enumerate(words[1:], 1):
            for opt in opts:
                if w == opt and k + 1 < len(words):
                    self.sql.append(words[k + 1])
                elif w.startswith(opt + "=") and opt.startswith("--"):
                    self.sql.append(w.split("=", 1)[1])
        if name in ("sqlite3", "bq", "duckdb"):
            pos = [w for w in words[1:] if not w.startswith("-")]
            if len(pos) >= 2 or (name == "bq" and pos):
                self.sql.append(pos[-1])

    def _lang(self, cmd: Cmd, lang: str, words: list[str]) -> None:
        args = words[1:]
        flags = {"python": ("-c",), "perl": ("-e", "-E"), "ruby": ("-e",), "node": ("-e", "--eval",
                 "-p", "--print"), "php": ("-r",), "lua": ("-e",), "osascript": ("-e",),
                 "powershell": ("-c", "-command", "-encodedcommand", "-enc", "-e", "-ec")}
        opts = flags.get(lang, ())
        for k, a in enumerate(args):
            low = a.lower()
            if low in opts and k + 1 < len(args):
                code = args[k + 1]
                if lang == "powershell" and low in ("-encodedcommand", "-enc", "-e", "-ec"):
                    code = self._utf16_b64(code)
                cmd.code = code
                self._code_commands(cmd, code)
                return
            if lang == "perl" and low.startswith("-e") and len(a) > 2 and not a[2].isalpha():
                cmd.code = a[2:]
                return
            if lang == "awk" and not a.startswith("-"):
                cmd.code = a
                return
            if lang == "powershell" and not a.startswith("-"):
                cmd.code = " ".join(args[k:])
                return
            if not a.startswith("-"):
                cmd.script = a
                return
            if low == "-m":
                return
        for op, body in cmd.redirects:
            if op in ("<<", "<<-", "<<<"):
                cmd.code = body
                return
        cmd.reads_stdin = lang != "awk"

    def _code_commands(self, cmd: Cmd, code: str) -> None:
        """Parse the shell commands a program runs: `os.system('rm -rf /')`, `exec("...")`."""
        for m in CODE_SHELL.finditer(code):
            self.parse(m.group(2), cmd.depth + 1, (*cmd.wrappers, cmd.name))

    def _utf16_b64(self, text: str) -> str:
        import base64
        import binascii

        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
            decoded = raw.decode("utf-16-le")
        except (binascii.Error, ValueError):
            return text
        self.tricks.add("encoded")
        return decoded
