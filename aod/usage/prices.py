"""Per-model prices (USD per million tokens) and the cost of a `Usage`.

`price_for` picks the longest key of the table that the model name starts with, at a name
boundary, after normalising the name (lower case; a provider prefix such as `anthropic/` or
Bedrock's `us.anthropic.` dropped; `claude-sonnet-4.5` read as `claude-sonnet-4-5`). Two guards
keep a family price from standing in for a model it does not describe:

- what follows the key may not start with another short version number: `claude-opus-4` prices
  `claude-opus-4-20250514` but not `claude-opus-4-9`, and `gpt-5` does not price `gpt-5.6`;
- what follows may not name a differently priced tier (`mini`, `nano`, `pro`, ...): `gpt-5` does
  not price `gpt-5-mini` (that has its own key), nor `o3` price `o3-mini`.

A model no key covers has no price: `cost_usd` then says None, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

import msgspec

from aod.usage import Usage

__all__ = ["DEFAULT_PRICES", "Price", "cost_usd", "price_for"]


class Price(msgspec.Struct, frozen=True, kw_only=True):
    """USD per million tokens."""

    input: float
    output: float
    cache_read: float
    cache_write: float
    """Anthropic: the 5-minute cache write. OpenAI: no surcharge, so the input price."""
    cache_write_1h: float | None = None
    """Anthropic's 1-hour cache write; None: `cache_write` applies. An addition to the agreed
    fields."""


def _anthropic(inp: float, out: float) -> Price:
    # The pricing page's multipliers: cache hits 0.1x input, 5-minute writes 1.25x, 1-hour 2x.
    return Price(
        input=inp,
        output=out,
        cache_read=round(inp * 0.1, 6),
        cache_write=round(inp * 1.25, 6),
        cache_write_1h=round(inp * 2, 6),
    )


def _openai(inp: float, out: float, cached: float | None) -> Price:
    # No cached-input price listed (the -pro models): cached input is billed as input.
    return Price(
        input=inp, output=out, cache_read=inp if cached is None else cached, cache_write=inp
    )


# Anthropic: https://platform.claude.com/docs/en/about-claude/pricing ("Model pricing": base
# input, 5m cache writes, 1h cache writes, cache hits, output), as published in November 2026.
# Standard rates only: the long-context, batch, fast-mode and data-residency rates are not
# applied.
_ANTHROPIC = {
    "claude-opus-5": _anthropic(5, 25),
    "claude-opus-4-8": _anthropic(5, 25),
    "claude-opus-4-7": _anthropic(5, 25),
    "claude-opus-4-6": _anthropic(5, 25),
    "claude-opus-4-5": _anthropic(5, 25),
    "claude-opus-4-1": _anthropic(15, 75),
    "claude-opus-4-0": _anthropic(15, 75),
    "claude-opus-4": _anthropic(15, 75),
    "claude-sonnet-4-6": _anthropic(3, 15),
    "claude-sonnet-4-5": _anthropic(3, 15),
    "claude-sonnet-4-0": _anthropic(3, 15),
    "claude-sonnet-4": _anthropic(3, 15),
    "claude-3-7-sonnet": _anthropic(3, 15),
    "claude-3-5-sonnet": _anthropic(3, 15),
    "claude-haiku-4-5": _anthropic(1, 5),
    "claude-3-5-haiku": _anthropic(0.80, 4),
    "claude-3-opus": _anthropic(15, 75),
    "claude-3-haiku": Price(
        input=0.25, output=1.25, cache_read=0.03, cache_write=0.30, cache_write_1h=0.50
    ),
}

# OpenAI: https://developers.openai.com/api/docs/pricing (Standard tier, text tokens: input,
# cached input, output) and the model pages https://developers.openai.com/api/docs/models/<id>,
# as published in November 2026. The long-context (>272k input) rates are not applied.
_OPENAI = {
    "gpt-5.5": _openai(5, 30, 0.50),
    "gpt-5.5-pro": _openai(30, 180, None),
    "gpt-5.4": _openai(2.50, 15, 0.25),
    "gpt-5.4-mini": _openai(0.75, 4.50, 0.075),
    "gpt-5.4-nano": _openai(0.20, 1.25, 0.02),
    "gpt-5.4-pro": _openai(30, 180, None),
    "gpt-5.3-codex": _openai(1.75, 14, 0.175),
    "gpt-5.2": _openai(1.75, 14, 0.175),
    "gpt-5.1": _openai(1.25, 10, 0.125),
    "gpt-5.1-codex-mini": _openai(0.25, 2, 0.025),
    "gpt-5": _openai(1.25, 10, 0.125),
    "gpt-5-codex": _openai(1.25, 10, 0.125),
    "gpt-5-codex-mini": _openai(0.25, 2, 0.025),
    "gpt-5-mini": _openai(0.25, 2, 0.025),
    "gpt-5-nano": _openai(0.05, 0.40, 0.005),
    "gpt-5-pro": _openai(15, 120, None),
    "codex-mini": _openai(1.50, 6, 0.375),
    "o3": _openai(2, 8, 0.50),
    "o3-pro": _openai(20, 80, None),
    "o3-mini": _openai(1.10, 4.40, 0.55),
    "o4-mini": _openai(1.10, 4.40, 0.275),
    "o1": _openai(15, 60, 7.50),
    "gpt-4.1": _openai(2, 8, 0.50),
    "gpt-4.1-mini": _openai(0.40, 1.60, 0.10),
    "gpt-4.1-nano": _openai(0.10, 0.40, 0.025),
    "gpt-4o": _openai(2.50, 10, 1.25),
    "gpt-4o-mini": _openai(0.15, 0.60, 0.075),
}

DEFAULT_PRICES: Mapping[str, Price] = MappingProxyType({**_ANTHROPIC, **_OPENAI})

_SEPARATORS = "-._@:"
_SPLIT = re.compile(r"[-._@:]")
_SHORT_NUMBER = re.compile(r"\d{1,2}")
_TIERS = frozenset(
    {"mini", "nano", "pro", "deep", "research", "audio", "realtime", "search", "transcribe",
     "tts", "image", "instant"}
)
_BEDROCK = re.compile(r"^(?:[a-z]{2,6}\.)?anthropic\.")
_CLAUDE_DOT = re.compile(r"(?<=\d)\.(?=\d)")


def normalize(model: str) -> str:
    """The name `price_for` matches: lower case, provider prefix dropped, Claude dots as dashes."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    name = _BEDROCK.sub("", name)
    if name.startswith("claude"):
        name = _CLAUDE_DOT.sub("-", name)
    return name


