"""aod.usage.limits: plan usage-limit messages and their reset times.

The phrasings are the ones the CLIs print (Claude Code and Codex, as users quoted them in the
projects' public issue trackers), with the zones and times varied."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from aod.usage.limits import UsageLimit, find_usage_limit

NY = ZoneInfo("America/New_York")
NOW = dt.datetime(2026, 11, 22, 14, 0, tzinfo=NY).timestamp()  # 19:00 UTC


def at(*args: int, tz: dt.tzinfo = NY) -> float:
    return dt.datetime(*args, tzinfo=tz).timestamp()


POSITIVE = [
    # Claude Code, older: zone named, and the epoch form.
    ("Claude usage limit reached. Your limit will reset at 3pm (America/New_York).",
     at(2026, 11, 22, 15, 0)),
    ("  ⎿  Claude usage limit reached. Your limit will reset at 9am (America/Chicago).",
     at(2026, 11, 23, 9, 0, tz=ZoneInfo("America/Chicago"))),  # 9am Chicago has passed: tomorrow
    ("Claude AI usage limit reached|1749924000", 1749924000.0),
    # Claude Code, newer.
    ("5-hour limit reached ∙ resets 3pm", at(2026, 11, 22, 15, 0)),
    ("5-hour limit reached ∙ resets 11am", at(2026, 11, 23, 11, 0)),  # earlier than now: tomorrow
    ("Weekly limit reached · resets 10am (Asia/Seoul) · /upgrade to Max or turn on /extra-usage",
     at(2026, 11, 23, 10, 0, tz=ZoneInfo("Asia/Seoul"))),
    ("You've hit your limit · resets 1:30am (Asia/Dhaka)",
     at(2026, 11, 23, 1, 30, tz=ZoneInfo("Asia/Dhaka"))),  # 01:00 there now: still today
    ("You've hit your session limit · resets 12:50am (America/Los_Angeles)",
     at(2026, 11, 23, 0, 50, tz=ZoneInfo("America/Los_Angeles"))),
    ("You've hit your weekly limit · resets Nov 27 at 7pm", at(2026, 11, 27, 19, 0)),
    ("You've hit your weekly limit · resets Nov 28, 2am (UTC)", at(2026, 11, 28, 2, 0, tz=dt.timezone.utc)),
    ("You’ve hit your limit for Claude messages. Limits will reset at 9:30 AM.",
     at(2026, 11, 23, 9, 30)),
    ("You've hit your limit · resets at 6am tomorrow", at(2026, 11, 23, 6, 0)),
    ("You've hit your limit · resets 16:45", at(2026, 11, 22, 16, 45)),  # 24-hour clock
    ("You've hit your limit · resets 12pm", at(2026, 11, 23, 12, 0)),
    # Codex.
    ("■ You've hit your usage limit. Upgrade to Pro (https://openai.com/chatgpt/pricing) or try "
     "again in 2 hours 5 minutes.", NOW + 2 * 3600 + 5 * 60),
    ("🖐  You've hit your usage limit. Upgrade to Pro (https://openai.com/chatgpt/pricing) or try\n"
     "again in 5 days 22 hours 11\nminutes.", NOW + 5 * 86400 + 22 * 3600 + 11 * 60),
    ("You've hit your usage limit. Try again in 45 seconds.", NOW + 45),
    ("You've hit your usage limit. Upgrade to Plus to continue using Codex, or try again at 4:05 PM.",
     at(2026, 11, 22, 16, 5)),
    ("You've hit your usage limit. Upgrade to Plus to continue using Codex "
     "(https://chatgpt.com/explore/plus), or try again at Dec 5th, 2026 8:19 PM.",
     at(2026, 12, 5, 20, 19)),
    ("You have reached your usage limit. Upgrade your plan or add credits to continue, or try "
     "again after November 29, 2026 at 2:45 PM.", at(2026, 11, 29, 14, 45)),
]  # fmt: skip


@pytest.mark.parametrize(("text", "reset_at"), POSITIVE)
def test_limit_messages(text: str, reset_at: float) -> None:
    found = find_usage_limit(text, now=NOW, tz=NY)
    assert found is not None
    assert found.reset_at == pytest.approx(reset_at)
    assert found.text and (found.text[0].isalnum() or found.text[0] in "'’")  # glyphs dropped


NEGATIVE = [
    "",
    'API Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"This request '
    "would exceed your account's rate limit. Please try again later.\"}}",
    "Rate limit reached for gpt-5 in organization org-abc on tokens per min (TPM). Try again in 20s.",
    "You've used 90% of your weekly limit · resets Nov 27 at 7pm",
    "Approaching 5-hour limit · resets 3pm",
    "⚠ Heads up, you've used over 75% of your 5h limit. Run /status for a breakdown.",
    " Current session\n ▌   1% used\n Resets 12:59pm (America/New_York)\n",
    "We should add a usage limit to the API and reset it at 3pm.",
    "? for shortcuts",
]


@pytest.mark.parametrize("text", NEGATIVE)
def test_not_a_plan_limit(text: str) -> None:
    assert find_usage_limit(text, now=NOW, tz=NY) is None


def test_without_a_zone_the_reset_time_is_unknown() -> None:
    found = find_usage_limit("5-hour limit reached ∙ resets 3pm", now=NOW)
    assert found == UsageLimit(reset_at=None, text="5-hour limit reached ∙ resets 3pm")
    # A named zone, or a relative time, needs no tz.
    named = find_usage_limit("You've hit your limit · resets 3pm (Europe/Berlin)", now=NOW)
    assert named is not None
    assert named.reset_at == at(2026, 11, 23, 15, 0, tz=ZoneInfo("Europe/Berlin"))
    relative = find_usage_limit("You've hit your usage limit. Try again in 1 hour.", now=NOW)
    assert relative is not None and relative.reset_at == NOW + 3600


def test_a_limit_without_a_reset_time() -> None:
    found = find_usage_limit("Claude usage limit reached.", now=NOW, tz=NY)
    assert found == UsageLimit(reset_at=None, text="Claude usage limit reached.")


def test_unknown_named_zone_gives_no_time_rather_than_a_wrong_one() -> None:
    found = find_usage_limit("You've hit your limit · resets 3pm (Mars/Olympus_Mons)", now=NOW, tz=NY)
    assert found is not None and found.reset_at is None


def test_the_last_message_on_screen_wins() -> None:
    screen = (
        "5-hour limit reached ∙ resets 3pm\n"
        "> continue\n"
        "You've hit your weekly limit · resets Nov 27 at 7pm (America/New_York)\n"
        "> \n"
    )
    found = find_usage_limit(screen, now=NOW, tz=NY)
    assert found is not None
    assert found.reset_at == at(2026, 11, 27, 19, 0)
    assert found.text == "You've hit your weekly limit · resets Nov 27 at 7pm (America/New_York)"


def test_tomorrow_rollover_follows_the_named_zone_across_midnight() -> None:
    # 19:00 UTC is 04:00 the next day in Tokyo: "3am" there has passed, so it is the day after.
    found = find_usage_limit("You've hit your limit · resets 3am (Asia/Tokyo)", now=NOW, tz=NY)
    assert found is not None
    assert found.reset_at == at(2026, 11, 24, 3, 0, tz=ZoneInfo("Asia/Tokyo"))


def test_a_date_without_a_year_is_the_nearest_one() -> None:
    new_year_eve = dt.datetime(2026, 12, 30, 12, 0, tzinfo=NY).timestamp()
    found = find_usage_limit("You've hit your weekly limit · resets Jan 2 at 9am", now=new_year_eve, tz=NY)
    assert found is not None and found.reset_at == at(2027, 1, 2, 9, 0)


def test_dst_change_keeps_wall_clock_time() -> None:
    # The night of 2026-11-01 New York falls back an hour; "resets 9am" is still 9am local.
    before = dt.datetime(2026, 10, 31, 22, 0, tzinfo=NY).timestamp()
    found = find_usage_limit("5-hour limit reached ∙ resets 9am", now=before, tz=NY)
    assert found is not None and found.reset_at == at(2026, 11, 1, 9, 0)


@pytest.mark.parametrize(
    "text",
    [
        "You've hit your limit · resets 13pm",
        "You've hit your limit · resets 9:75am",
        "You've hit your limit · resets Feb 30 at 3pm",
        "You've hit your usage limit. Try again in 99999999999 days.",
    ],
)
def test_impossible_times_give_a_limit_without_a_time(text: str) -> None:
    found = find_usage_limit(text, now=NOW, tz=NY)
    assert found is not None and found.reset_at is None
