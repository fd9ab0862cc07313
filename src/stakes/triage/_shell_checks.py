"""Fact checks per command name (`rm`, `dd`, `curl`, `systemctl`, ...), used by `analyze`."""

from __future__ import annotations

import re
from collections.abc import Callable

from stakes.triage._shell_cmd import (
    HIST_VAR,
    RAW_DISK,
    Cmd,
    Facts,
    flags,
    host_of,
    render,
    written,
)
from stakes.triage._shell_tables import (
    CREDENTIAL_COMMANDS,
    EGRESS,
    LOG_PATH,
    RM_DANGER,
    SECURITY_UNITS,
    SSH_VALUE_OPTS,
    STDIN_SENDERS,
    SYSTEM_FILE,
    TOP_DANGER,
    credential_path,
)

__all__ = ["CHECKS"]

_CODE_NET = re.compile(
    r"socket|requests\.|urllib|urlopen|http\.client|httpx|aiohttp|fetch\(|net::http|io::socket|"
    r"lwp::|fsockopen|tcpsocket|net\.connect|net\.socket|tcpclient|webclient|invoke-webrequest|"
    r"invoke-restmethod|downloadstring|\biwr\b|\birm\b|curl_exec|/inet/tcp/"
)
_CODE_EXEC = re.compile(
    r"dup2|pty\.spawn|subprocess|/bin/(?:ba|z|da)?sh|\bexec\b|popen|proc_open|shell_exec|"
    r"system\(|spawn|child_process|cmd\.exe|\biex\b|invoke-expression|getstream"
)
_CODE_SEND = re.compile(r"\.post\(|\.put\(|sendall|\.send\(|data=|urlopen\([^)]*,|uploadfile")
_CODE_READ = re.compile(r"open\(|environ|getenv|read_text|read_bytes|readfile|file_get_contents")
_CODE_DL_EXEC = re.compile(
    r"(?:exec|eval)\s*\(.*(?:urlopen|requests\.get|urllib|http)|(?:\biex\b|invoke-expression)"
    r".*(?:downloadstring|invoke-webrequest|iwr|irm|webclient)|(?:downloadstring|iwr|irm).*\biex\b"
)
_CURL_STDIN = re.compile(r"^(?:-t|--upload-file|-d|--data|--data-binary|--data-raw|"
                         r"--data-urlencode|--json|-f|--form)$")
_SETUID_MODE = re.compile(r"^(?:[ugoa]*\+[rwx]*s[rwxt]*|[2467][0-7]{3})$")
_ADMIN_GROUPS = re.compile(r"(?:^|,)(?:sudo|wheel|admin|root|docker|adm|lxd|disk|shadow)(?:,|$)")
_GROUP_OPTS = frozenset(("-g", "-ag", "-ga", "--groups", "--append-groups"))
_UPLOAD_FLAGS = frozenset(("-t", "--upload-file"))
_NC_EXEC = frozenset(("-e", "-c", "--exec", "--sh-exec", "--lua-exec"))
_CODE_HOST = re.compile(r"['\"]([a-z][\w+.-]*://[^'\"]+|\d{1,3}(?:\.\d{1,3}){3})['\"]")
_PRIVILEGED_RUN = re.compile(
    r"--privileged|-v\s+/:|--volume[= ]/:|--pid[= ]host|--cap-add[= ](?:sys_admin|all)"
)
_FLUSH = frozenset(("-f", "--flush", "-x"))
_TIMESTOMP = frozenset(("-r", "-t", "-d", "--reference", "--date"))
_DUMP_ARGS = frozenset(("-p", "-x", "-px"))
_ROOT_SHELL_ARGS = frozenset(("-i", "-s", "-", "-l", "--login", "root", "-su"))
_CLOUD_EVASION = re.compile(r"cloudtrail (?:stop-logging|delete-trail)|guardduty delete")
_SECRET_SEARCH = re.compile(r"passw|secret|api_?key|token|private key")
_S3_DELETE = re.compile(r"\bs3 (?:rm|rb)\b.*(?:--recursive|--force)|\brm -r")
_KUBE_WIDE = re.compile(r"--all\b|-a\b|--all-namespaces|\b(?:ns|namespaces?|nodes?|pv|crd)\b")
_IAM_GRANT = re.compile(
    r"(?:attach|put)-(?:user|role|group)-policy|create-access-key|add-user-to-group|"
    r"add-iam-policy-binding|create (?:cluster)?rolebinding"
)


