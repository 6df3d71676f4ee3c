"""The daemon's own settings: `log`, `api` (the socket's limits and timeouts) and `redact`
(secrets kept out of what aod stores, shows and forwards). `poll_interval` is a top-level key of
`Config` (schema.py).

One job: these sections' models. May import: pydantic and this package's `fields`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from aod.config.fields import (
    HOUR,
    MINUTE,
    Duration,
    Integer,
    KiB,
    MiB,
    PositiveDuration,
    Section,
    at_most,
    valid_regex,
)


class LogConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class ApiConfig(Section):
    max_message_bytes: Annotated[Integer, Field(ge=KiB, le=64 * MiB)] = MiB
    # A client that stops reading would otherwise hold its events (and our memory) forever.
    write_timeout: Annotated[PositiveDuration, at_most(HOUR)] = 10.0
    subscriber_queue: Annotated[Integer, Field(ge=1, le=1_000_000)] = 1000
    # Kept under systemd's default stop timeout (90 s) so aod exits on its own, not by SIGKILL.
    shutdown_grace: Annotated[Duration, at_most(MINUTE)] = 5.0
    max_connections: Annotated[Integer, Field(ge=1, le=65_536)] = 256
    # Slots held by clients that send nothing must come back (slowloris): see docs/protocol.md.
    first_frame_timeout: Annotated[PositiveDuration, at_most(HOUR)] = 10.0
    idle_timeout: Annotated[PositiveDuration, at_most(24 * HOUR)] = 300.0
    max_subscriptions: Annotated[Integer, Field(ge=1, le=10_000)] = 16


def _env_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ValueError("must be the name of an environment variable (letters, digits and _), like MY_TOKEN")
    return value


def _redact_pattern(value: str) -> str:
    if re.compile(valid_regex(value)).fullmatch(""):
        raise ValueError("matches the empty string, so it would redact everywhere; make it match the secret itself")
    return value


class RedactConfig(Section):
    # Values of these environment variables (as aod's environment has them) are redacted
    # wherever aod stores, shows or forwards text; a built-in list of the usual ones is always on.
    env: list[Annotated[str, AfterValidator(_env_name)]] = Field(default_factory=list)
    # More shapes to redact, as Python regular expressions; a whole match is replaced.
    patterns: list[Annotated[str, AfterValidator(_redact_pattern)]] = Field(default_factory=list)
