"""The text screen of the rule monitor: text patterns, their gates and one anchored search.

The text rules (live secrets, injected instructions, wildcard grants, security tooling, credential
paths, paste sites) each sit behind a gate of substring tests that every match implies.
`_quiet` runs every gate's substrings as one search anchored on each needle's rarest character
(plus a byte-class test for 16-character token runs), so a routine text is cleared in one scan;
`_findings` applies the open gates' regexes. Both are memoized for short texts (bounded; pure).
"""

from __future__ import annotations

import re

from stakes.triage._shell_tables import credential_path

__all__ = [
    "_TEXT",
    "_TEXT_RULES",
    "_findings",
    "_gates",
    "_quiet",
    "_secmon_gate",
    "_sink",
]

_TEXT_PATTERNS = {
    "secret": (
        r"-----begin (?:rsa |ec |dsa |openssh |encrypted |pgp )?private key"
        r"|\b(?:akia|asia)[0-9a-z]{16}\b|\bghp_[0-9a-z]{36}\b|\bgithub_pat_\w{22,}"
        r"|\bglpat-[\w-]{20}|\bxox[baprs]-[\w-]{10,}|\b[sr]k_live_[0-9a-z]{16,}"
        r"|\bsk-(?:proj-|ant-)?[\w-]{32,}|\baiza[\w-]{35}\b|\bnpm_[0-9a-z]{36}\b"
    ),
    "inject": (
        r"\bignore (?:all |any )?(?:of )?(?:the |your |my )?(?:previous|prior|above|earlier|"
        r"preceding|original|system) (?:instructions?|directions?|prompts?|rules|messages?)"
        r"|\bdisregard (?:all |any )?(?:the |your )?(?:previous|prior|above|earlier|system|"
        r"original) (?:instructions?|rules|guidelines|prompts?)"
        r"|\bforget (?:all |everything |about )?(?:your |the |previous |prior )+instructions"
        r"|\b(?:new|updated|revised) (?:system )?instructions?:"
        r"|\byou are now (?:a|an|in|dan|free|no longer)\b"
        r"|<\|?(?:im_start|im_end|endoftext)\|?>|\[/?(?:system|inst)\]|</?system>|<information>"
        r"|\bdo not (?:tell|inform|alert|notify) the user|\bwithout (?:telling|informing|"
        r"notifying|alerting) the user|\b(?:override|bypass) (?:your|all|the|any) (?:safety|"
        r"security|instructions|guardrails|restrictions)"
        r"|\bbefore you (?:can )?(?:solve|complete|do|finish) the task\b"
        r"|\bthis is an? (?:urgent |important )?(?:message|instruction) from (?:the |your )?"
        r"(?:system|admin|administrator|developer|user)\b|\bdeveloper mode\b|\bjailbreak"
    ),
    "iam": (
        r"\"action\"\s*:\s*\[?\s*\"(?:\*|[\w-]+:\*)\"|\"principal\"\s*:\s*(?:\{\s*\"aws\"\s*:\s*)?"
        r"\[?\s*\"\*\"|\"notaction\"|administratoraccess|\broles/(?:owner|editor)\b"
        r"|\bcluster-admin\b|\biamfullaccess\b|\ballusers\b|\ballauthenticatedusers\b"
    ),
    "secmon": (
        r"\b(?:auditd|falco|osqueryd?|cloudtrail|guardduty|auditbeat|sysmon|wazuh|ossec|"
        r"falcon-sensor|crowdstrike|sentinelone|selinux|apparmor|audit[ _-]?log(?:ging|s)?)\b"
    ),
}
_TEXT = {name: re.compile(p) for name, p in _TEXT_PATTERNS.items()}
_TEXT_RULES = {
    "secret": ("rule:secrets.in_args", "secret in arguments"),
    "inject": ("rule:injection.instruction_in_args", "instruction in arguments"),
    "iam": ("rule:iam.wildcard_grant", "wildcard or admin grant"),
    "secmon": ("rule:evasion.disable_logging", "security tooling targeted"),
}


def _table(classes: dict[str, str]) -> bytes:
    """A `bytes.translate` table: each byte to its class letter (` ` when in no class)."""
    table = bytearray(b" " * 256)
    for chars, cls in classes.items():
        for c in chars:
            table[ord(c)] = ord(cls)
    return bytes(table)


