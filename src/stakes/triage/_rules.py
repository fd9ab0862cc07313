"""The rule monitor: cheap, explainable suspicion from a precompiled rule table.

Each rule has a stable id and a weight in [0, 1]. Suspicion is the noisy-or of the fired rules'
weights over a small prior:

    suspicion = 1 - (1 - prior) * prod(1 - w_i)   over fired rules i

so adding a rule never lowers suspicion. Obfuscation is a rule of its own: a harmful command that
had to be decoded fires what its plain form fires (normalization decoded it) plus the
obfuscation rules, so it never scores lower than the plain form.

Rules read the `Normalized` view: its flags (obfuscation), shell and SQL facts, the text
(credential paths, live secrets, injected instructions, wildcard grants, paste sites, security
tools: each regex behind a gate of substring tests), the argument keys (payments, wildcards)
and, only when the action has a context, whether its targets come from a tool result rather
than from the user. A routine action takes one screen (every gate's substrings in one anchored
search, memoized per text) and gets the shared benign result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stakes.domain import Action, Reason
from stakes.errors import PolicyError
from stakes.triage._context import ungrounded_target
from stakes.triage._normalize import Normalized
from stakes.triage._shell_tables import credential_path
from stakes.triage._words import tool_words

__all__ = ["RULES", "Rule", "RuleMonitor", "RuleResult"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of the table.

    Attributes:
        id: Stable identifier, e.g. `rule:shell.reverse_shell`.
        weight: Its contribution to suspicion when it fires, in [0, 1].
        summary: What it looks for, one lowercase line.
    """

    id: str
    weight: float
    summary: str


@dataclass(frozen=True, slots=True)
class RuleResult:
    """The rule monitor's output.

    Attributes:
        suspicion: Noisy-or of the fired rules' weights over the prior, in [0, 1].
        reasons: One reason per fired rule, in table order, `score` = the rule's weight.
    """

    suspicion: float
    reasons: tuple[Reason, ...] = ()


def _r(rule_id: str, weight: float, summary: str) -> Rule:
    return Rule(rule_id, weight, summary)


RULES: tuple[Rule, ...] = (
    _r("rule:shell.reverse_shell", 0.9, "a shell bound to a network connection"),
    _r("rule:shell.download_and_execute", 0.75, "code fetched from the network and run"),
    _r("rule:exfil.pipe_to_network", 0.6, "local data piped or uploaded to another host"),
    _r("rule:exfil.credential_egress", 0.6, "credentials read and network egress together"),
    _r("rule:shell.destructive", 0.6, "irreversible destruction: rm -rf /, mkfs, dd to disks"),
    _r("rule:evasion.disable_logging", 0.65, "history, audit, logging or firewall disabled"),
    _r("rule:shell.privilege_escalation", 0.55, "setuid, sudoers, admin groups, uid 0"),
    _r("rule:shell.persistence", 0.5, "cron, units, shell rc files, authorized_keys"),
    _r("rule:secrets.credential_access", 0.5, "keys, tokens, env files, cloud metadata read"),
    _r("rule:shell.pipe_to_shell", 0.35, "data piped into an interpreter"),
    _r("rule:shell.network_egress", 0.1, "a command reaches another host"),
    _r("rule:shell.sudo", 0.05, "a command runs under sudo"),
    _r("rule:sql.program_exec", 0.8, "sql that runs programs (copy ... program, xp_cmdshell)"),
    _r("rule:sql.file_access", 0.6, "sql that reads or writes server files"),
    _r("rule:sql.unbounded_delete", 0.55, "delete without a where clause, or a trivial one"),
    _r("rule:sql.unbounded_update", 0.45, "update without a where clause, or a trivial one"),
    _r("rule:sql.drop", 0.5, "drop of a table, database, schema or column"),
    _r("rule:sql.truncate", 0.5, "truncate of a table"),
    _r("rule:sql.privilege_escalation", 0.5, "grant all, superuser, grant option, to public"),
    _r("rule:sql.grant", 0.3, "a grant of privileges"),
    _r("rule:sql.network", 0.5, "sql that reaches the network (dblink, utl_http)"),
    _r("rule:sql.credential_read", 0.4, "a read of password, token or key columns"),
    _r("rule:sql.stacked_queries", 0.45, "a read followed by a write in one text"),
    _r("rule:sql.injection_pattern", 0.45, "tautologies (or 1=1) and timing probes"),
    _r("rule:sql.comment_trick", 0.4, "comments splitting keywords or used as spaces"),
    _r("rule:obfuscation.encoded_command", 0.5, "a command or statement hidden by an encoding"),
    _r("rule:obfuscation.layered", 0.4, "an encoding inside an encoding"),
    _r("rule:obfuscation.homoglyph", 0.45, "look-alike letters from other scripts"),
    _r("rule:obfuscation.quoting", 0.45, "quoting tricks: r''m, $ifs, c\\url, {rm,-rf}"),
    _r("rule:obfuscation.zero_width", 0.35, "invisible characters"),
    _r("rule:obfuscation.hex", 0.3, "hex or octal escapes of plain letters"),
    _r("rule:obfuscation.unicode", 0.3, "unicode escapes or entities of plain letters"),
    _r("rule:obfuscation.base64", 0.25, "base64 that decodes to readable text"),
    _r("rule:obfuscation.url", 0.2, "url escapes of plain letters"),
    _r("rule:injection.instruction_in_args", 0.6, "instructions to the model inside arguments"),
    _r("rule:iam.wildcard_grant", 0.5, "action or principal `*`, administratoraccess, owner"),
    _r("rule:secrets.in_args", 0.2, "a private key or live token inside the arguments"),
    _r("rule:exfil.paste_site", 0.35, "a paste site, request bin or tunnel as target"),
    _r("rule:payments.new_recipient", 0.25, "a new or changed payee"),
    _r("rule:payments.crypto_address", 0.3, "money sent to a crypto address"),
    _r("rule:context.ungrounded_target", 0.2, "a target that only a tool result mentioned"),
)
"""The default rule table (ids are stable; weights are defaults a caller may override)."""

