"""Facts about parsed shell commands: what the rules and stakes inference look for.

`analyze` reads the simple commands `parse_shell` produced (already unwrapped from `sudo`,
`bash -c`, `$(...)`, ...) and returns facts with the first piece of evidence for each:

- `destructive`: rm -r of /, ~, *, system dirs; mkfs, wipefs, dd of=/dev/..., shred; writes to
  raw disks; recursive chmod/chown of /; truncation of logs or system files; fork bombs;
  `terraform destroy`, `kubectl delete --all`.
- `network_egress` (with `targets`), `pipe_to_network` (data piped, uploaded or substituted into
  an egress command), `download_and_execute`, `pipe_to_shell`, `reverse_shell`.
- `privilege` (escalation: setuid, sudoers, admin groups, uid 0, privileged containers, admin
  policies), `sudo` (plain use of sudo/doas/su), `persistence`, `defense_evasion`,
  `credential_access`.
"""

from __future__ import annotations

import re

from stakes.triage._shell_checks import CHECKS
from stakes.triage._shell_cmd import (
    ADMIN_POLICY,
    HIST_VAR,
    URL,
    Cmd,
    Facts,
    host_of,
    render,
    written,
)
from stakes.triage._shell_tables import (
    DOWNLOADERS,
    INTERPRETERS,
    SHELLS,
    STDIN_SENDERS,
    credential_path,
    lang_of,
)

__all__ = ["analyze"]

_FORK_BOMB = re.compile(r"(\w+|:)\s*\(\)\s*\{[^}]*\1\s*\|\s*\1\s*&")


def analyze(cmds: list[Cmd], source: str) -> tuple[dict[str, str], list[str]]:
    """Derive the facts of a parsed command line.

    Args:
        cmds: The simple commands, in source order, nested ones included.
        source: The lowercased source text (for patterns that span commands: fork bombs).

    Returns:
        `{fact: first evidence}` (evidence lowercase, at most 120 characters) and the network
        targets (hosts) in order of appearance.
    """
    f = Facts()
    downloaded: set[str] = set()
    names = {c.name for c in cmds}
    for cmd in cmds:
        cmd.low = [w.lower() for w in cmd.argv]
        _generic(cmd, f)
        check = CHECKS.get(lang_of(cmd.name) or cmd.name) or CHECKS.get(cmd.name.split(".", 1)[0])
        if check is not None:
            check(cmd, f)
        if cmd.name in DOWNLOADERS:
            downloaded.update(_downloads(cmd))
        elif downloaded and (
            cmd.name in downloaded or (cmd.script and cmd.script.rsplit("/", 1)[-1] in downloaded)
        ):
            f.add("download_and_execute", f"`{render(cmd)}` runs a downloaded file")
    _pipelines(cmds, f)
    if "mkfifo" in names and names & {"nc", "ncat", "netcat", "telnet", "openssl", "socat"}:
        f.add("reverse_shell", "`mkfifo` with a network relay")
    m = _FORK_BOMB.search(source) if "()" in source else None
    if m:
        f.add("destructive", f"fork bomb `{m.group(0)}`")
    return f.ev, f.targets


def _generic(cmd: Cmd, f: Facts) -> None:
    """Checks that do not depend on the command name: paths, redirects, assignments, wrappers."""
    show = render(cmd)
    if "sudo" in cmd.wrappers or "doas" in cmd.wrappers or "pkexec" in cmd.wrappers:
        f.add("sudo", f"`{show}` under sudo")
    words = "\n".join(cmd.low[1:]) if cmd.name else ""
    if words:
        cred = credential_path(words)
        if cred:
            f.add("credential_access", f"`{show}` touches `{cred}`")
        if "/dev/" in words or "/inet/" in words:
            for word in cmd.low[1:]:
                if "/dev/tcp/" in word or "/dev/udp/" in word or "/inet/tcp/" in word:
                    f.add("network_egress", f"`{show}`")
                    host = host_of(word)
                    if host:
                        f.target(host)
        m = ADMIN_POLICY.search(words) if (
            "admin" in words or "roles/" in words or "nopasswd" in words or "all=(" in words
            or "fullaccess" in words or "poweruser" in words
        ) else None
        if m:
            f.add("privilege", f"`{show}` grants `{m.group(0)}`")
    for assign in cmd.assigns:
        if HIST_VAR.match(assign.lower()):
            f.add("defense_evasion", f"`{assign}` disables shell history")
    for op, target in cmd.redirects:
        low = target.lower()
        if "/dev/tcp/" in low or "/dev/udp/" in low:
            host = host_of(low)
            if host:
                f.target(host)
            if cmd.name in SHELLS or cmd.name == "exec" or "-i" in cmd.low:
                f.add("reverse_shell", f"`{show} {op} {target}`")
            elif op in (">", ">>", ">|", "&>", ">&"):
                f.add("pipe_to_network", f"output of `{show}` sent to `{target}`")
            f.add("network_egress", f"`{op} {target}`")
            continue
        if op in ("<", "<<", "<<-", "<<<"):
            cred = credential_path(low)
            if cred:
                f.add("credential_access", f"`{show}` reads `{cred}`")
            continue
        if op not in (">", ">>", ">|", "&>", "&>>"):
            continue
        written(cmd, low, f, truncates=op in (">", ">|", "&>"))


def _downloads(cmd: Cmd) -> set[str]:
    """Basenames of the files a downloader may write (`-o FILE`, `-O`, the URL's name)."""
    out: set[str] = set()
    low = cmd.low
    for i, w in enumerate(low):
        if w in ("-o", "--output", "--output-document") and i + 1 < len(low):
            out.add(low[i + 1].split("?")[0].rstrip("/").rsplit("/", 1)[-1])
        elif w.startswith(("--output-document=", "--output=")):
            out.add(w.split("=", 1)[1].rsplit("/", 1)[-1])
        elif URL.match(w):
            out.add(w.split("?")[0].rstrip("/").rsplit("/", 1)[-1])
    out.discard("-")
    out.discard("")
    return out


def _reads_piped_data(c: Cmd) -> bool:
    """An egress command that sends its standard input (`nc host`, `curl -T -`, `-d @-`)."""
    if c.name in STDIN_SENDERS:
        return True
    return c.name in ("curl", "wget") and (
        "-" in c.low or any(w.startswith("@-") or w.endswith(("=@-", "=-")) for w in c.low)
    )


def _pipelines(cmds: list[Cmd], f: Facts) -> None:
    groups: dict[int, list[Cmd]] = {}
    for c in cmds:
        groups.setdefault(c.pipeline, []).append(c)
    for c in cmds:
        runs = c.name in INTERPRETERS or c.name == "$()"
        if runs and c.inner and set(c.inner) & DOWNLOADERS:
            f.add("download_and_execute", f"`{render(c)}` runs downloaded code")
    for group in groups.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda c: c.position)
        chain = " | ".join(render(c) for c in group)
        seen_dl = seen_data = False
        for c in group:
            if c.position > 0 and c.reads_stdin:
                if seen_dl:
                    f.add("download_and_execute", f"`{chain}`")
                else:
                    f.add("pipe_to_shell", f"`{chain}`")
            if c.position > 0 and seen_data and _reads_piped_data(c):
                f.add("pipe_to_network", f"`{chain}`")
            seen_dl = seen_dl or c.name in DOWNLOADERS
            seen_data = True
        names = {c.name for c in group}
        if names & SHELLS and names & {"nc", "ncat", "netcat", "telnet", "openssl"}:
            f.add("reverse_shell", f"`{chain}`")