# `[a-z0-9]` to `a`: a run of 16 is what every token pattern of `secret` holds, and a regex scan
# for it costs ~45 ns a character; on the translated text it is one substring test. UTF-8 bytes
# of other characters map to spaces, so the runs are those of the text.
_SCREEN = _table({"abcdefghijklmnopqrstuvwxyz0123456789": "a"})
_RUN16 = "a" * 16

# Every substring whose presence opens a gate: of `_gates` (`inject` without its space-or-bracket
# condition, `iam`), of `credential_path` and of `_sink`. Their absence (and no 16-character run,
# no leading `.`) means no text rule can fire.
_GATE_NEEDLES = (
    "ignore", "disregard", "instruction", "forget", "you are now", "<|", "[inst", "[/inst",
    "[system", "[/system", "im_start", "system>", "<information", "the user", "override",
    "bypass", "before you", "message from", "developer mode", "jailbreak",
    '"', "admin", "roles/", "allusers", "allauth", "fullaccess",
    "/.", "/etc/", "/run/", "/proc/", " .", "\n.", "'.", '".', "=.", ".env", "id_", "_history",
    "169.254", "kube", "environ", "secret", "credential", "tfstate", "wallet.dat",
    "metadata.google", "fd00:",
    "://", "discord",
)
# Characters of routine text, rarest first (measured on reads, listings, queries, tickets).
_BY_RARITY = "[<\"j>x)(7=9:k84356'_b,1wyf2v0\n.h-uglmcd/pinrost ae"


def _screen(needles: tuple[str, ...], rarity: str) -> re.Pattern[str]:
    """One search for any of `needles`, each anchored on its rarest character.

    `environ` becomes `v(?<=env)iron`: every alternative starts with a literal, so the engine
    skips, at C speed, every position whose character anchors nothing, and a routine text pays
    for a few positions instead of one substring scan per needle.
    """
    def rank(c: str) -> int:
        return rarity.find(c)  # -1 (rarer than any listed) for characters not listed

    groups: dict[str, list[str]] = {}
    for needle in needles:
        i = min(range(len(needle)), key=lambda k: (rank(needle[k]), k))
        before, after = needle[:i + 1], needle[i + 1:]
        behind = f"(?<={re.escape(before)})" if len(before) > 1 else ""
        groups.setdefault(needle[i], []).append(behind + re.escape(after))
    groups.setdefault(".", []).append("(?<=^\\.)")  # a leading dot: `credential_path`
    return re.compile("|".join(
        re.escape(c) + (f"(?:{'|'.join(alts)})" if any(alts) else "")
        for c, alts in sorted(groups.items(), key=lambda kv: rank(kv[0]))
    ))


_GATE_SCREEN = _screen(_GATE_NEEDLES, _BY_RARITY)


_QUIET: dict[str, bool] = {}
_QUIET_SIZE = 4096
_QUIET_MAX_LEN = 256


def _quiet(t: str) -> bool:
    """True when every text gate is closed on `t` (then no text rule fires).

    That is: `_gates(t)` is empty, `credential_path`'s gate is closed and `_sink` has no `://`
    or `discord` to look at. Memoized for short texts (routine texts repeat; the screen is
    pure), bounded like the parse caches.
    """
    quiet = _QUIET.get(t)
    if quiet is None:
        quiet = _GATE_SCREEN.search(t) is None and (
            len(t) < 16 or _RUN16 not in t.encode().translate(_SCREEN).decode()
        )
        if len(t) <= _QUIET_MAX_LEN:
            if len(_QUIET) >= _QUIET_SIZE:
                _QUIET.clear()  # cheap bound; the screen is pure, dropping entries is safe
            _QUIET[t] = quiet
    return quiet


