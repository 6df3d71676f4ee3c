"""Plan usage limits, read from screen or transcript text.

The phrasings recognised (as the CLIs print them; collected from their public issue trackers):

Claude Code
    Claude usage limit reached. Your limit will reset at 3pm (America/New_York).
    Claude AI usage limit reached|1749924000              (older versions: epoch seconds)
    5-hour limit reached ∙ resets 3pm
    Weekly limit reached · resets 10am (Asia/Seoul) · /upgrade to Max or turn on /extra-usage
    You've hit your limit · resets 1:30am (Asia/Dhaka)
    You've hit your session limit · resets 12:50am (America/Los_Angeles)
    You've hit your weekly limit · resets Sep 15 at 7pm
    You've hit your weekly limit · resets Jul 31, 2am (UTC)
    You've hit your limit for Claude messages. Limits will reset at 9:30 AM.
Codex
    You've hit your usage limit. Upgrade to Pro (...) or try again in 5 days 22 hours 11 minutes.
    You've hit your usage limit. ... or try again at Jul 5th, 2026 8:19 PM.
    You have reached your usage limit. ... or try again after July 3, 2026 at 2:45 PM.

Not a plan limit: the API's `rate_limit_error` / "rate limit reached" (a per-minute throttle the
CLI retries by itself), warnings such as "You've used 90% of your weekly limit", and the
`/usage` screen's "Resets 3:20pm" lines.

Reset times: "in N days/hours/minutes/seconds" counts from `now`; a clock time is read in the
zone named after it in parentheses, else in `tz`; without a date it is today, or tomorrow when
it is earlier than `now` (or the text says "tomorrow"); a date without a year is the one nearest
to `now`. When no zone is named and `tz` is None, the reset time is unknown (`reset_at` None):
the function never assumes a zone. Pure: `now` and `tz` are arguments.
"""

from __future__ import annotations

import datetime as dt
import re

import msgspec

__all__ = ["UsageLimit", "find_usage_limit"]


class UsageLimit(msgspec.Struct, frozen=True):
    reset_at: float | None
    """Epoch seconds when the limit lifts, when the text says."""
    text: str
    """The message, as shown (whitespace collapsed)."""


_APOS = r"['’`]"
_LIMIT = re.compile(
    r"\bclaude(?:\s+ai)?\s+usage\s+limit\s+reached"
    rf"|\byou(?:{_APOS}ve|\s+have)\s+(?:hit|reached)\s+your\s+(?:[\w-]+\s+){{0,3}}?limit\b"
    r"|\b(?:5-hour|five-hour|weekly|session|daily|opus|sonnet|fable)\s+(?:usage\s+)?"
    r"limit\s+reached\b",
    re.IGNORECASE,
)
_WINDOW = 400
"""Characters after the limit phrase searched for its reset time."""
_MAX_WAIT = 400 * 86400
"""A relative reset further away than this is not believed (limits reset within days)."""

_EPOCH = re.compile(r"\s*\|\s*(\d{10})\b")
_UNITS = {
    "d": 86400, "day": 86400, "days": 86400,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
}  # fmt: skip
_UNIT = r"(?:days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)"
_RELATIVE = re.compile(
    rf"\b(?:try\s+again|resets?|reset|available(?:\s+again)?)\s+in\s+"
    rf"(?P<dur>\d+\s*{_UNIT}\b(?:[\s,]*(?:and\s+)?\d+\s*{_UNIT}\b)*)",
    re.IGNORECASE,
)
_DURATION_PART = re.compile(rf"(\d+)\s*({_UNIT})\b", re.IGNORECASE)
_ABSOLUTE = re.compile(
    r"\b(?:resets?|reset|try\s+again)(?:\s+(?:at|on|after))?\s+", re.IGNORECASE
)
_TOMORROW = re.compile(r"tomorrow\b[\s,]*(?:at\s+)?", re.IGNORECASE)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DATE = re.compile(
    r"(?P<mon>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+"
    r"(?P<day>\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s*(?P<year>\d{4})\b)?[\s,]*(?:at\s+)?",
    re.IGNORECASE,
)
_TIME = re.compile(
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?(?:\s*(?P<ampm>[ap])\.?\s?m\b\.?)?", re.IGNORECASE
)
_AFTER_TIME_TOMORROW = re.compile(r"\s*,?\s*tomorrow\b", re.IGNORECASE)
_AFTER_TIME_DATE = re.compile(r"\s*,?\s*(?:on\s+)?(?=[a-z])", re.IGNORECASE)
_ZONE = re.compile(r"\s*\(\s*(?P<zone>[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*)\s*\)")


def find_usage_limit(
    text: str, *, now: float, tz: dt.tzinfo | None = None
) -> UsageLimit | None:
    """The last plan-usage-limit message in `text`, with its reset time when it gives one; None
    when there is none. See the module docstring for the phrasings and the time rules."""
    matches = list(_LIMIT.finditer(text))
    if not matches:
        return None
    last = matches[-1]
    start, end = last.start(), last.end()
    window = text[end : end + _WINDOW]
    reset_at, clause_end = _reset_time(window, now=now, tz=tz)
    line_start = text.rfind("\n", 0, start) + 1
    stop = end + clause_end if clause_end else end
    line_end = text.find("\n", stop)
    shown = text[line_start : len(text) if line_end < 0 else line_end]
    return UsageLimit(reset_at=reset_at, text=_tidy(shown))