def _covers(key: str, name: str) -> bool:
    if name == key:
        return True
    if not key or not name.startswith(key):
        return False
    rest = name[len(key) :]
    if key[-1] not in _SEPARATORS:
        if rest[0] not in _SEPARATORS:
            return False  # "gpt-5" is not a prefix of "gpt-50"
        rest = rest[1:]
    segments = _SPLIT.split(rest)
    if _SHORT_NUMBER.fullmatch(segments[0]):
        return False  # another version ("claude-opus-4" vs "claude-opus-4-9")
    return not any(segment in _TIERS for segment in segments)


def price_for(model: str, table: Mapping[str, Price]) -> Price | None:
    """The price of `model`: the longest key covering it (see the module docstring), else None."""
    name = normalize(model)
    if not name:
        return None
    best: tuple[int, Price] | None = None
    for key, price in table.items():
        norm = key.strip().lower()
        if _covers(norm, name) and (best is None or len(norm) > best[0]):
            best = (len(norm), price)
    return best[1] if best else None


def cost_usd(usage: Usage, table: Mapping[str, Price]) -> float | None:
    """What `usage` cost: the agent's own figure when it reported one, else tokens × the model's
    price; None when the model has no price."""
    if usage.reported_cost_usd is not None:
        return usage.reported_cost_usd
    price = price_for(usage.model, table)
    if price is None:
        return None
    one_hour = min(usage.cache_write_1h_tokens, usage.cache_write_tokens)
    five_minute = usage.cache_write_tokens - one_hour
    rate_1h = price.cache_write if price.cache_write_1h is None else price.cache_write_1h
    total = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_read_tokens * price.cache_read
        + five_minute * price.cache_write
        + one_hour * rate_1h
    )
    return total / 1_000_000