def _gates(t: str) -> list[str]:
    """Which text rules could match `t`: cheap substring tests in front of each regex.

    Every match of a rule's regex contains one of its gate's substrings, so a closed gate means
    the regex cannot match. Substring tests are C-speed and independent of the text's length for
    short texts; the regexes (alternations) are not: gating them keeps a routine action at a few
    microseconds. Groups of tests sit behind a cheaper test that every member implies.
    """
    out = []
    if len(t) >= 16 and _RUN16 in t.encode().translate(_SCREEN).decode():  # every token has one
        out.append("secret")
    if " " in t or "<" in t or "[" in t:
        if (
            "ignore" in t or "disregard" in t or "instruction" in t or "forget" in t
            or "you are now" in t or "<|" in t or "[inst" in t or "[/inst" in t
            or "[system" in t or "[/system" in t or "im_start" in t or "system>" in t
            or "<information" in t or "the user" in t or "override" in t or "bypass" in t
            or "before you" in t or "message from" in t or "developer mode" in t
            or "jailbreak" in t
        ):
            out.append("inject")
    elif "jailbreak" in t:
        out.append("inject")
    if '"' in t or "admin" in t or "roles/" in t or "allusers" in t or "allauth" in t or (
        "fullaccess" in t
    ):
        out.append("iam")
    return out


_FINDINGS: dict[str, tuple[tuple[str, str], ...]] = {}


def _findings(text: str) -> tuple[tuple[str, str], ...]:
    """`(rule id, detail)` of the text rules that hold whatever the tool.

    A credential path, the `secret`, `inject` and `iam` patterns, a paste site. Memoized for
    short texts (a URL or a path that opens a gate recurs); their rule ids are distinct from
    each other and from `secmon`'s, so applying them together keeps first-detail-wins as the
    rules are listed.
    """
    found = _FINDINGS.get(text)
    if found is None:
        out = []
        cred = credential_path(text)
        if cred is not None:
            out.append(("rule:secrets.credential_access", f"credential path: `{cred}`"))
        for group in _gates(text):
            m = _TEXT[group].search(text)
            if m is not None:
                rule_id, what = _TEXT_RULES[group]
                out.append((rule_id, f"{what}: `{m.group(0).strip()}`"))
        if "://" in text or "discord" in text:
            sink = _sink(text)
            if sink is not None:
                out.append(("rule:exfil.paste_site", f"paste site or request bin: `{sink}`"))
        found = tuple(out)
        if len(text) <= _QUIET_MAX_LEN:
            if len(_FINDINGS) >= _QUIET_SIZE:
                _FINDINGS.clear()  # cheap bound; the function is pure, dropping entries is safe
            _FINDINGS[text] = found
    return found


def _secmon_gate(t: str) -> bool:
    """Could `_TEXT["secmon"]` match? Each of its alternatives holds one of these."""
    return (
        "audit" in t or "falco" in t or "osquery" in t or "cloudtrail" in t or "guardduty" in t
        or "sysmon" in t or "wazuh" in t or "ossec" in t or "crowdstrike" in t
        or "sentinelone" in t or "selinux" in t or "apparmor" in t
    )


_HOST = re.compile(r"[^\s/?#'\"<>]+")
_SINK_HOSTS = (
    "pastebin.com", "paste.ee", "hastebin.com", "ghostbin.co", "termbin.com", "0x0.st",
    "transfer.sh", "file.io", "temp.sh", "bashupload.com", "webhook.site", "requestbin.com",
    "requestbin.net", "pipedream.net", "ngrok.io", "ngrok-free.app", "ngrok.app", "interact.sh",
    "oast.pro", "oast.live", "oast.site", "oast.online", "oast.fun", "oast.me",
    "burpcollaborator.net", "canarytokens.com", "dnslog.cn", "ceye.io", "anonfiles.com",
    "gofile.io", "catbox.moe",
)
_SINK_PREFIXES = ("paste.", "pastebin.", "webhook.", "requestbin.")


def _sink(t: str) -> str | None:
    """A paste site, request bin or tunnel a URL in `t` points at (host-suffix tests)."""
    i = t.find("://")
    while i >= 0:
        m = _HOST.match(t, i + 3)
        if m is not None:
            host = m.group(0).rpartition("@")[2].partition(":")[0]
            if host.endswith(_SINK_HOSTS) or host.startswith(_SINK_PREFIXES):
                return host
        i = t.find("://", i + 3)
    if ("discord" in t and "/api/webhooks" in t) or "api.telegram.org/bot" in t:
        return "discord or telegram webhook"
    return None