def _tidy(text: str) -> str:
    text = " ".join(text.split())
    text = re.sub(r"^[^\w'’\"]+", "", text)  # ⎿, ■, 🖐, bullets
    return text[:300]


def _reset_time(window: str, *, now: float, tz: dt.tzinfo | None) -> tuple[float | None, int]:
    """(reset time, end of the clause in `window`) for the first reset clause in `window`."""
    epoch = _EPOCH.match(window)
    if epoch:
        return float(epoch.group(1)), epoch.end()
    candidates: list[tuple[int, str, re.Match[str]]] = []
    candidates += [(m.start(), "relative", m) for m in _RELATIVE.finditer(window)]
    candidates += [(m.start(), "absolute", m) for m in _ABSOLUTE.finditer(window)]
    for _, kind, match in sorted(candidates, key=lambda item: (item[0], item[1] != "relative")):
        if kind == "relative":
            seconds = sum(
                int(n) * _UNITS[u.lower()] for n, u in _DURATION_PART.findall(match.group("dur"))
            )
            return (now + seconds if seconds <= _MAX_WAIT else None), match.end()
        parsed = _absolute(window, match.end(), now=now, tz=tz)
        if parsed is not None:
            return parsed
    return None, 0


def _absolute(
    s: str, i: int, *, now: float, tz: dt.tzinfo | None
) -> tuple[float | None, int] | None:
    """Parse `[tomorrow] [Mon D[, YYYY]] [at] H[:MM][am|pm] [tomorrow | on Mon D] [(Zone)]` at
    `i`. None when there is no clock time there; (None, end) when the time cannot be placed."""
    tomorrow = False
    date: tuple[int, int, int | None] | None = None
    if m := _TOMORROW.match(s, i):
        tomorrow, i = True, m.end()
    if m := _DATE.match(s, i):
        date, i = _date_of(m), m.end()
    clock = _TIME.match(s, i)
    if clock is None or not (clock.group("minute") or clock.group("ampm")):
        return None
    hm = _clock(clock)
    if hm is None:
        return None
    i = clock.end()
    if m := _AFTER_TIME_TOMORROW.match(s, i):
        tomorrow, i = True, m.end()
    elif date is None and (m := _AFTER_TIME_DATE.match(s, i)):
        if d := _DATE.match(s, m.end()):
            date, i = _date_of(d), d.end()
    zone: dt.tzinfo | None = tz
    if m := _ZONE.match(s, i):
        named = _zone(m.group("zone"))
        if named is not None or _looks_like_zone(m.group("zone")):
            zone = named
        i = m.end()
    if zone is None:
        return None, i
    return _place(hm, date, tomorrow, zone, now), i


def _date_of(m: re.Match[str]) -> tuple[int, int, int | None]:
    month = _MONTHS.index(m.group("mon").lower()[:3]) + 1
    year = m.group("year")
    return month, int(m.group("day")), int(year) if year else None


def _clock(m: re.Match[str]) -> tuple[int, int] | None:
    hour = int(m.group("hour"))
    minute = int(m.group("minute") or 0)
    ampm = (m.group("ampm") or "").lower()
    if minute > 59:
        return None
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "p" else 0)
    elif hour > 23:
        return None
    return hour, minute


def _looks_like_zone(name: str) -> bool:
    return "/" in name or name.upper() in {"UTC", "GMT", "Z"}


def _zone(name: str) -> dt.tzinfo | None:
    if name.upper() in {"UTC", "GMT", "Z"}:
        return dt.timezone.utc
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except (ValueError, OSError, KeyError, ImportError):
        return None  # unknown zone (ZoneInfoNotFoundError is a KeyError) or no tz database


def _place(
    hm: tuple[int, int],
    date: tuple[int, int, int | None] | None,
    tomorrow: bool,
    zone: dt.tzinfo,
    now: float,
) -> float | None:
    local_now = dt.datetime.fromtimestamp(now, zone)
    clock = dt.time(hm[0], hm[1])
    if date is not None:
        month, day, year = date
        years = [year] if year else [local_now.year - 1, local_now.year, local_now.year + 1]
        best: dt.datetime | None = None
        for y in years:
            try:
                candidate = dt.datetime.combine(dt.date(y, month, day), clock, tzinfo=zone)
            except ValueError:
                continue  # Feb 29 in a common year, day 31 of a short month
            if best is None or abs(candidate.timestamp() - now) < abs(best.timestamp() - now):
                best = candidate
        return best.timestamp() if best else None
    day0 = local_now.date()
    candidate = dt.datetime.combine(day0, clock, tzinfo=zone)
    if tomorrow or candidate.timestamp() < now:
        candidate = dt.datetime.combine(day0 + dt.timedelta(days=1), clock, tzinfo=zone)
    return candidate.timestamp()