def _rm(cmd: Cmd, f: Facts) -> None:
    opts, pos = flags(cmd)
    recursive = bool(opts & {"r", "R", "--recursive"}) or cmd.name == "rmdir"
    if "--no-preserve-root" in opts:
        f.add("destructive", f"`{render(cmd)}`")
    for target in pos:
        t = target.rstrip("/") or "/"
        danger = RM_DANGER.match(t) or RM_DANGER.match(target)
        if ((recursive or "*" in t) and danger) or SYSTEM_FILE.match(t):
            f.add("destructive", f"`{render(cmd)}`")
        if LOG_PATH.search(t):
            f.add("defense_evasion", f"`{render(cmd)}` deletes logs")
            if recursive or "*" in t:
                f.add("destructive", f"`{render(cmd)}`")


def _find(cmd: Cmd, f: Facts) -> None:
    if "-delete" in cmd.low:
        start = [w for w in cmd.low[1:] if not w.startswith(("-", "(", "!"))][:1]
        if start and RM_DANGER.match(start[0].rstrip("/") or "/"):
            f.add("destructive", f"`{render(cmd)}`")


def _disk(cmd: Cmd, f: Facts) -> None:
    if cmd.name.startswith("mkfs") or cmd.name in ("mke2fs", "wipefs", "blkdiscard", "shred") or (
        cmd.name == "sgdisk" and ("--zap-all" in cmd.low or "-z" in cmd.low)
    ):
        f.add("destructive", f"`{render(cmd)}`")
    if cmd.name == "shred" and any(LOG_PATH.search(w) for w in cmd.low[1:]):
        f.add("defense_evasion", f"`{render(cmd)}` destroys logs")


def _dd(cmd: Cmd, f: Facts) -> None:
    for w in cmd.low[1:]:
        if w.startswith("of=") and RAW_DISK.match(w[3:]):
            f.add("destructive", f"`{render(cmd)}`")


def _truncate(cmd: Cmd, f: Facts) -> None:
    for w in flags(cmd)[1]:
        if not w.isdigit():
            written(cmd, w, f, truncates=True)


def _perm(cmd: Cmd, f: Facts) -> None:
    opts, pos = flags(cmd)
    recursive = bool(opts & {"R", "--recursive"}) or (cmd.name != "chmod" and "r" in opts)
    show = render(cmd)
    targets = pos[1:] if pos else []
    for t in targets:
        t = t.rstrip("/") or "/"
        if recursive and TOP_DANGER.match(t):
            f.add("destructive", f"`{show}`")
        if cmd.name == "chmod" and t.startswith(("/etc/shadow", "/etc/passwd", "/etc/sudoers")):
            f.add("privilege", f"`{show}`")
    if cmd.name == "chmod" and pos and _SETUID_MODE.match(pos[0]):
        f.add("privilege", f"setuid `{show}`")


