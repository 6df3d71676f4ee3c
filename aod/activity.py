"""PURE: what an agent is doing, judged from every signal the tick has about it.

    judge(Signals) -> ScreenReading | None      (None: nothing new; the recorded activity stands)

The signals, and what each is worth (LESSONS.md: every signal needs a fallback after a bounded
time, and the most trusted one wins only while it is fresh):

1. A question or a blocking dialog on screen wins over everything: some agents ask for approval
   only on screen (Codex records no prompts), and waiting is never being busy.
1b. The agent's own report (`session.report`, `human.ask`): done, blocked, needs input. It
   stands until the agent is sent a message or reports again, or a hook speaks after it
   (`report_reading`); `working` is fresh only as long as a hook is.
2. The agent's hooks (turn start / turn end / permission), while fresh (HOOK_FRESH seconds):
   the agent itself said it. A turn that died without its Stop hook goes stale and the other
   signals take over, so a session never stays "active" forever.
3. The agent's own records (Claude's session file, Codex's rollout).
4. The plugin's reading of its own screens (a recognised prompt, spinner, footer).
5. Generic signals for any program: its process running or running a job (active), or sleeping
   in a read of its terminal on a screen quiet for QUIET seconds (idle) — these overrule a
   generic guess such as "the last line ends in `>`".
6. The guess, then a stale hook, when nothing better is there.

No I/O, no clock: ages and quiet times arrive as numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from aod.plugins.agent import ScreenReading

HOOK_FRESH: Final = 90.0
"""Seconds a hook's report outranks the agent's records and screen."""
QUIET: Final = 1.0
"""Seconds without a change on screen before a program reading its terminal counts as idle."""
READY_QUIET: Final = 2.0
"""Seconds of a quiet screen that make an agent whose prompt aod cannot recognise ready for a
message, when nothing says it is busy."""

WAITING: Final = frozenset({"waiting_input", "blocked"})


@dataclass(frozen=True)
class Signals:
    screen: ScreenReading | None = None
    """The plugin's reading of the screen (None: not looked at, or no evidence: `screen_evidence`)."""
    native: ScreenReading | None = None
    hook: ScreenReading | None = None
    hook_age: float | None = None
    """Seconds since the hook reported `hook`."""
    process: str | None = None
    """aod.procinfo.foreground(): `job`, `running`, `reading`, or None."""
    quiet_for: float | None = None
    """Seconds since what the screen shows last changed."""
    report: ScreenReading | None = None
    """The agent's standing report (`report_reading`)."""


REPORTED_ACTIVITY: Final = {"working": "active", "done": "idle", "blocked": "blocked", "needs_input": "waiting_input"}
_REPORT_DETAIL: Final = {"working": "reports it is working", "done": "reports it is done",
                         "blocked": "reports it is blocked", "needs_input": "asks a question"}


def report_reading(status: str, message: str, *, age: float | None, hook_spoke_since: bool,
                   hook_fresh: float = HOOK_FRESH) -> ScreenReading | None:
    """What an agent's report says now, or None when it no longer stands: a hook spoke after
    it (the agent moved on by itself), or it said `working` longer ago than a hook stays fresh.
    `age`: seconds since the report (None: unknown)."""
    activity = REPORTED_ACTIVITY.get(status)
    if activity is None or hook_spoke_since:
        return None
    if status == "working" and (age is None or age >= hook_fresh):
        return None
    return ScreenReading(activity, message or _REPORT_DETAIL[status])


def judge(signals: Signals, *, hook_fresh: float = HOOK_FRESH) -> ScreenReading | None:
    screen, hook = signals.screen, signals.hook
    if screen is not None and screen.activity in WAITING:
        return screen
    if signals.report is not None:
        return signals.report
    if hook is not None and signals.hook_age is not None and signals.hook_age < hook_fresh:
        return hook
    if signals.native is not None:
        return signals.native
    if screen is not None and screen.activity != "unknown" and not screen.guess:
        return screen
    if signals.process in ("running", "job"):
        what = "its process is running" if signals.process == "running" else "a job runs in its terminal"
        return ScreenReading("active", what)
    quiet = signals.quiet_for is not None and signals.quiet_for >= QUIET
    if signals.process == "reading" and quiet:
        return ScreenReading("idle", "reads its terminal")
    if screen is not None and screen.activity != "unknown":
        return screen
    if hook is not None:
        return hook
    return screen


def screen_evidence(reading: ScreenReading | None, *, looked_now: bool) -> ScreenReading | None:
    """What the screen says this tick. A screen captured now says what the plugin read; one not
    captured again because nothing on it moved still shows what it showed: a prompt or a
    question stays as it was until something happens. Not so "active" (a spinner that stopped
    moving is no sign of work) or "unknown": for those the other signals decide."""
    if reading is None or looked_now:
        return reading
    return reading if reading.activity not in ("active", "unknown") else None


def ready_for_a_message(signals: Signals, *, knows_its_prompt: bool) -> str:
    """The activity that decides whether a message may be pasted now: `idle`/`ready` say yes.

    An agent whose prompt its plugin recognises is ready only when the plugin (or a hook) says
    so: a TUI ignores a paste sent before its input box is drawn. For any other program a quiet
    screen is enough when nothing says it is busy or asking: its pasted text is verified anyway."""
    reading = judge(signals)
    activity = reading.activity if reading is not None else "unknown"
    if activity == "unknown" and not knows_its_prompt:
        if signals.quiet_for is not None and signals.quiet_for >= READY_QUIET:
            return "ready"
    return activity
