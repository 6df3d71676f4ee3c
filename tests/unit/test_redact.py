"""aod/redact.py: which shapes are taken out, what is left alone, and how config adds more."""

from __future__ import annotations

import msgspec
import pytest

from aod.redact import BUILTIN_ENV, DEFAULT, IDENTIFIER_KEYS, MIN_ENV_VALUE_CHARS, PATTERNS, build, fields

A40 = "a1B2c3D4e5F6g7H8i9J0" * 2

REDACTED = [
    ("anthropic api key", f"ANTHROPIC_API_KEY is sk-ant-api03-{A40}-xyz_AA ok", "ANTHROPIC_API_KEY is [redacted: anthropic api key] ok"),
    ("openai project key", f"key=sk-proj-{A40}", "key=[redacted: openai api key]"),
    ("openai legacy key", f"using sk-{A40[:32]} now", "using [redacted: openai api key] now"),
    ("github classic token", f"ghp_{A40[:36]}", "[redacted: github token]"),
    ("github app token", f"token ghs_{A40[:36]}.", "token [redacted: github token]."),
    ("github oauth token", f"gho_{A40[:36]}", "[redacted: github token]"),
    ("github fine-grained", f"github_pat_11ABCDEFG0_{A40}", "[redacted: github token]"),
    ("gitlab token", f"glpat-{A40[:20]}", "[redacted: gitlab token]"),
    ("slack bot token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp", "[redacted: slack token]"),
    ("slack webhook", "POST https://hooks.slack.com/services/T000/B000/XXXXXXXX failed", "POST [redacted: slack webhook] failed"),
    ("aws access key id", "aws_access_key_id AKIAIOSFODNN7EXAMPLE", "aws_access_key_id [redacted: aws access key id]"),
    ("aws secret assignment", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = [redacted: secret value]"),
    ("google api key", f"AIza{A40[:35]}", "[redacted: google api key]"),
    ("stripe key", f"sk_live_{A40[:24]}", "[redacted: stripe key]"),
    ("npm token", f"//registry.npmjs.org/:_authToken=npm_{A40[:36]}", "//registry.npmjs.org/:_authToken=[redacted: npm token]"),
    ("hugging face token", f"hf_{A40[:34]}", "[redacted: hugging face token]"),
    ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "[redacted: json web token]"),
    ("bearer", "curl -H 'Authorization: Bearer abc.def-ghi_jkl~mno' x", "curl -H 'Authorization: Bearer [redacted: credential]' x"),
    ("basic auth", "Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic [redacted: credential]"),
    ("password assignment", "DB_PASSWORD=hunter2hunter2 make test", "DB_PASSWORD=[redacted: secret value] make test"),
    ("yaml secret", "client_secret: 'so secret value'", "client_secret: [redacted: secret value]"),
    ("json token", '{"api_key": "abcd-1234-efgh"}', '{"api_key": [redacted: secret value]}'),
    ("url password", "git clone https://bob:pa55word@example.com/repo.git", "git clone https://bob:[redacted: url password]@example.com/repo.git"),
    (
        "private key block",
        "before\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAAAAAA\n-----END OPENSSH PRIVATE KEY-----\nafter",
        "before\n[redacted: private key]\nafter",
    ),
    ("private key cut short", "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nMIIEpAIBAAKC", "[redacted: private key]"),
]

KEPT = [
    "max_tokens: 4096",
    "input_tokens=1234 output_tokens=99",
    "test_token_refresh PASSED",
    "FAILED tests/test_auth.py::test_password_reset - assert 1 == 2",
    "def login(password: str) -> bool:",
    "commit 0123456789abcdef0123456789abcdef01234567",
    "branch ao/demo-12, session demo-12, [ao:1a2b3c4d]",
    "the task-runner finished; disk-usage 40%",
    "sk-short is not a key",
    "Bearer token expected",
    "see https://github.com/org/repo/pull/7",
    "password:",
]


@pytest.mark.parametrize("name, text, expected", REDACTED, ids=[r[0] for r in REDACTED])
def test_a_well_known_secret_shape_is_redacted(name: str, text: str, expected: str) -> None:
    assert DEFAULT.text(text) == expected
    assert DEFAULT.text(expected) == expected  # redacting again changes nothing


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert DEFAULT.text(text) == text


def test_every_pattern_is_named_and_documented() -> None:
    from pathlib import Path

    docs = (Path(__file__).parents[2] / "docs" / "redaction.md").read_text()
    for pattern in PATTERNS:
        assert f"`{pattern.name}`" in docs, f"{pattern.name} is not in docs/redaction.md"
    for name in BUILTIN_ENV:
        assert f"`{name}`" in docs, f"{name} is not in docs/redaction.md"


def test_values_of_named_environment_variables_are_redacted_wherever_they_appear() -> None:
    redactor = build(["MY_TOKEN"], [], {"MY_TOKEN": "opensesame-42", "GH_TOKEN": "gh-value-1234", "OTHER": "notasecret1"})
    text = "x=opensesame-42;yopensesame-42z gh-value-1234 notasecret1"
    assert redactor.text(text) == "x=[redacted: $MY_TOKEN];y[redacted: $MY_TOKEN]z [redacted: $GH_TOKEN] notasecret1"


def test_short_values_are_not_taken_for_secrets() -> None:
    short = "x" * (MIN_ENV_VALUE_CHARS - 1)
    redactor = build(["MY_TOKEN"], [], {"MY_TOKEN": short})
    assert redactor.text(f"a {short} b") == f"a {short} b"


def test_a_value_that_contains_another_is_taken_out_whole() -> None:
    redactor = build(["A", "B"], [], {"A": "secretvalue", "B": "secretvalue-and-more"})
    assert redactor.text("secretvalue-and-more") == "[redacted: $B]"


def test_user_patterns_are_applied() -> None:
    redactor = build([], [r"corp-[0-9]{6}"], {})
    assert redactor.text("ticket corp-123456 done") == "ticket [redacted: pattern from config] done"


def test_bytes_values_and_structs() -> None:
    token = f"ghp_{A40[:36]}"
    assert DEFAULT.bytes(b"\xff\xfe " + token.encode() + b" \x00") == b"\xff\xfe [redacted: github token] \x00"
    assert DEFAULT.value({"a": [token, 3, None], token: (token,)}) == {
        "a": ["[redacted: github token]", 3, None],
        "[redacted: github token]": ("[redacted: github token]",),
    }

    class Thing(msgspec.Struct, frozen=True):
        name: str
        notes: list[str]
        count: int = 0

    thing = Thing(name="x", notes=[f"token {token}"], count=2)
    assert DEFAULT.struct(thing) == Thing(name="x", notes=["token [redacted: github token]"], count=2)
    plain = Thing(name="x", notes=["nothing here"])
    assert DEFAULT.struct(plain) is plain


def test_identifier_fields_are_never_rewritten() -> None:
    fingerprint = "demo-1:ci-failed:abc:deploy_token:send-to-agent"  # looks like `token:value`
    assert DEFAULT.text(fingerprint) != fingerprint  # the hazard this guards against
    entry = {"kind": "reaction.intent", "fingerprint": fingerprint, "subject": fingerprint, "outcome": fingerprint}
    cleaned = fields(DEFAULT, entry)
    assert cleaned["fingerprint"] == cleaned["subject"] == fingerprint
    assert cleaned["outcome"] != fingerprint
    assert {"fingerprint", "subject", "marker", "time", "kind"} <= IDENTIFIER_KEYS
