"""Secrets taken out of text before aod stores, shows or forwards it (docs/redaction.md).

Pure: text in, text out. Agents print API keys, CI jobs echo tokens, a pasted `.env` ends up
in a review comment; aod keeps and passes on such text (session journals, the local forge's CI
logs, the reaction ledger, messages to agents, notifications, `aoctl logs`, events). A
`Redactor` replaces every well-known secret shape (PATTERNS) and the values of the environment
variables the user names (`redact.env` in config, beside a built-in list) with a marker that
says what was there, `[redacted: github token]`, so a reader still knows what went wrong.

Redact before cutting: a secret cut in half by an excerpt no longer matches its shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import msgspec

T = TypeVar("T")

MIN_ENV_VALUE_CHARS: Final = 8
"""Shorter values of the named variables are not redacted: they would hit ordinary words."""

BUILTIN_ENV: Final = (
    "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
    "GITHUB_TOKEN", "GH_TOKEN", "GH_ENTERPRISE_TOKEN", "GITLAB_TOKEN", "LINEAR_API_KEY", "JIRA_API_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "SLACK_BOT_TOKEN", "NPM_TOKEN", "HF_TOKEN",
)  # fmt: skip
"""Variables whose values are secrets wherever they are set; `redact.env` adds to them."""


@dataclass(frozen=True)
class Pattern:
    name: str
    """What the marker says was there."""
    regex: re.Pattern[str]
    keep: int = 0
    """Groups 1..keep are kept (a label such as `password=` or `Bearer `); the rest is replaced."""


def _p(name: str, regex: str, keep: int = 0, flags: int = 0) -> Pattern:
    return Pattern(name, re.compile(regex, flags), keep)


PATTERNS: Final[tuple[Pattern, ...]] = (
    # A block first: its body lines would otherwise be left. An excerpt may have cut its end.
    _p("private key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)", flags=re.S),
    _p("url password", r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)([^/\s@]+)(?=@)", keep=1),
    _p("anthropic api key", r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    _p("openai api key", r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|\bsk-[A-Za-z0-9]{20,}"),
    _p("github token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"),
    _p("gitlab token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
    _p("slack token", r"\bxox[abposre]-[A-Za-z0-9-]{10,}"),
    _p("slack webhook", r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]+"),
    _p("aws access key id", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b"),
    _p("google api key", r"\bAIza[0-9A-Za-z_-]{35}"),
    _p("stripe key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    _p("npm token", r"\bnpm_[A-Za-z0-9]{36}"),
    _p("hugging face token", r"\bhf_[A-Za-z0-9]{30,}"),
    _p("json web token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    _p("credential", r"(\b(?:[Bb]earer|BEARER)\s+)[A-Za-z0-9._~+/-]{8,}=*", keep=1),
    _p("credential", r"(\b[Aa]uthorization\s*[:=]\s*(?:[A-Za-z]+\s+)?)(?!\[redacted)[^\s\"',;]{8,}", keep=1),
    # `DB_PASSWORD=...`, `api_key: ...`, `"client_secret": "..."`: the name must end in the word,
    # so `max_tokens: 4096` and `test_token_refresh PASSED` are left alone.
    _p(
        "secret value",
        r"""(\b[A-Za-z0-9_.-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?)["']?\s*[:=]\s*)"""
        r"""(?!\[redacted)("[^"\n]{4,}"|'[^'\n]{4,}'|[^\s"',;()\[\]{}]{4,})""",
        keep=1,
        flags=re.I,
    ),
)


def marker(name: str) -> str:
    return f"[redacted: {name}]"


@dataclass(frozen=True)
class Redactor:
    literals: tuple[tuple[str, str], ...] = ()
    """(value, name): exact values to take out (those of named environment variables)."""
    extra: tuple[re.Pattern[str], ...] = ()
    """The user's own patterns (`redact.patterns`); a whole match is replaced."""
    _builtin: tuple[Pattern, ...] = field(default=PATTERNS, repr=False)

    def text(self, text: str) -> str:
        if not text:
            return text
        # Longest first: a value that contains another is taken out whole.
        for value, name in self.literals:
            if value in text:
                text = text.replace(value, marker(name))
        for pattern in self._builtin:
            text = pattern.regex.sub(lambda m, p=pattern: _replace(m, p), text)
        for regex in self.extra:
            text = regex.sub(marker("pattern from config"), text)
        return text

    def bytes(self, data: bytes) -> bytes:
        """The same for bytes of unknown encoding: undecodable bytes go through unchanged."""
        return self.text(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")

    def value(self, value: T) -> T:
        """Every string inside dicts, lists and tuples (keys included) redacted; the rest as is."""
        return _walk(value, self.text)

    def struct(self, record: T) -> T:
        """A msgspec Struct with every string field, however deep, redacted."""
        plain = msgspec.to_builtins(record)
        cleaned = self.value(plain)
        if cleaned == plain:
            return record
        return msgspec.convert(cleaned, type(record))


def _replace(match: re.Match[str], pattern: Pattern) -> str:
    kept = "".join(match.group(i) or "" for i in range(1, pattern.keep + 1))
    return kept + marker(pattern.name)


def _walk(value: Any, redact: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {(_walk(k, redact) if isinstance(k, str) else k): _walk(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, redact) for v in value]
    if isinstance(value, tuple):
        return tuple(_walk(v, redact) for v in value)
    return value


IDENTIFIER_KEYS: Final = frozenset({
    "time", "kind", "key", "action", "fingerprint", "subject", "marker", "seq", "from", "to",
    "frm", "state", "source", "ref", "wip_ref", "id", "session", "project",
})
"""Journal and event fields that name things (compared with other records, e.g. an intent's
fingerprint after a crash): never rewritten, or exactly-once matching would break."""


def fields(redactor: Redactor, entry: Mapping[str, Any]) -> dict[str, Any]:
    """A journal entry or an event's data with every value redacted but the identifiers."""
    return {k: v if k in IDENTIFIER_KEYS else redactor.value(v) for k, v in entry.items()}


DEFAULT: Final = Redactor()
"""The built-in patterns alone (tests, scripts, and aod before its config is read)."""


def build(
    env_names: Iterable[str], patterns: Iterable[str], environ: Mapping[str, str],
    secrets: Mapping[str, str] | None = None,
) -> Redactor:
    """The redactor for a config: the built-in variables and `env_names` looked up in `environ`
    (values shorter than MIN_ENV_VALUE_CHARS are skipped), the config's own `secrets` (marker →
    value: `gitlab.token`), and `patterns` compiled (the config has checked that they compile)."""
    literals = {value: f"${{{name}}}" for name, value in (secrets or {}).items() if len(value) >= MIN_ENV_VALUE_CHARS}
    for name in (*BUILTIN_ENV, *env_names):
        value = environ.get(name, "")
        if len(value) >= MIN_ENV_VALUE_CHARS:
            literals[value] = f"${name}"
    ordered = tuple(sorted(literals.items(), key=lambda item: -len(item[0])))
    return Redactor(literals=ordered, extra=tuple(re.compile(p) for p in patterns))
