"""Submitting text to an agent, the one correct way (LESSONS.md, "Talking to agents").

    paste (one bracketed paste) -> wait until the screen settles -> Enter -> verify,
    pressing Enter again with growing waits when the first one was swallowed.

"Output changed" alone is not proof: verification asks the agent plugin whether the input line
is empty (`input_is_empty`). Only when the plugin cannot tell (it returns None) does it fall
back to "the screen changed since the paste settled and the pasted text's last line left the
bottom of the screen".

This module holds no policy: no queues, no "one message in flight" bookkeeping (the caller
keeps that), no knowledge of any agent's screens (the predicates come from the agent plugin).
Waiting is always on a condition with a deadline, never a fixed sleep. Errors raised by the
runtime propagate: one raised by `paste` means nothing was sent; one raised later means the
outcome is unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import trio

from aod.model import RuntimeHandle
from aod.plugins.runtime import Runtime

POLL_INTERVAL = 0.05
"""Seconds between two screen captures while waiting."""
SETTLED_POLLS = 2
"""A paste has settled when this many captures in a row showed the same screen."""
BOTTOM_LINES = 3


@dataclass(frozen=True)
class DeliveryResult:
    submitted: bool
    """True when the agent was seen taking the text; False: not verified (it may still be
    sitting in the input, or the agent may have taken it without showing it)."""
    enter_presses: int
    detail: str


def _last_text_line(text: str) -> str:
    for line in reversed(text.split("\n")):
        if line.strip():
            return line.strip()
    return ""


def _text_at_bottom(screen: str, last_line: str) -> bool:
    if not last_line:
        return False
    bottom = [line for line in screen.split("\n") if line.strip()][-BOTTOM_LINES:]
    return any(last_line in line for line in bottom)


async def _settle(
    runtime: Runtime,
    handle: RuntimeHandle,
    before: str,
    input_is_empty: Callable[[str], bool | None],
    timeout: float,
) -> tuple[str, bool]:
    """Poll until the paste shows (the screen differs from `before`, or the input is no longer
    empty) and the screen stayed the same for SETTLED_POLLS captures. Returns the last screen
    and whether it settled within `timeout`."""
    screen = before
    with trio.move_on_after(timeout):
        same = 0
        previous: str | None = None
        while True:
            screen = await runtime.capture(handle)
            arrived = screen != before or input_is_empty(screen) is False
            same = same + 1 if screen == previous else 0
            if arrived and same >= SETTLED_POLLS:
                return screen, True
            previous = screen
            await trio.sleep(POLL_INTERVAL)
    return screen, False


async def deliver(
    runtime: Runtime,
    handle: RuntimeHandle,
    text: str,
    *,
    input_is_empty: Callable[[str], bool | None],
    settle_timeout: float = 5.0,
    attempts: int = 4,
    verify_window: float = 0.2,
) -> DeliveryResult:
    """Paste `text` into the agent's input and submit it; see the module docstring.

    `input_is_empty(screen)`: True when the agent's input line is empty, False when it holds
    text, None when the screen does not say. `attempts`: the most Enter presses; after press
    k the wait for proof is `verify_window * 2**(k-1)` seconds.
    """
    attempts = max(1, attempts)
    if not text.strip("\x00"):
        return DeliveryResult(False, 0, "nothing to send: the text is empty")
    before = await runtime.capture(handle)
    await runtime.paste(handle, text)
    settled, calm = await _settle(runtime, handle, before, input_is_empty, settle_timeout)
    # When the input already looked empty with the text pasted in, the predicate cannot see
    # this paste; then "empty" is no evidence and the screen-change rule decides.
    trust_predicate = input_is_empty(settled) is not True
    last_line = _last_text_line(text)

    def submitted(screen: str) -> bool:
        verdict = input_is_empty(screen) if trust_predicate else None
        if verdict is not None:
            return verdict
        return screen != settled and not _text_at_bottom(screen, last_line)

    presses = 0
    window = verify_window
    screen = settled
    while presses < attempts:
        await runtime.press_enter(handle)
        presses += 1
        with trio.move_on_after(window):
            while True:
                await trio.sleep(POLL_INTERVAL)
                screen = await runtime.capture(handle)
                if submitted(screen):
                    how = "input emptied" if trust_predicate else "screen changed"
                    note = "" if calm else f"; the paste did not settle in {settle_timeout:g}s"
                    return DeliveryResult(True, presses, f"{how} after Enter #{presses}{note}")
        window *= 2
    return DeliveryResult(
        False,
        presses,
        f"not verified after {presses} Enter presses"
        + ("" if calm else f"; the paste did not settle in {settle_timeout:g}s"),
    )


async def press_enter_until_taken(
    runtime: Runtime,
    handle: RuntimeHandle,
    input_is_empty: Callable[[str], bool | None],
    attempts: int = 4,
    verify_window: float = 0.2,
) -> bool:
    """Text already sits in the agent's input (a paste a crash interrupted): press Enter until
    the input empties, with the same backoff as `deliver`."""
    window = verify_window
    for _ in range(max(1, attempts)):
        await runtime.press_enter(handle)
        with trio.move_on_after(window):
            while True:
                await trio.sleep(POLL_INTERVAL)
                if input_is_empty(await runtime.capture(handle)) is True:
                    return True
        window *= 2
    return False


async def wait_until_ready(
    runtime: Runtime,
    handle: RuntimeHandle,
    is_ready: Callable[[str], bool],
    *,
    timeout: float,
    stable_for: float = 0.3,
) -> bool:
    """Wait until `is_ready(screen)` holds and the screen has not changed for `stable_for`
    seconds. False when that did not happen within `timeout`."""
    with trio.move_on_after(timeout):
        previous: str | None = None
        changed_at = trio.current_time()
        while True:
            screen = await runtime.capture(handle)
            now = trio.current_time()
            if screen != previous:
                previous = screen
                changed_at = now
            if is_ready(screen) and now - changed_at >= stable_for:
                return True
            await trio.sleep(POLL_INTERVAL)
    return False