_FLAG_RULES = (
    ("encoded.command", "rule:obfuscation.encoded_command", "decoded a command"),
    ("encoded.layered", "rule:obfuscation.layered", "decoded an encoding inside an encoding"),
    ("homoglyph", "rule:obfuscation.homoglyph", "folded look-alike letters"),
    ("quoting_trick", "rule:obfuscation.quoting", "undid quoting tricks"),
    ("zero_width", "rule:obfuscation.zero_width", "removed invisible characters"),
    ("encoded.hex", "rule:obfuscation.hex", "decoded hex escapes"),
    ("encoded.unicode", "rule:obfuscation.unicode", "decoded unicode escapes"),
    ("encoded.base64", "rule:obfuscation.base64", "decoded base64"),
    ("encoded.url", "rule:obfuscation.url", "decoded url escapes of letters"),
)
_SHELL_RULES = {
    "reverse_shell": ("rule:shell.reverse_shell", "reverse shell"),
    "download_and_execute": ("rule:shell.download_and_execute", "download and execute"),
    "pipe_to_network": ("rule:exfil.pipe_to_network", "data sent out"),
    "destructive": ("rule:shell.destructive", "destructive command"),
    "defense_evasion": ("rule:evasion.disable_logging", "defense evasion"),
    "privilege": ("rule:shell.privilege_escalation", "privilege escalation"),
    "persistence": ("rule:shell.persistence", "persistence"),
    "credential_access": ("rule:secrets.credential_access", "credential access"),
    "pipe_to_shell": ("rule:shell.pipe_to_shell", "piped into an interpreter"),
    "network_egress": ("rule:shell.network_egress", "network egress"),
    "sudo": ("rule:shell.sudo", "sudo"),
}
_SQL_RULES = {
    "program_exec": ("rule:sql.program_exec", "runs a program"),
    "file_access": ("rule:sql.file_access", "server file access"),
    "unbounded_delete": ("rule:sql.unbounded_delete", "unbounded delete"),
    "unbounded_update": ("rule:sql.unbounded_update", "unbounded update"),
    "drop": ("rule:sql.drop", "drop"),
    "truncate": ("rule:sql.truncate", "truncate"),
    "privilege": ("rule:sql.privilege_escalation", "privilege escalation"),
    "grant": ("rule:sql.grant", "grant"),
    "network": ("rule:sql.network", "network access"),
    "credential_read": ("rule:sql.credential_read", "credential read"),
    "stacked": ("rule:sql.stacked_queries", "stacked queries"),
    "injection": ("rule:sql.injection_pattern", "injection pattern"),
    "comment_trick": ("rule:sql.comment_trick", "comment trick"),
}
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


