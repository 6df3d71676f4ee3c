"""aod.usage.prices: model lookup and the cost of a Usage."""

from __future__ import annotations

from pathlib import Path

import pytest

from aod.usage import Usage, read_new
from aod.usage.prices import DEFAULT_PRICES, Price, cost_usd, price_for

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "usage"


def p(model: str) -> Price | None:
    return price_for(model, DEFAULT_PRICES)


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("claude-opus-4-8", "claude-opus-4-8"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-opus-4-20250514", "claude-opus-4"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-opus-4-0", "claude-opus-4-0"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("Claude-Sonnet-4-5", "claude-sonnet-4-5"),  # case
        ("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),  # aider / litellm prefix
        ("openrouter/anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"),  # dotted version
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),  # Bedrock
        ("claude-opus-4-5@20251101", "claude-opus-4-5"),  # Vertex
        ("gpt-5-codex", "gpt-5-codex"),
        ("gpt-5", "gpt-5"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("gpt-5-chat-latest", "gpt-5"),
        ("gpt-5.1-codex", "gpt-5.1"),
        ("gpt-5.1-codex-max", "gpt-5.1"),
        ("gpt-5.1-codex-mini", "gpt-5.1-codex-mini"),
        ("gpt-5.2-codex", "gpt-5.2"),
        ("gpt-5.5", "gpt-5.5"),
        ("gpt-5-mini", "gpt-5-mini"),
        ("o3", "o3"),
        ("o3-2025-04-16", "o3"),
        ("o3-mini", "o3-mini"),
        ("o4-mini-2025-04-16", "o4-mini"),
        ("gpt-4.1", "gpt-4.1"),
        ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("openai/gpt-4o-mini", "gpt-4o-mini"),
        ("codex-mini-latest", "codex-mini"),
    ],
)
def test_price_for_picks_the_longest_covering_key(model: str, key: str) -> None:
    assert p(model) == DEFAULT_PRICES[key]


@pytest.mark.parametrize(
    "model",
    [
        "",
        "<synthetic>",
        "fake-model",
        "claude-opus-4-9",  # a later minor version is not the 4.0 price
        "claude-sonnet-5",  # not in the table: no guess from "claude-sonnet-4"
        "gpt-5.6",  # not gpt-5's price
        "gpt-50",
        "gpt-5-turbo-nano",  # a tier that is priced differently
        "o3-deep-research",
        "gpt-4.5-preview",
        "llama3:70b",
    ],
)
def test_unknown_models_have_no_price(model: str) -> None:
    assert p(model) is None


def test_longest_key_wins_and_open_prefixes_work() -> None:
    table = {
        "claude-": Price(input=1, output=1, cache_read=1, cache_write=1),
        "claude-opus-4-8": Price(input=2, output=2, cache_read=2, cache_write=2),
    }
    assert price_for("claude-opus-4-8-20260101", table) == table["claude-opus-4-8"]
    assert price_for("claude-sonnet-4-5", table) == table["claude-"]
    assert price_for("gpt-5", table) is None


def test_every_default_key_prices_itself_and_is_sane() -> None:
    for key, price in DEFAULT_PRICES.items():
        assert price_for(key, DEFAULT_PRICES) is price, key
        assert price.input > 0 and price.output >= price.input, key
        assert 0 < price.cache_read <= price.input, key
        assert price.cache_write >= price.input, key


def test_published_anthropic_rates() -> None:
    opus = DEFAULT_PRICES["claude-opus-4-8"]
    assert (opus.input, opus.cache_write, opus.cache_write_1h, opus.cache_read, opus.output) == (
        5, 6.25, 10, 0.5, 25,
    )
    haiku3 = DEFAULT_PRICES["claude-3-haiku"]
    assert (haiku3.cache_write, haiku3.cache_write_1h, haiku3.cache_read) == (0.30, 0.50, 0.03)


def test_two_models_in_one_transcript_are_priced_separately() -> None:
    usages, _ = read_new("claude", FIXTURES / "claude_session.jsonl", None)
    costs = {u.model: cost_usd(u, DEFAULT_PRICES) for u in usages}
    # sonnet 4.5: 12 in × $3 + 85 out × $15 + 16000 cache reads × $0.30 + 4000 5-minute writes × $3.75
    assert costs["claude-sonnet-4-5-20250929"] == pytest.approx(
        (12 * 3 + 85 * 15 + 16000 * 0.30 + 4000 * 3.75) / 1e6
    )
    # opus 4.8: 6 × $5 + 40 × $25 + 20000 × $0.50 + 1000 one-hour writes × $10
    assert costs["claude-opus-4-8"] == pytest.approx((6 * 5 + 40 * 25 + 20000 * 0.5 + 1000 * 10) / 1e6)
    assert costs["claude-haiku-4-5-20251001"] == pytest.approx((300 * 1 + 12 * 5) / 1e6)


def test_codex_costs_per_model() -> None:
    usages, _ = read_new("codex", FIXTURES / "codex_rollout.jsonl", None)
    costs = [cost_usd(u, DEFAULT_PRICES) for u in usages]
    assert costs == pytest.approx(
        [
            (3000 * 1.25 + 6000 * 0.125 + 400 * 10) / 1e6,  # gpt-5-codex
            (840 * 1.25 + 8960 * 0.125 + 120 * 10) / 1e6,  # gpt-5-codex
            (1200 * 5 + 10000 * 0.5 + 300 * 30) / 1e6,  # gpt-5.5
        ]
    )


def test_unknown_model_costs_none_even_with_tokens() -> None:
    assert cost_usd(Usage(model="fake-model", input_tokens=10**6), DEFAULT_PRICES) is None
    assert cost_usd(Usage(model="", output_tokens=1), DEFAULT_PRICES) is None


def test_reported_cost_is_used_as_is() -> None:
    usages, _ = read_new("aider", FIXTURES / "aider_history.md", None)
    costs = [cost_usd(u, DEFAULT_PRICES) for u in usages]
    assert costs[0] == 0.0092
    assert costs[1] == 0.02
    # No cost printed (aider had no price): priced from the table for the announced model.
    assert costs[2] == pytest.approx((730 * 2.5 + 895 * 10) / 1e6)
    assert costs[3] == 12.5
    # Even for a model the table does not know.
    assert cost_usd(Usage(model="who-knows", reported_cost_usd=0.5), DEFAULT_PRICES) == 0.5


def test_one_hour_writes_without_a_1h_price_use_the_write_price() -> None:
    table = {"m": Price(input=1, output=2, cache_read=0.1, cache_write=1.25)}
    u = Usage(model="m", cache_write_tokens=1_000_000, cache_write_1h_tokens=400_000)
    assert cost_usd(u, table) == pytest.approx(1.25)
