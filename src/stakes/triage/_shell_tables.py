"""Tables the shell parser and the rules share: command families and sensitive paths.

Every pattern here runs on lowercased text.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = [
    "CODE_SHELL",
    "CREDENTIAL_COMMANDS",
    "CREDENTIAL_PATH",
    "DOWNLOADERS",
    "EGRESS",
    "ENDS",
    "INTERPRETERS",
    "KEYWORDS",
    "KNOWN_COMMANDS",
    "LOG_PATH",
    "PERSISTENCE_PATH",
    "RM_DANGER",
    "SECURITY_UNITS",
    "SHELLS",
    "SQL_CLIENTS",
    "SSH_VALUE_OPTS",
    "STDIN_SENDERS",
    "SYSTEM_FILE",
    "TOP_DANGER",
    "WRAPPERS",
    "credential_path",
    "lang_of",
]

SHELLS = frozenset((
    "sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "fish", "csh", "tcsh", "rbash", "yash",
))
"""Shells: `-c SCRIPT` runs a script; with no script they execute what they read."""

_LANG_NAMES = {
    "python": "python", "pypy": "python", "perl": "perl", "ruby": "ruby", "node": "node",
    "nodejs": "node", "deno": "node", "bun": "node", "php": "php", "lua": "lua", "luajit": "lua",
    "pwsh": "powershell", "powershell": "powershell", "osascript": "osascript", "awk": "awk",
    "gawk": "awk", "mawk": "awk", "nawk": "awk", "tclsh": "tcl", "irb": "ruby",
}
_LANG_SUFFIX = re.compile(r"(?:[0-9][0-9.]*)?(?:\.exe)?$")

INTERPRETERS = SHELLS | frozenset(
    (
        "python", "perl", "ruby", "node", "php", "lua", "powershell", "pwsh", "eval", "source",
        ".", "iex", "invoke-expression",
    )
)
"""Commands that execute code given as data (stdin, a string or a substitution)."""

DOWNLOADERS = frozenset(
    (
        "curl", "wget", "fetch", "aria2c", "axel", "lwp-download", "lwp-request", "xh", "curlie",
        "http", "https", "invoke-webrequest", "iwr", "irm", "invoke-restmethod", "certutil",
        "bitsadmin",
    )
)
EGRESS = DOWNLOADERS | frozenset(
    (
        "nc", "ncat", "netcat", "socat", "scp", "sftp", "rsync", "ssh", "ftp", "tftp", "telnet",
        "lftp", "smbclient", "rclone", "s3cmd", "openssl", "sendmail", "mail", "mailx", "mutt",
    )
)
"""Commands that reach another host."""
STDIN_SENDERS = frozenset(
    (
        "nc", "ncat", "netcat", "socat", "telnet", "ssh", "openssl", "sendmail", "mail", "mailx",
        "mutt", "ftp", "tftp",
    )
)
"""Egress commands that send whatever is piped into them."""

SQL_CLIENTS = {
    "psql": ("-c", "--command"), "mysql": ("-e", "--execute"), "mariadb": ("-e", "--execute"),
    "sqlite3": (), "sqlcmd": ("-q", "-Q"), "clickhouse-client": ("-q", "--query"),
    "cockroach": ("-e", "--execute"), "duckdb": ("-c",), "snowsql": ("-q", "--query"),
    "bq": (), "mongo": ("--eval",), "mongosh": ("--eval",),
}
"""Database clients and the options that carry an inline statement."""

SSH_VALUE_OPTS = frozenset((
    "-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O", "-o", "-p", "-Q",
    "-R", "-S", "-W", "-w",
))
"""ssh options that take a value (the host is the first argument after them)."""

SECURITY_UNITS = frozenset(
    (
        "auditd", "audit", "falco", "falco-modern-bpf", "falco-bpf", "osqueryd", "osquery",
        "wazuh-agent", "wazuh", "ossec", "ossec-hids", "rsyslog", "rsyslogd", "syslog",
        "syslog-ng", "systemd-journald", "journald", "auditbeat", "filebeat", "packetbeat",
        "sysmon", "sysmonforlinux", "falcon-sensor", "falcond", "cbagentd", "sentinelone",
        "sentinelagent", "datadog-agent", "splunk", "splunkd", "splunkforwarder", "elastic-agent",
        "elastic-endpoint", "aide", "tripwire", "clamav-daemon", "clamd", "apparmor", "firewalld",
        "ufw", "fail2ban", "snort", "suricata", "zeek", "amazon-cloudwatch-agent",
        "google-fluentd", "fluentd", "fluent-bit", "td-agent", "auditdispatcher",
    )
)
"""Logging, audit and endpoint-security services whose stopping is defense evasion."""

KNOWN_COMMANDS = tuple(
    (
        "rm", "curl", "wget", "nc", "ncat", "bash", "sh", "zsh", "python", "python3", "perl",
        "ruby", "php", "chmod", "chown", "dd", "mkfs", "shred", "cat", "base64", "sudo", "ssh",
        "scp", "nohup", "kill", "crontab", "iptables", "systemctl", "history",
    )
)
"""Commands a glob in argv0 (`/???/r?`) is resolved against, most dangerous first."""

CREDENTIAL_PATH = re.compile(
    r"\.ssh/(?:id_(?:rsa|dsa|ecdsa|ed25519)(?:_sk)?(?![\w.-]*\.pub)|identity\b|\*|id_\*)"
    r"|\.aws/credentials|/etc/(?:shadow|gshadow|master\.passwd|security/opasswd)\b"
    r"|(?:^|[\s/'\"=])\.env(?:\.(?!example\b|sample\b|template\b|dist\b|defaults?\b)[\w-]+)?"
    r"(?![\w/-])"
    r"|\.kube/config\b|\bkubeconfig\b|\.vault-token|\.netrc\b|\.pgpass\b|\.git-credentials"
    r"|\.docker/config\.json|\.npmrc\b|\.pypirc\b|\.gnupg/|\.password-store\b|\.s3cfg\b"
    r"|\.config/gcloud/(?:credentials|application_default|access_tokens|legacy_credentials)"
    r"|application_default_credentials\.json|\.azure/(?:accesstokens|msal_token_cache)"
    r"|/proc/(?:self|\d+|\*)/environ|/(?:var/)?run/secrets/"
    r"|169\.254\.169\.254|metadata\.google\.internal|\bfd00:ec2::254\b"
    r"|(?<![\w.])id_(?:rsa|dsa|ecdsa|ed25519)(?![\w.])"
    r"|\.(?:bash|zsh|psql|mysql|python)_history\b|/etc/ssl/private\b|\bwallet\.dat\b"
    r"|/etc/kubernetes/(?:admin\.conf|pki/)|\.terraform\.d/credentials|\bterraform\.tfstate\b"
    r"|\bcredentials\.json\b|\bsecrets?\.(?:ya?ml|json|env|toml)\b"
)
"""Files and endpoints that hold credentials (private keys, cloud keys, tokens, env files)."""

CREDENTIAL_COMMANDS = {
    "aws": re.compile(r"secretsmanager get-secret-value|ssm get-parameters?\b.*--with-decryption"
                      r"|configure (?:get|export-credentials)|sts get-session-token"
                      r"|ecr get-login-password"),
    "gcloud": re.compile(r"auth (?:application-default )?print-(?:access|identity)-token"
                         r"|secrets versions access"),
    "az": re.compile(r"get-access-token|keyvault secret show"),
    "kubectl": re.compile(r"(?:get|describe)\s+secrets?\b|config view.*--raw"),
    "vault": re.compile(r"\b(?:read|kv get|token (?:lookup|create))\b"),
    "security": re.compile(r"find-(?:generic|internet)-password|dump-keychain"),
    "gpg": re.compile(r"--export-secret-keys"),
    "op": re.compile(r"\b(?:item get|read)\b"),
    "pass": re.compile(r"\bshow\b"),
    "keyctl": re.compile(r"\b(?:print|read|pipe)\b"),
    "doppler": re.compile(r"\bsecrets\b"),
    "heroku": re.compile(r"\bconfig\b"),
    "mimikatz": re.compile(r""),
    "lazagne": re.compile(r""),
    "secretsdump.py": re.compile(r""),
}
"""Commands that print secrets, by name, with the argument pattern that makes them do it."""

PERSISTENCE_PATH = re.compile(
    r"(?:^|/)\.(?:bashrc|bash_profile|bash_login|profile|zshrc|zprofile|zshenv|zlogin|cshrc|"
    r"tcshrc|kshrc|xprofile|xinitrc)$"
    r"|(?:^|/)\.ssh/(?:authorized_keys2?|rc)$"
    r"|^/etc/(?:cron|anacrontab|rc\.local|rc\d\.d/|init\.d/|init/|profile|bash\.bashrc|"
    r"environment$|ld\.so\.preload|update-motd\.d/|xdg/autostart/|systemd/|pam\.d/|"
    r"ssh/sshd_config|modules-load\.d/|udev/rules\.d/)"
    r"|^/var/spool/cron|^(?:/usr)?/lib/systemd/|(?:^|/)\.config/(?:systemd/user/|autostart/|"
    r"fish/config\.fish)|(?:^|/)library/launch(?:agents|daemons)/|(?:^|/)\.git/hooks/"
)
"""Files whose writing makes code run again later (shell rc files, cron, units, keys)."""

LOG_PATH = re.compile(
    r"^/var/log(?:/|$)|^/var/log\*|^/run/log/journal|(?:^|/)\.(?:bash|zsh|sh)_history$"
    r"|^/var/(?:adm|account)/|\.log$"
)
"""Log and history files: truncating or deleting them destroys the audit trail."""

_SYS = "bin|boot|dev|etc|home|lib|lib32|lib64|opt|proc|root|sbin|srv|sys|usr|var|mnt|media|snap"
RM_DANGER = re.compile(
    r"^(?:/+\*?|~/?\*?|\$\{?home\}?/?\*?|\*|\.\*|\./\*|\.\.?/?\*?"
    rf"|/(?:{_SYS})/?\*?"
    r"|/(?:etc|usr|var|boot|bin|sbin|lib|lib64)/(?!tmp\b|cache\b)[^/*]+/?\*?"
    r"|/var/lib/[^/*]+/?\*?"
    r"|/home/\*|/var/log.*|\$\{?\w+\}?/\*?)$"
)
"""Targets whose recursive removal is catastrophic: /, ~, *, system directories, `$VAR/`."""

TOP_DANGER = re.compile(rf"^(?:/+\*?|~/?\*?|\*|/(?:{_SYS})/?\*?)$")
"""Targets whose recursive chmod/chown or move breaks the system."""

SYSTEM_FILE = re.compile(
    r"^/etc/(?:passwd|shadow|group|gshadow|sudoers|fstab|hosts|resolv\.conf|ssh/sshd_config)$"
    r"|^/boot/|^/(?:usr/)?s?bin/|^/(?:usr/)?lib(?:32|64)?/[^/]+\.so"
)
"""Single files the system needs: removing or truncating them breaks it."""


def credential_path(text: str) -> str | None:
    """The credential path or endpoint `text` mentions (lowercase input), or None.

    Substring tests guard the regex (which is slow on this engine): every match of
    `CREDENTIAL_PATH` contains one of them.
    """
    t = text
    if (
        "/." in t or "/etc/" in t or "/run/" in t or "/proc/" in t or t.startswith(".")
        or " ." in t or "\n." in t or "'." in t or '".' in t or "=." in t or ".env" in t
        or "id_" in t or "_history" in t or "169.254" in t or "kube" in t or "environ" in t
        or "secret" in t or "credential" in t or "tfstate" in t or "wallet.dat" in t
        or "metadata.google" in t or "fd00:" in t
    ):
        m = CREDENTIAL_PATH.search(t)
        if m is not None:
            return m.group(0).strip(" \t\n'\"=")
    return None


@lru_cache(maxsize=1024)
def lang_of(name: str) -> str | None:
    """The script language a command name runs (`python3.11` -> `python`), or None."""
    if name in _LANG_NAMES:
        return _LANG_NAMES[name]
    base = _LANG_SUFFIX.sub("", name)
    return _LANG_NAMES.get(base)


CODE_SHELL = re.compile(
    r"(?:system|popen|exec|execSync|spawnSync|call|run|check_output|check_call|getoutput|"
    r"shell_exec|passthru|proc_open|Popen)\s*\(\s*\[?\s*[rbfu]?(['\"])(.+?)(?<!\\)\1"
)
"""A string literal handed to a process-spawning call (Python, Perl, Ruby, PHP, Node): group 2."""

KEYWORDS = frozenset((
    "if", "then", "else", "elif", "do", "while", "until", "!", "{", "}", "(", "time", "coproc",
))
"""Shell keywords dropped from the front of a simple command."""
ENDS = frozenset((
    "fi", "done", "esac", "}", ")",
))
"""Words that close a compound command (a lone `fi` is no command)."""

WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "sudo": (frozenset((
        "-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "--user", "--group", "--chdir",
        "--prompt", "--role", "--type", "--other-user", "--host", "--close-from",
        "--command-timeout",
    )), 0),
    "doas": (frozenset(("-u", "-C")), 0),
    "pkexec": (frozenset(("--user",)), 0),
    "runuser": (frozenset(("-u", "-g", "-G", "--user", "--group")), 0),
    "env": (frozenset(("-u", "-C", "--unset", "--chdir")), 0),
    "nohup": (frozenset(), 0), "setsid": (frozenset(), 0), "command": (frozenset(), 0),
    "builtin": (frozenset(), 0), "exec": (frozenset(("-a",)), 0), "unbuffer": (frozenset(), 0),
    "time": (frozenset(("-f", "-o")), 0), "nice": (frozenset(("-n", "--adjustment")), 0),
    "ionice": (frozenset(("-c", "-n", "-t")), 0),
    "timeout": (frozenset(("-s", "-k", "--signal", "--kill-after")), 1),
    "stdbuf": (frozenset(("-i", "-o", "-e")), 0), "chroot": (frozenset(("--userspec",)), 1),
    "watch": (frozenset(("-n", "--interval")), 0), "flock": (frozenset(("-w", "-E")), 1),
    "xargs": (frozenset((
        "-I", "-i", "-n", "-P", "-L", "-l", "-d", "-E", "-s", "-a", "--max-args", "--max-procs",
        "--delimiter", "--replace", "--arg-file",
    )), 0),
    "torsocks": (frozenset(), 0), "proxychains": (frozenset(("-f",)), 0),
    "proxychains4": (frozenset(("-f",)), 0), "firejail": (frozenset(), 0),
    "strace": (frozenset(("-o", "-e", "-p", "-s")), 0), "ltrace": (frozenset(("-o", "-e")), 0),
    "busybox": (frozenset(), 0), "caffeinate": (frozenset(), 0), "faketime": (frozenset(), 1),
}
"""Wrappers that run another command: option words that take a value, positional words."""