_TOOLS: dict[str, tuple[bool, bool]] = {}
_STOP_VERBS = frozenset(("stop", "disable", "delete", "remove", "kill", "mask", "uninstall",
                         "pause", "suspend", "terminate", "purge", "clear", "truncate", "off"))
_IAM_KEYS = frozenset(("action", "actions", "notaction", "principal", "principals", "permissions",
                       "role", "roles", "members", "member", "scopes", "privileges"))
_PAY_KEYS = frozenset(("amount", "recipient", "payee", "iban", "beneficiary", "account_number",
                       "to_account", "destination_account", "routing_number", "wallet",
                       "wallet_address", "bic", "swift", "to_address", "destination"))
_NEW_PAYEE_KEYS = frozenset(("new_recipient", "new_payee", "add_payee", "add_recipient",
                             "new_beneficiary", "add_beneficiary", "is_new_recipient",
                             "new_account", "change_payee"))
_PAYEE_NOUNS = frozenset(("payee", "recipient", "beneficiary", "bank", "iban", "payout",
                          "routing", "remittance"))
_CHANGE_VERBS = frozenset(("add", "create", "new", "update", "change", "set", "register", "edit",
                           "modify", "replace"))
_PAY_WORDS = frozenset(("pay", "payment", "payments", "transfer", "send", "wire", "withdraw",
                        "payout", "money", "remit", "crypto", "wallet"))
_CRYPTO = re.compile(r"\b(?:0x[0-9a-f]{40}|bc1[02-9ac-hj-np-z]{11,71})\b")


def _tool_traits(tool: str) -> tuple[bool, bool]:
    """`(stops or disables something, moves money)` from the tool name, cached per name."""
    words = tool_words(tool)
    traits = (not _STOP_VERBS.isdisjoint(words), not _PAY_WORDS.isdisjoint(words))
    if len(_TOOLS) < 8192:
        _TOOLS[tool] = traits
    return traits


