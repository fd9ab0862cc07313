"""Secrets in keys and in strings are replaced before anything is written, and listed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stakes.domain import canonical_json
from stakes.errors import PolicyError
from stakes.ledger import DEFAULT_KEYS, DEFAULT_PATTERNS, REDACTED, Redactor

R = Redactor()


@pytest.mark.parametrize(
    "key",
    ["password", "DB_PASSWORD", "passwd", "api_key", "OPENAI_API_KEY", "x-api-key", "apiKey",
     "Authorization", "access_token", "refreshToken", "client_secret", "private_key",
     "Cookie", "aws_credentials", "passphrase"],
)
def test_secret_keys_are_redacted_whatever_the_value(key: str) -> None:
    value = {"args": {key: "hunter2", "path": "/tmp"}, "n": [{key: {"nested": 1}}]}
    out, paths = R.redact(value)
    assert out == {"args": {key: REDACTED, "path": "/tmp"}, "n": [{key: REDACTED}]}
    assert paths == [f"args.{key}", f"n[0].{key}"]


def test_ordinary_keys_and_null_secrets_are_kept() -> None:
    value = {"cmd": "ls", "path": "/srv", "password": None, "count": 3, "ok": True, "x": 1.5}
    out, paths = R.redact(value)
    assert out == value
    assert paths == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aws s3 ls --key AKIAIOSFODNN7EXAMPLE now",
         "aws s3 ls --key [REDACTED:aws-access-key] now"),
        ("curl -H 'Authorization: Bearer abcdefghijklmnop1234567890' https://x",
         "curl -H 'Authorization: Bearer [REDACTED:bearer-token]' https://x"),
        ("git clone https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r",
         "git clone https://[REDACTED:github-token]@github.com/o/r"),
        ("export OPENAI=sk-proj-abcdefghijklmnopqrstuvwx",
         "export OPENAI=[REDACTED:api-key]"),
        ("psql postgres://app:hunter2@db.internal:5432/payments",
         "psql postgres://app:[REDACTED:url-password]@db.internal:5432/payments"),
        ("Server=db;User Id=sa;Password=Pa55w0rd!;Encrypt=true",
         "Server=db;User Id=sa;Password=[REDACTED:secret-param];Encrypt=true"),
        ("https://api.example.com/v1?api_key=abc123&q=1",
         "https://api.example.com/v1?api_key=[REDACTED:secret-param]&q=1"),
        ("key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK==\n-----END RSA PRIVATE KEY-----\n",
         "key:\n[REDACTED:private-key]\n"),
        ("token xoxb-1234567890-abcdefghij in slack", "token [REDACTED:slack-token] in slack"),
    ],
)
def test_secret_patterns_in_strings(text: str, expected: str) -> None:
    out, paths = R.redact({"action": {"args": {"cmd": text}}})
    assert out == {"action": {"args": {"cmd": expected}}}
    assert paths == ["action.args.cmd"]


def test_paths_cover_lists_context_and_reasons() -> None:
    value = {
        "action": {"context": [{"role": "tool", "content": "found AKIAIOSFODNN7EXAMPLE"}],
                   "args": {"headers": {"Authorization": "Basic Zm9vOmJhcg=="}}},
        "assessment": {"reasons": [{"id": "r", "detail": "pipes `sk-live0123456789abcdefgh`"}]},
    }
    out, paths = R.redact(value)
    assert paths == ["action.context[0].content", "action.args.headers.Authorization",
                     "assessment.reasons[0].detail"]
    assert "AKIA" not in canonical_json(out)
    assert "sk-live" not in canonical_json(out)


def test_input_is_never_mutated() -> None:
    value: dict[str, Any] = {"a": {"password": "x", "l": ["AKIAIOSFODNN7EXAMPLE", (1, 2)]}}
    before = copy.deepcopy(value)
    out, _ = R.redact(value)
    assert value == before
    assert out["a"] is not value["a"]
    assert out["a"]["l"] == ["[REDACTED:aws-access-key]", [1, 2]]


def test_clean_values_come_back_as_is_with_their_json() -> None:
    value = {"cmd": "ls -la", "n": 1}
    out, paths, text = R.redact_json(value)
    assert out is value
    assert paths == []
    assert text == canonical_json(value)
    out, paths, text = R.redact_json({"token": "t0k3n"})
    assert out == {"token": REDACTED}
    assert text == '{"token":"[REDACTED]"}'


def test_unicode_case_folding_cannot_hide_a_key() -> None:
    # re.IGNORECASE matches U+017F (long s) to "s": the fast screen must not miss it
    out, paths = R.redact({"pa\u017fsword": "x", "secret\u0131d": "y"})
    assert paths == ["pa\u017fsword", "secret\u0131d"]
    assert set(out.values()) == {REDACTED}


def test_non_json_values_are_stringified_then_scanned() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "dsn postgres://u:pw@h/db"

    out, paths = R.redact({"x": Opaque(), 3: "three"})
    assert out == {"x": "dsn postgres://u:[REDACTED:url-password]@h/db", "3": "three"}
    assert paths == ["x"]


def test_custom_keys_and_named_patterns() -> None:
    redactor = Redactor(keys=(*DEFAULT_KEYS, "pin"),
                        patterns=(*DEFAULT_PATTERNS, r"(?#internal-token)itk_[a-z0-9]{8}",
                                  r"(?i)ssn:\s*\d{3}-\d{2}-\d{4}"))
    out, paths = redactor.redact({"pin": 1234, "note": "ITK itk_abcdef12 and SSN: 123-45-6789"})
    assert out == {"pin": REDACTED,
                   "note": "ITK [REDACTED:internal-token] and [REDACTED:pattern]"}
    assert paths == ["pin", "note"]
    assert Redactor.DEFAULT_KEYS == DEFAULT_KEYS


def test_a_pattern_without_needles_still_redacts() -> None:
    redactor = Redactor(keys=(), patterns=[r"(?#digits)\d{6,}"])  # no literal: no fast screen
    assert redactor.redact({"a": "code 1234567"}) == ({"a": "code [REDACTED:digits]"}, ["a"])
    assert Redactor(keys=(), patterns=()).redact({"password": "x"}) == ({"password": "x"}, [])


@pytest.mark.parametrize("pattern", ["(unclosed", "a*", "(?#empty)x?"])
def test_bad_patterns_are_policy_errors(pattern: str) -> None:
    with pytest.raises(PolicyError) as caught:
        Redactor(patterns=[pattern])
    assert caught.value.code == "policy.bad_redaction"


def test_repr_names_the_patterns() -> None:
    assert "aws-access-key" in repr(R)
    assert "hunter2" not in repr(R)


TRICKY: list[Any] = [
    {"Headers": {"X-Api-Key": "k", "AUTHORIZATION": "BEARER abcdefghijklmnopqrstuvwx"}},
    {"cmd": 'echo "PaSsWoRd: \\"s3cret\\"" | tee\tout', "env": ["SECRET_ACCESS=1"]},
    {"msg": "line1\nAuthorization: Bearer abcdefghijklmnop1234567890\nline3"},
    {"q": "SELECT * FROM t WHERE note = 'mysql://root:toor@localhost/db'"},
    {"k\u00e9y": "caf\u00e9 AKIAIOSFODNN7EXAMPLE \u2028 end"},
    [{"session": {"tokens": 12}}, "eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4fw"],
    {"nothing": "just an ordinary sentence about the staging database backup"},
]


@pytest.mark.parametrize("value", TRICKY)
def test_the_fast_screen_never_changes_the_result(value: Any) -> None:
    unscreened = Redactor(patterns=(*DEFAULT_PATTERNS, r"(?#never)\d{99}"))  # no needles
    assert R.redact(value) == unscreened.redact(value)
