"""activity.judge: which signal wins, and every signal's fallback (pure)."""

from __future__ import annotations

import pytest

from aod.activity import HOOK_FRESH, QUIET, READY_QUIET, Signals, judge, ready_for_a_message
from aod.plugins.agent import ScreenReading

IDLE = ScreenReading("idle")
ACTIVE = ScreenReading("active")
ASKS = ScreenReading("waiting_input", "Do you want to create hello.py?")
UNKNOWN = ScreenReading("unknown")
GUESS = ScreenReading("idle", guess=True)


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        # A question on screen beats a fresh hook and the agent's records.
        (Signals(screen=ASKS, hook=ACTIVE, hook_age=1, native=ACTIVE), "waiting_input"),
        # A fresh hook beats the records and the screen.
        (Signals(screen=ACTIVE, hook=IDLE, hook_age=1, native=ACTIVE), "idle"),
        # A stale hook (a turn that died without its Stop hook) does not: the screen decides.
        (Signals(screen=IDLE, hook=ACTIVE, hook_age=HOOK_FRESH + 1), "idle"),
        (Signals(screen=UNKNOWN, native=IDLE, hook=ACTIVE, hook_age=HOOK_FRESH + 1), "idle"),
        # ... and when nothing else says anything, the stale hook is still the best guess.
        (Signals(screen=UNKNOWN, hook=ACTIVE, hook_age=HOOK_FRESH + 1), "active"),
        (Signals(native=ACTIVE, screen=IDLE), "active"),
        (Signals(screen=ACTIVE), "active"),
        # The process overrules a generic guess, and speaks when the screen says nothing.
        (Signals(screen=GUESS, process="running"), "active"),
        (Signals(screen=GUESS, process="job"), "active"),
        (Signals(screen=UNKNOWN, process="reading", quiet_for=QUIET), "idle"),
        (Signals(screen=UNKNOWN, process="reading", quiet_for=QUIET / 2), "unknown"),
        (Signals(screen=GUESS, process=None), "idle"),
        # The plugin's own recognised screen is not overruled by a process sample.
        (Signals(screen=IDLE, process="running"), "idle"),
        (Signals(screen=UNKNOWN), "unknown"),
    ],
)
def test_judge(signals: Signals, expected: str) -> None:
    reading = judge(signals)
    assert reading is not None and reading.activity == expected


def test_judge_with_nothing_to_go_on_changes_nothing() -> None:
    assert judge(Signals()) is None


def test_a_quiet_screen_makes_an_unrecognised_program_ready_but_not_a_known_tui() -> None:
    quiet = Signals(screen=UNKNOWN, quiet_for=READY_QUIET)
    assert ready_for_a_message(quiet, knows_its_prompt=False) == "ready"
    # A TUI ignores a paste sent before its input box is drawn: its own prompt decides.
    assert ready_for_a_message(quiet, knows_its_prompt=True) == "unknown"
    assert ready_for_a_message(Signals(screen=UNKNOWN, quiet_for=READY_QUIET / 2), knows_its_prompt=False) == "unknown"
    # Busy or asking is never ready, however quiet.
    busy = Signals(screen=UNKNOWN, process="running", quiet_for=60)
    assert ready_for_a_message(busy, knows_its_prompt=False) == "active"
    assert ready_for_a_message(Signals(screen=ASKS, quiet_for=60), knows_its_prompt=False) == "waiting_input"


def test_a_hook_report_from_before_this_aod_started_is_stale() -> None:
    from aod.observe import _hook_age

    started = 1_000_000.0
    assert _hook_age("", started + 10, started) is None
    assert _hook_age("1970-01-12T13:46:45Z", started + 10, started) == 5.0  # 1_000_005: after the start
    stale = _hook_age("1970-01-12T13:46:35Z", started + 10, started)  # 999_995: while aod was down
    assert stale == float("inf")
    assert judge(Signals(screen=IDLE, hook=ACTIVE, hook_age=stale)).activity == "idle"  # type: ignore[union-attr]


def test_a_screen_that_did_not_move_still_shows_its_prompt_but_not_its_spinner() -> None:
    from aod.activity import screen_evidence

    idle, asking, busy = ScreenReading("idle", ""), ScreenReading("waiting_input", "y/n"), ScreenReading("active", "")
    assert screen_evidence(busy, looked_now=True) == busy
    assert screen_evidence(idle, looked_now=False) == idle
    assert screen_evidence(asking, looked_now=False) == asking
    assert screen_evidence(busy, looked_now=False) is None
    assert screen_evidence(ScreenReading("unknown", ""), looked_now=False) is None
    # The regression: an agent back at its prompt, its pane unchanged since, and a hook report
    # from before aod restarted saying "active": the prompt wins, the stale hook does not.
    stale = Signals(screen=screen_evidence(idle, looked_now=False), hook=busy, hook_age=float("inf"))
    assert judge(stale) == idle


def test_the_agent_s_report_outranks_all_but_a_question_on_screen_while_it_stands() -> None:
    from aod.activity import report_reading

    blocked = report_reading("blocked", "no API key", age=5_000, hook_spoke_since=False)
    assert blocked == ScreenReading("blocked", "no API key")  # stands however old: until a message
    assert judge(Signals(screen=ACTIVE, native=ACTIVE, hook=ACTIVE, hook_age=1, report=blocked)).activity == "blocked"
    assert judge(Signals(screen=ASKS, report=blocked)) == ASKS
    assert report_reading("done", "", age=1, hook_spoke_since=False) == ScreenReading("idle", "reports it is done")
    assert report_reading("needs_input", "which db?", age=1, hook_spoke_since=False).activity == "waiting_input"  # type: ignore[union-attr]
    # The agent moved on by itself (a hook spoke after the report): it no longer stands.
    assert report_reading("done", "", age=1, hook_spoke_since=True) is None
    # `working` is only as fresh as a hook.
    assert report_reading("working", "", age=1, hook_spoke_since=False) == ScreenReading("active", "reports it is working")
    assert report_reading("working", "", age=HOOK_FRESH + 1, hook_spoke_since=False) is None
    assert report_reading("finished", "", age=1, hook_spoke_since=False) is None