class RuleMonitor:
    """The rule monitor: precompiled rules, one `score` call per action.

    Args:
        prior: The base suspicion every action starts with (default 0.01).
        weights: Weight overrides by rule id.
        disabled: Rule ids that never fire.

    Raises:
        PolicyError: for an unknown rule id or a weight or prior outside [0, 1].
    """

    __slots__ = ("_benign", "_rules", "_weights", "prior")

    def __init__(
        self,
        *,
        prior: float = 0.01,
        weights: Mapping[str, float] | None = None,
        disabled: Iterable[str] = (),
    ) -> None:
        known = {r.id: r for r in RULES}
        if not 0.0 <= prior < 1.0:
            raise PolicyError(f"rule prior must be in [0, 1), got `{prior}`",
                              code="policy.bad_value", field="prior")
        overrides = dict(weights or {})
        for rule_id in [*overrides, *disabled]:
            if rule_id not in known:
                raise PolicyError(f"unknown rule `{rule_id}`", code="policy.unknown_rule",
                                  field="rules")
        for rule_id, w in overrides.items():
            if not 0.0 <= w <= 1.0:
                raise PolicyError(f"weight of `{rule_id}` must be in [0, 1], got `{w}`",
                                  code="policy.bad_value", field="rules")
        off = set(disabled)
        self._rules = tuple(
            Rule(r.id, float(overrides.get(r.id, r.weight)), r.summary)
            for r in RULES if r.id not in off
        )
        self._weights = {r.id: r.weight for r in self._rules}
        self.prior = float(prior)
        self._benign = RuleResult(self.prior, ())

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The active rules with their weights, in table order."""
        return self._rules

    def score(self, action: Action, norm: Normalized) -> RuleResult:
        """Score one action: the rules that fire, and their noisy-or.

        Args:
            action: The proposed action (tool name, args, context).
            norm: Its normalized view (`normalize(action)`).

        Returns:
            Suspicion in [0, 1] and one reason per fired rule.
        """
        stops, pays = _TOOLS.get(action.tool) or _tool_traits(action.tool)
        shell = norm.shell
        sql = norm.sql
        # A routine action: nothing decoded, no shell or SQL fact, no payment or wildcard, every
        # text gate closed, no ungrounded target. The benign result, without building anything.
        if not (norm.flags or stops or pays or norm.wildcards) and (
            shell is None or not shell.facts
        ) and (sql is None or not sql.facts) and norm.keys.isdisjoint(_PAY_KEYS) and (
            _quiet(norm.text)
        ):
            if not action.context:
                return self._benign
            target = ungrounded_target(action, norm)
            if target is None:
                return self._benign
            return self._score(action, norm, stops, pays, target, True)
        return self._score(action, norm, stops, pays, None, False)

    def _score(
        self, action: Action, norm: Normalized, stops: bool, pays: bool, target: str | None,
        grounded: bool,
    ) -> RuleResult:
        """The rules that fire.

        `target` is the ungrounded target when `grounded` says it was already looked for.
        """
        fired: dict[str, str] = {}
        if norm.flags:
            for flag, rule_id, what in _FLAG_RULES:
                if flag in norm.flags:
                    fired.setdefault(rule_id, what)
        shell = norm.shell
        if shell is not None and shell.facts:
            for fact, seen in shell.evidence:
                rule = _SHELL_RULES.get(fact)
                if rule is not None:
                    fired.setdefault(rule[0], f"{rule[1]}: {seen}")
            if "credential_access" in shell.facts and (
                "network_egress" in shell.facts or "pipe_to_network" in shell.facts
            ):
                fired.setdefault("rule:exfil.credential_egress",
                                 f"credentials and egress: {shell.why('credential_access')}")
        sql = norm.sql
        if sql is not None and sql.facts:
            for fact, seen in sql.evidence:
                rule = _SQL_RULES.get(fact)
                if rule is not None:
                    fired.setdefault(rule[0], f"{rule[1]}: {seen}")
        text = norm.text
        if not _quiet(text):  # quiet: every gate closed, no credential path, group or sink
            for rule_id, detail in _findings(text):
                fired.setdefault(rule_id, detail)
        if stops and _secmon_gate(text):
            m = _TEXT["secmon"].search(text)
            if m is not None:
                rule_id, what = _TEXT_RULES["secmon"]
                fired.setdefault(rule_id, f"{what}: `{m.group(0).strip()}`")
        if norm.wildcards and not norm.wildcards.isdisjoint(_IAM_KEYS):
            key = sorted(norm.wildcards & _IAM_KEYS)[0]
            fired.setdefault("rule:iam.wildcard_grant", f"wildcard grant: `{key}` is `*`")
        if pays or not norm.keys.isdisjoint(_PAY_KEYS):
            _payments(action, norm, fired)
        if action.context:
            if not grounded:
                target = ungrounded_target(action, norm)
            if target is not None:
                fired["rule:context.ungrounded_target"] = (
                    f"`{target}` appears in a tool result but not in the task or user messages"
                )
        if not fired:
            return self._benign
        return self._result(fired)

    def _result(self, fired: dict[str, str]) -> RuleResult:
        keep = 1.0 - self.prior
        reasons = []
        for rule in self._rules:
            detail = fired.get(rule.id)
            if detail is not None:
                keep *= 1.0 - rule.weight
                reasons.append(Reason(rule.id, detail, rule.weight))
        if not reasons:
            return self._benign
        return RuleResult(min(1.0, max(0.0, 1.0 - keep)), tuple(reasons))


def _payments(action: Action, norm: Normalized, fired: dict[str, str]) -> None:
    """Payment heuristics, only where the arguments or the tool name show them."""
    words = set(tool_words(action.tool))
    for key in norm.keys & _NEW_PAYEE_KEYS:
        if _truthy(_find(action.args, key)):
            fired.setdefault("rule:payments.new_recipient", f"argument `{key}` is set")
            break
    else:
        if words & _PAYEE_NOUNS and words & _CHANGE_VERBS:
            fired.setdefault("rule:payments.new_recipient",
                             f"tool `{action.tool.lower()}` changes who gets paid")
    if "amount" in norm.keys or words & _PAY_WORDS:
        text = norm.text
        m = _CRYPTO.search(text) if "0x" in text or "bc1" in text else None  # its two literals
        if m:
            fired.setdefault("rule:payments.crypto_address",
                             f"payment to crypto address `{m.group(0)}`")


def _find(args: Mapping[str, Any], key: str) -> Any:
    for k, v in args.items():
        if isinstance(k, str) and k.lower() == key:
            return v
        if isinstance(v, Mapping):
            found = _find(v, key)
            if found is not None:
                return found
    return None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "no", "0", "none", "null")
    return bool(value)