def _copy(cmd: Cmd, f: Facts) -> None:
    pos = flags(cmd)[1]
    if cmd.name == "tee":
        for p in pos:
            written(cmd, p, f, truncates="-a" not in cmd.low and "--append" not in cmd.low)
    elif cmd.name == "sed":
        if any(w.startswith("-i") or w == "--in-place" for w in cmd.low):
            for p in pos[1:]:
                written(cmd, p, f, truncates=False)
            if "selinux" in " ".join(cmd.low) and "disabled" in " ".join(cmd.low):
                f.add("defense_evasion", f"`{render(cmd)}` disables selinux")
    elif len(pos) >= 2:
        dest = pos[-1]
        if cmd.name == "ln" and dest.endswith("_history") and "/dev/null" in pos:
            f.add("defense_evasion", f"`{render(cmd)}`")
        written(cmd, dest, f, truncates=True)
        if cmd.name == "mv" and TOP_DANGER.match(pos[0].rstrip("/") or "/"):
            f.add("destructive", f"`{render(cmd)}`")


def _egress(cmd: Cmd, f: Facts) -> None:
    show = render(cmd)
    hosts = [h for h in (host_of(w) for w in cmd.low[1:] if not w.startswith("-")) if h]
    if cmd.name == "ssh":
        k = 1
        while k < len(cmd.low) and cmd.low[k].startswith("-"):
            k += 2 if cmd.argv[k] in SSH_VALUE_OPTS else 1
        if k < len(cmd.low):
            hosts = [cmd.low[k].rsplit("@", 1)[-1]]
    if cmd.name in ("scp", "rsync", "sftp") and not hosts:
        return
    if cmd.name == "openssl" and "s_client" not in cmd.low:
        return
    f.add("network_egress", f"`{show}`")
    for h in hosts:
        f.target(h)
    low = cmd.low
    for i, w in enumerate(low):
        nxt = low[i + 1] if i + 1 < len(low) else ""
        uploads = nxt.startswith("@") or "=@" in nxt or w in _UPLOAD_FLAGS
        if _CURL_STDIN.match(w) and uploads and not nxt.startswith(("http://", "https://")):
            f.add("pipe_to_network", f"upload `{nxt}`: `{show}`")
        elif w.startswith(("--post-file", "--body-file")):
            f.add("pipe_to_network", f"upload: `{show}`")
    if any("$(" in w or "`" in w for w in low[1:]):
        f.add("pipe_to_network", f"command output embedded in `{show}`")
    if (cmd.name in ("nc", "ncat", "netcat") and not _NC_EXEC.isdisjoint(low)) or (
        cmd.name == "socat" and any(w.startswith(("exec:", "system:")) for w in low)
    ):
        f.add("reverse_shell", f"`{show}`")
    if cmd.name in STDIN_SENDERS and any(op == "<" for op, _ in cmd.redirects):
        f.add("pipe_to_network", f"file sent by `{show}`")


def _dns(cmd: Cmd, f: Facts) -> None:
    if any("$(" in w or "`" in w for w in cmd.low[1:]):
        f.add("network_egress", f"`{render(cmd)}`")
        f.add("pipe_to_network", f"command output in a dns query: `{render(cmd)}`")


def _lang(cmd: Cmd, f: Facts) -> None:
    code = cmd.code.lower()
    if not code:
        if "-m" in cmd.low and "http.server" in cmd.low:
            f.add("network_egress", f"`{render(cmd)}` serves files")
        return
    show = render(cmd)
    net = _CODE_NET.search(code)
    if net:
        f.add("network_egress", f"`{net.group(0)}` in `{show}`")
        for m in _CODE_HOST.finditer(code):
            host = host_of(m.group(1))
            if host:
                f.target(host)
        if _CODE_EXEC.search(code):
            f.add("reverse_shell", f"socket and process in `{show}`")
        if _CODE_SEND.search(code) and _CODE_READ.search(code):
            f.add("pipe_to_network", f"reads and sends in `{show}`")
    if _CODE_DL_EXEC.search(code):
        f.add("download_and_execute", f"`{show}`")
    cred = credential_path(code)
    if cred:
        f.add("credential_access", f"`{show}` touches `{cred}`")


