"""The shared field types of the config: durations, counts, commands, names, patterns, URLs,
and `Section`, the base of every section's model.

One job: turn what a user may write for a kind of value (`1h30m`, `[npm, test]`, a regex) into
the value, or into a short sentence saying what is wrong (the loader adds the file and line).
Each section's module builds its fields from these; none of them knows a section.

May import: the standard library, pydantic, and the pure helpers `aod.workfiles` (disposable
patterns). Nothing else of aod, and no other module of this package.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)

from aod.workfiles import pattern_problem

KiB = 1024
MiB = 1024 * KiB
MINUTE = 60.0
HOUR = 60 * MINUTE

# ---------------------------------------------------------------------------------------------
# Durations


_UNIT_SECONDS = {"d": 86400.0, "h": HOUR, "m": MINUTE, "s": 1.0, "ms": 0.001}
_NUMBER = r"\d+(?:\.\d+)?"
# Units appear at most once each, largest first ("1h30m", not "30m1h" or "1m1m"), which the
# fixed order of the optional groups enforces.
_DURATION = re.compile("".join(rf"(?:(?P<{unit}>{_NUMBER}){unit})?" for unit in _UNIT_SECONDS))
DURATION_FORMS = "a number of seconds, or a number with units like 250ms, 5s, 10m, 2h, 1h30m, 1d"


def parse_duration(value: str | int | float) -> float:
    """Seconds in `value`: a plain number of seconds, or text such as `250ms` or `1h30m`."""
    if isinstance(value, bool):  # a subclass of int, and YAML 1.1 turns `yes`/`on` into one
        raise ValueError(f"expected a duration ({DURATION_FORMS}), got {show_value(value)}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_duration_text(value)
    else:
        raise ValueError(f"expected a duration ({DURATION_FORMS}), got {show_value(value)}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a finite number, 0 or more (got {show_value(value)})")
    return seconds


def _parse_duration_text(text: str) -> float:
    text = text.strip()
    if re.fullmatch(_NUMBER, text):
        return float(text)
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise ValueError(f"invalid duration {text!r}: expected {DURATION_FORMS}")
    amounts = match.groupdict().items()
    return sum(float(amount) * _UNIT_SECONDS[unit] for unit, amount in amounts if amount)


def format_duration(seconds: float) -> str:
    """The shortest readable form of `seconds` that `parse_duration` reads back: 90 -> '1m30s'."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    parts: list[str] = []
    remaining = seconds
    for unit in ("d", "h", "m"):
        count, remaining = divmod(remaining, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count:.0f}{unit}")
    if remaining:
        parts.append(f"{remaining:g}s")
    return "".join(parts)


def at_most(limit: float) -> AfterValidator:
    def check(seconds: float) -> float:
        if seconds > limit:
            shown = format_duration(seconds)
            raise ValueError(f"must be at most {format_duration(limit)} (got {shown})")
        return seconds

    return AfterValidator(check)


def _not_zero(seconds: float) -> float:
    if seconds == 0:
        raise ValueError("must be more than 0s")
    return seconds


def _no_bool(value: Any) -> Any:
    # pydantic's lax mode reads True as 1; in a YAML file that is `yes` or `on`, never a count.
    if isinstance(value, bool):
        raise ValueError(f"must be a whole number (got {show_value(value)})")
    return value


Duration = Annotated[float, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[Duration, AfterValidator(_not_zero)]
Integer = Annotated[int, BeforeValidator(_no_bool)]

# ---------------------------------------------------------------------------------------------
# Every section's base


class Section(BaseModel):
    """A config section: unknown keys are errors (a typo must not pass silently), values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_defaults(cls, data: Any) -> Any:
        # `log:` with every line under it commented out is null in YAML; it means "defaults".
        return {} if data is None else data


# ---------------------------------------------------------------------------------------------
# Names, commands, patterns, URLs

# What an agent (and a notifier) may be called, and a project; used as keys of their sections.
AGENT_NAME = r"^[a-z0-9][a-z0-9._-]{0,62}$"
PROJECT_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
# A notification's priority: a reaction gives one, a notifier subscribes to some.
Priority = Literal["urgent", "action", "warning", "info"]


def _argv(value: Any) -> Any:
    # A command is a list of arguments, never a string a shell would split: `[npm, test]`.
    if isinstance(value, str):
        raise ValueError(f"must be a list of arguments like [{value.split()[0] if value.split() else 'cmd'}, ...], not one string (aod never runs a shell)")
    return value


Argv = Annotated[list[str], BeforeValidator(_argv), Field(min_length=1)]


def valid_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Regex = Annotated[str, AfterValidator(valid_regex)]
Regexes = Annotated[list[Regex], BeforeValidator(_one_or_many)]


def _disposable_pattern(value: str) -> str:
    problem = pattern_problem(value)
    if problem:
        raise ValueError(f"the pattern {value!r} {problem}")
    return value


DisposablePatterns = list[Annotated[str, AfterValidator(_disposable_pattern)]]


def _http_url(value: str) -> str:
    # The URL may carry a credential (Slack's and Discord's do), so the message never shows it.
    try:
        parts = urllib.parse.urlsplit(value) if value.isprintable() and " " not in value else None
        host = parts.hostname if parts is not None else None
    except ValueError:  # a malformed [IPv6] host or port
        parts = host = None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


def _secret_http_url(value: SecretStr) -> SecretStr:
    _http_url(value.get_secret_value())
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
SecretHttpUrl = Annotated[SecretStr, AfterValidator(_secret_http_url)]


def show_value(value: Any) -> str:
    """A value as the user would have written it in YAML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)
