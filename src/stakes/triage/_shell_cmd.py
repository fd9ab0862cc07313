"""The simple command the shell parser produces, and the helpers fact checks share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stakes.triage._shell_tables import LOG_PATH, PERSISTENCE_PATH, SYSTEM_FILE

__all__ = [
    "ADMIN_POLICY",
    "DEV_NET",
    "HIST_VAR",
    "RAW_DISK",
    "URL",
    "Cmd",
    "Facts",
    "flags",
    "host_of",
    "render",
    "written",
]


@dataclass(slots=True)
class Cmd:
    """One simple command after unwrapping (internal to the shell parser).

    Attributes:
        name: The argv0 basename, lowercase (`""` for a redirect- or assignment-only command).
        argv: The words, argv0 included, quotes removed.
        redirects: `(operator, target)` pairs (fd numbers dropped).
        pipeline: Id of the pipeline the command belongs to.
        position: Position in that pipeline (0 = reads no piped input).
        depth: Nesting depth (0 = top level; 1 = inside `bash -c`, `$(...)`, ...).
        wrappers: Wrappers it ran under, outermost first (`sudo`, `xargs`, `bash`, `ssh`...).
        inner: Names of commands run by substitutions inside its words.
        assigns: `NAME=value` words before the command.
        code: The inline program of a script interpreter (`python -c CODE`).
        reads_stdin: An interpreter with no script: it executes what it reads.
        script: The script file an interpreter runs.
    """

    name: str
    argv: list[str]
    redirects: list[tuple[str, str]]
    pipeline: int
    position: int
    depth: int
    wrappers: tuple[str, ...] = ()
    inner: tuple[str, ...] = ()
    assigns: tuple[str, ...] = ()
    code: str = ""
    reads_stdin: bool = False
    script: str = ""
    low: list[str] = field(default_factory=list)


URL = re.compile(r"^[a-z][a-z0-9+.-]*://([^/\s:?#@]+@)?(\[[^\]]+\]|[^/\s:?#]+)")
REMOTE = re.compile(r"^(?:[\w.-]+@)?([\w.-]+\.[\w-]+|\d{1,3}(?:\.\d{1,3}){3}):")
HOSTLIKE = re.compile(r"^(?:[\w-]+\.)+[a-z]{2,}$|^\d{1,3}(?:\.\d{1,3}){3}$|^localhost$")
DEV_NET = re.compile(r"/dev/(?:tcp|udp)/([^/\s]+)")
RAW_DISK = re.compile(r"^/dev/(?:sd|hd|nvme|xvd|vd|mmcblk|disk|md\d|dm-|mapper/|root|nbd|loop)")
HIST_VAR = re.compile(r"^hist(?:file|size|filesize)=(?:/dev/null|0|)$")
ADMIN_POLICY = re.compile(
    r"administratoraccess|roles/owner|roles/editor|cluster-admin|iamfullaccess|poweruseraccess"
    r"|nopasswd|all=\(all"
)


class Facts:
    """Facts found so far: the first evidence per fact, and network targets."""

    __slots__ = ("ev", "targets")

    def __init__(self) -> None:
        self.ev: dict[str, str] = {}
        self.targets: list[str] = []

    def add(self, fact: str, seen: str) -> None:
        if fact not in self.ev:
            self.ev[fact] = seen[:120].lower()

    def target(self, host: str) -> None:
        host = host.strip("[]'\"").lower()
        if host and host not in self.targets:
            self.targets.append(host)


def render(cmd: Cmd) -> str:
    return " ".join(cmd.argv)


def host_of(word: str) -> str | None:
    m = URL.match(word)
    if m:
        return m.group(2)
    m = REMOTE.match(word)
    if m:
        return m.group(1)
    m = DEV_NET.search(word)
    if m:
        return m.group(1)
    return word if HOSTLIKE.match(word) else None


def written(cmd: Cmd, path: str, f: Facts, *, truncates: bool) -> None:
    """A file the command writes: classify the path."""
    seen = f"`{render(cmd) or ':'}` writes `{path}`"
    if RAW_DISK.match(path):
        f.add("destructive", seen)
    elif LOG_PATH.search(path) and truncates:
        f.add("defense_evasion", seen)
        f.add("destructive", seen)
    elif SYSTEM_FILE.match(path):
        if truncates:
            f.add("destructive", seen)
        else:
            f.add("privilege", seen)
    if PERSISTENCE_PATH.search(path):
        f.add("persistence", seen)
    if path.startswith("/etc/sudoers"):
        f.add("privilege", seen)
    if path.startswith("/etc/selinux/"):
        f.add("defense_evasion", seen)


def flags(cmd: Cmd) -> tuple[set[str], list[str]]:
    """Short option letters / long options, and the positional arguments."""
    opts: set[str] = set()
    pos: list[str] = []
    for w, lw in zip(cmd.argv[1:], cmd.low[1:], strict=True):
        if w.startswith("--"):
            opts.add(lw)
        elif w.startswith("-") and len(w) > 1 and not w[1].isdigit():
            opts.update(w[1:])
        else:
            pos.append(lw)
    return opts, pos