def _privilege(cmd: Cmd, f: Facts) -> None:
    low, show, name = cmd.low, render(cmd), cmd.name
    if name in ("sudo", "doas", "su", "pkexec"):
        f.add("sudo", f"`{show}`")
        if len(low) == 1 or set(low[1:]) <= _ROOT_SHELL_ARGS:
            f.add("privilege", f"root shell `{show}`")
    elif name in ("usermod", "useradd", "adduser", "gpasswd"):
        joined = " ".join(low)
        groups = [low[i + 1] for i, w in enumerate(low[:-1]) if w in _GROUP_OPTS]
        if (
            any(_ADMIN_GROUPS.search(g) for g in groups)
            or re.search(r"(?:^|\s)-u\s*0\b|--uid[= ]0\b", joined)
            or (name in ("adduser", "gpasswd") and len(low) > 2 and _ADMIN_GROUPS.search(low[-1]))
        ):
            f.add("privilege", f"`{show}`")
    elif name in ("setcap", "visudo", "chpasswd") or (name == "passwd" and "root" in low):
        f.add("privilege", f"`{show}`")
    elif name == "nsenter" and any(w in ("-t", "--target") for w in low) and "1" in low:
        f.add("privilege", f"container escape `{show}`")
    elif name in ("docker", "podman") and "run" in low and _PRIVILEGED_RUN.search(" ".join(low)):
        f.add("privilege", f"privileged container `{show}`")


def _services(cmd: Cmd, f: Facts) -> None:
    low, show = cmd.low, render(cmd)
    units = [w.removesuffix(".service") for w in low[1:]]
    sec = [u for u in units if u in SECURITY_UNITS]
    if cmd.name in ("systemctl", "service", "rc-service", "launchctl"):
        stop = {"stop", "disable", "mask", "kill", "unload"} & set(low)
        if sec and stop:
            f.add("defense_evasion", f"`{show}` stops `{sec[0]}`")
        elif "enable" in low or (cmd.name == "launchctl" and "load" in low):
            f.add("persistence", f"`{show}`")
    elif cmd.name in ("kill", "pkill", "killall"):
        if sec:
            f.add("defense_evasion", f"`{show}` kills `{sec[0]}`")
        if "-1" in low and ("-9" in low or "-kill" in low):
            f.add("destructive", f"`{show}` kills every process")


def _evasion(cmd: Cmd, f: Facts) -> None:
    low, show, name = cmd.low, render(cmd), cmd.name
    joined = " ".join(low[1:])
    hit = (
        (name == "history" and ("-c" in low or ("-w" in low and "/dev/null" in low)))
        or (name == "unset" and any(w.startswith("hist") for w in low[1:]))
        or (name == "export" and any(HIST_VAR.match(w) for w in low[1:]))
        or (name == "set" and "+o" in low and "history" in low)
        or (name == "auditctl" and ("-d" in low or joined.startswith("-e 0")))
        or (name == "setenforce" and joined in ("0", "permissive"))
        or (name in ("iptables", "ip6tables") and (
            not _FLUSH.isdisjoint(low) or re.search(r"-p \w+ accept", joined) is not None))
        or (name == "nft" and "flush" in low)
        or (name == "ufw" and ("disable" in low or ("allow" in low and "default" in low)))
        or (name == "journalctl" and any(w.startswith(("--vacuum", "--rotate")) for w in low))
        or (name == "wevtutil" and "cl" in low)
        or name in ("clear-eventlog", "remove-eventlog", "aa-teardown")
        or (name == "aws" and _CLOUD_EVASION.search(joined) is not None)
        or (name == "gcloud" and "logging" in low and "delete" in low)
        or (name == "touch" and not _TIMESTOMP.isdisjoint(low) and any(w.startswith("/etc/")
                                                                       for w in low))
    )
    if hit:
        f.add("defense_evasion", f"`{show}`")


def _credentials(cmd: Cmd, f: Facts) -> None:
    low, show, name = cmd.low, render(cmd), cmd.name
    joined = " ".join(low[1:])
    dumps = name in ("env", "set", "export", "declare") and (len(low) == 1 or joined in _DUMP_ARGS)
    if name in ("printenv", "compgen") or dumps:
        f.add("credential_access", f"`{show}` dumps the environment")
        return
    pattern = CREDENTIAL_COMMANDS.get(name)
    if pattern is not None and pattern.search(joined):
        f.add("credential_access", f"`{show}`")
    elif name in ("grep", "rg", "egrep", "ag") and _SECRET_SEARCH.search(joined):
        f.add("credential_access", f"`{show}` searches for secrets")


def _environment(cmd: Cmd, f: Facts) -> None:
    _evasion(cmd, f)
    _credentials(cmd, f)


def _schedule(cmd: Cmd, f: Facts) -> None:
    if cmd.name != "crontab" or ("-l" not in cmd.low and "-r" not in cmd.low):
        f.add("persistence", f"`{render(cmd)}`")


def _cloud(cmd: Cmd, f: Facts) -> None:
    low, show = cmd.low, render(cmd)
    joined = " ".join(low[1:])
    if (
        (cmd.name == "terraform" and "destroy" in low)
        or (cmd.name == "kubectl" and "delete" in low and _KUBE_WIDE.search(joined))
        or (cmd.name in ("aws", "gsutil") and _S3_DELETE.search(joined))
    ):
        f.add("destructive", f"`{show}`")
    elif cmd.name == "aws" and re.search(r"\bs3 (?:cp|sync|mv)\b.*\ss3://", joined):
        f.add("network_egress", f"`{show}`")
        m = re.search(r"s3://([^/\s]+)", joined)
        if m:
            f.target("s3://" + m.group(1))
    if _IAM_GRANT.search(joined):
        f.add("privilege", f"`{show}`")
    _evasion(cmd, f)
    _credentials(cmd, f)


CHECKS: dict[str, Callable[[Cmd, Facts], None]] = {
    **dict.fromkeys(("rm", "unlink", "rmdir"), _rm),
    "find": _find,
    **dict.fromkeys(("mkfs", "mke2fs", "wipefs", "blkdiscard", "shred", "sgdisk"), _disk),
    "dd": _dd,
    "truncate": _truncate,
    **dict.fromkeys(("chmod", "chown", "chgrp"), _perm),
    **dict.fromkeys(("cp", "mv", "install", "ln", "tee", "sed"), _copy),
    **dict.fromkeys(tuple(EGRESS), _egress),
    **dict.fromkeys(("dig", "nslookup", "host", "drill"), _dns),
    **dict.fromkeys(("python", "perl", "ruby", "node", "php", "lua", "powershell", "awk"), _lang),
    **dict.fromkeys(("sudo", "doas", "su", "pkexec", "usermod", "useradd", "adduser", "gpasswd",
                     "setcap", "chpasswd", "passwd", "visudo", "nsenter", "docker", "podman"),
                    _privilege),
    **dict.fromkeys(("systemctl", "service", "rc-service", "launchctl", "kill", "pkill", "killall"),
                    _services),
    **dict.fromkeys(("history", "unset", "auditctl", "setenforce", "iptables", "ip6tables", "nft",
                     "ufw", "journalctl", "wevtutil", "clear-eventlog", "remove-eventlog", "touch",
                     "aa-teardown"), _evasion),
    **dict.fromkeys(("set", "export"), _environment),
    **dict.fromkeys(("printenv", "compgen", "env", "declare", "grep", "rg", "egrep",
                     "ag", "vault", "security", "gpg", "op", "pass", "keyctl", "doppler", "heroku",
                     "mimikatz", "lazagne", "secretsdump.py"), _credentials),
    **dict.fromkeys(("crontab", "at", "batch", "update-rc.d", "chkconfig", "schtasks"), _schedule),
    **dict.fromkeys(("terraform", "kubectl", "aws", "gsutil", "gcloud", "az"), _cloud),
}
