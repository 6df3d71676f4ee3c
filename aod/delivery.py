"""Submitting text to an agent, the one correct way (LESSONS.md, "Talking to agents").

    look → paste (unless an earlier attempt left our text in the input) → wait until the
    screen settles → Enter → verify, pressing Enter again ONLY while our text visibly stays
    in the input (or, where it cannot be seen there, while nothing on screen moved).

Where is our text? `locate()` answers from one look at the screen:
- `input`: the agent's input box holds it (the plugin's `read_input`; for a line-mode program
  the plugin cannot read, the cursor's row ends with the text's last line);
- `conversation`: it is on screen, and the input box (read by the plugin) holds something else:
  the agent took it;
- `seen`: it is on screen, but nothing tells whether in the input or above it (an agent whose
  input aod cannot read): never taken as proof either way;
- `absent`: nowhere to be seen.

Why Enter is pressed again only while our text is in the input: an agent that took the message
may at once ask something (`(y/n)`, a permission dialog); a second Enter would answer it for a
person who never saw the question. A new prompt or dialog means the message was taken.

"Unknown" is never "submitted": a result says `submitted=True` only on evidence (our text left
the input, or the screen changed after Enter where the input cannot be read). Otherwise the
caller retries within its budget (`in_input` tells it not to paste again) and then tells a
person.

This module holds no queues and no knowledge of any agent's screens (the readers come from the
agent plugin). Waiting is always on a condition with a deadline, never a fixed sleep. Errors
raised by the runtime propagate: one raised by `paste` means nothing was sent; one raised
later means the outcome is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import trio

from aod.model import RuntimeHandle
from aod.plugins.runtime import Look, Runtime

POLL_INTERVAL = 0.05
"""Seconds between two looks at the screen while waiting."""
SETTLED_POLLS = 2
"""A paste has settled when this many looks in a row showed the same screen."""
LOOK_LINES = 200
"""Lines looked at: the visible screen and the scrollback a just-taken message is still in."""
USER_TEXT_LINES = 40
"""A message without a marker is looked for only this far up: older lines may hold an
earlier message with the same words."""
NEEDLE_CHARS = 60
MIN_NEEDLE = 8
"""Shorter lines are too common to prove that our message is on screen."""

Where = Literal["input", "conversation", "seen", "absent"]
InputReader = Callable[[str], "str | None"]
"""The agent plugin's `read_input`: what its input box holds ("" empty), None: not on screen."""

# What TUIs show in their input instead of a long paste (`[Pasted text #1 +20 lines]`).
_PASTE_PLACEHOLDER = re.compile(r"\[Past(?:ed|ing) text")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class DeliveryResult:
    submitted: bool
    """True only on evidence that the agent took the text."""
    enter_presses: int
    detail: str
    in_input: bool = False
    """Not submitted, and our text was last seen still in the input: a retry presses Enter
    again instead of pasting a second copy."""


def _squash(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def needles(text: str, marker: str = "") -> tuple[str, ...]:
    """Short pieces of `text` that prove it is on screen when found there: its marker, and its
    first and last lines when they are long enough to be distinctive."""
    found = [marker] if marker else []
    lines = _lines(text)
    if lines:
        for piece in (lines[0][:NEEDLE_CHARS], lines[-1][-NEEDLE_CHARS:]):
            if len(piece) >= MIN_NEEDLE and piece not in found:
                found.append(piece)
    return tuple(found)


def holds(content: str, text: str, marker: str = "") -> bool:
    """Does an input box holding `content` hold our `text` (or a part of it, as a box shows a
    long text's first line only, or a placeholder for a big paste)?"""
    squashed = _squash(content)
    if not squashed:
        return False
    if _PASTE_PLACEHOLDER.search(content):
        return True
    if any(_squash(n) in squashed for n in needles(text, marker)):
        return True
    return squashed in _squash(text)


def _at_cursor(before_cursor: str | None, text: str) -> bool:
    """The cursor's row ends with the text's last line (a line-mode program's input line), or
    with the end of it (a long line wrapped onto the cursor's row)."""
    if not before_cursor:
        return False
    row = before_cursor.strip()
    lines = _lines(text)
    if not row or not lines:
        return False
    last = lines[-1]
    return row.endswith(last) or (len(row) >= min(len(last), 4) and last.endswith(row))


def locate(look: Look, text: str, read_input: InputReader, marker: str = "") -> Where:
    """Where our `text` is on the screen `look` shows; see the module docstring."""
    content = read_input(look.text)
    if content is not None:
        if holds(content, text, marker):
            return "input"
    elif _at_cursor(look.before_cursor, text):
        return "input"
    if _on_screen(look.text.split("\n"), text, marker):
        return "conversation" if content is not None else "seen"
    return "absent"


def _on_screen(rows: list[str], text: str, marker: str) -> bool:
    """Is our text on screen above the input? The marker anywhere proves it; without one, the
    first line's needle near the bottom, or the last line's with the first line above it. The last
    line alone proves nothing while the first could be on screen too: an earlier message may end
    the same way (a run of `x`s, "then push it"), and taking that for ours drops a message."""
    if marker and any(marker in row for row in rows):
        return True
    pieces = [n for n in needles(text, "") if n != marker]
    if not pieces:
        return False
    recent = rows[-USER_TEXT_LINES:]
    lines = _lines(text)
    first = pieces[0] if len(lines[0]) >= MIN_NEEDLE else None
    last = pieces[-1] if len(lines[-1]) >= MIN_NEEDLE and (first is None or pieces[-1] != first) else None
    if first is not None and any(first in row for row in recent):
        return True
    if last is None:
        return False
    offset = len(rows) - len(recent)
    for index, row in enumerate(recent):
        if last in row:
            above = rows[: offset + index + 1]
            if first is None or len(lines) > len(rows) or any(first in r for r in above):
                return True
    return False


async def _settle(
    runtime: Runtime, handle: RuntimeHandle, before: Look, arrived: Callable[[Look], bool], timeout: float
) -> tuple[Look, bool]:
    """Look until the paste shows (the screen differs from `before`, or our text is in the
    input) and the screen stayed the same for SETTLED_POLLS looks. Returns the last look and
    whether it settled within `timeout`."""
    look = before
    with trio.move_on_after(timeout):
        same = 0
        previous: str | None = None
        while True:
            look = await runtime.look(handle, LOOK_LINES)
            same = same + 1 if look.text == previous else 0
            if (look.text != before.text or arrived(look)) and same >= SETTLED_POLLS:
                return look, True
            previous = look.text
            await trio.sleep(POLL_INTERVAL)
    return look, False


async def deliver(
    runtime: Runtime,
    handle: RuntimeHandle,
    text: str,
    *,
    read_input: InputReader,
    marker: str = "",
    resuming: bool = False,
    taken_elsewhere: Callable[[], Awaitable[bool]] | None = None,
    asks: Callable[[str], bool] = lambda _screen: False,
    on_pasted: Callable[[], Awaitable[None]] | None = None,
    settle_timeout: float = 5.0,
    attempts: int = 4,
    verify_window: float = 0.4,
) -> DeliveryResult:
    """Paste `text` into the agent's input and submit it; see the module docstring.

    `resuming`: an earlier attempt (or an aod that crashed) may have pasted this text: found in
    the input (or on a screen whose input cannot be read), only Enter is pressed; found in the
    conversation, or by `taken_elsewhere` (the agent's own transcript), or on screen above a
    question (`asks(screen)`: the plugin sees the agent asking), it counts as submitted and
    nothing is sent. `on_pasted` runs
    between the paste and the first Enter. `attempts`: the most Enter presses; after press k
    the wait for proof is `verify_window * 2**(k-1)` seconds.
    """
    attempts = max(1, attempts)
    if not text.strip("\x00"):
        return DeliveryResult(False, 0, "nothing to send: the text is empty")
    if not runtime.echoes_input:
        # A pipe: a completed write is the agent's input, and nothing can be seen of it.
        await runtime.paste(handle, text)
        if on_pasted is not None:
            await on_pasted()
        await runtime.press_enter(handle)
        return DeliveryResult(True, 1, "written to the agent's input")

    def where(look: Look) -> Where:
        return locate(look, text, read_input, marker)

    before = await runtime.look(handle, LOOK_LINES)
    start = where(before)
    note = ""
    if resuming and start == "conversation":
        return DeliveryResult(True, 0, "found in the conversation; not pasted again")
    if resuming and start != "input" and taken_elsewhere is not None and await taken_elsewhere():
        return DeliveryResult(True, 0, "found in the agent's transcript; not pasted again")
    if resuming and start == "seen" and asks(before.text):
        # A question is up and our text is above it: the agent took it and asks a person now.
        # Enter would answer the question.
        return DeliveryResult(True, 0, "on screen, and the agent asks a question since; not pasted again")
    if resuming and start in ("input", "seen"):
        # On screen already: a second copy must not follow. Only Enter, and its proof.
        settled = before
        note = "; it was still in the input" if start == "input" else "; it was on screen already"
    else:
        await runtime.paste(handle, text)
        if on_pasted is not None:
            await on_pasted()
        settled, calm = await _settle(
            runtime, handle, before, lambda look: where(look) == "input", settle_timeout
        )
        if not calm:
            note = f"; the paste did not settle in {settle_timeout:g}s"
    # Can our text be seen in the input? Then "it left the input" is the proof; else only
    # "the screen moved after Enter" is.
    visible = where(settled) == "input"
    presses = 0
    window = verify_window
    look = settled
    while presses < attempts:
        if asks(look.text) and where(look) != "input":
            # A choice the user did not make is on screen (a dialog drawn over the input): an
            # Enter would make it. The agent needs a person now. (With our text in the input,
            # a question on screen is ours: a message that itself asks "(y/n)".)
            return DeliveryResult(
                False, presses, f"the agent shows a question; Enter not pressed{note}", in_input=visible
            )
        await runtime.press_enter(handle)
        presses += 1
        # Two looks in a row must agree that the agent took it: a TUI caught halfway through
        # a redraw shows neither its input nor anything else for a moment. Enter is pressed
        # again only after a look that still showed our text in the input (or, where it
        # cannot be seen there, a screen that had not moved at all).
        deadline = trio.current_time() + window
        agreeing = 0
        while True:
            await trio.sleep(POLL_INTERVAL)
            look = await runtime.look(handle, LOOK_LINES)
            taken = where(look) != "input" if visible else look.text != settled.text
            agreeing = agreeing + 1 if taken else 0
            if agreeing >= 2:
                how = "our text left the input" if visible else "the screen changed"
                return DeliveryResult(True, presses, f"{how} after Enter #{presses}{note}")
            if not taken and trio.current_time() >= deadline:
                break
        window *= 2
    if visible:
        return DeliveryResult(
            False, presses, f"still in the input after {presses} Enter presses{note}", in_input=True
        )
    return DeliveryResult(
        False,
        presses,
        f"nothing on screen changed after {presses} Enter presses{note}",
        in_input=where(settled) == "seen",
    )


async def wait_until_ready(
    runtime: Runtime,
    handle: RuntimeHandle,
    activity: Callable[[Look, float], str],
    *,
    timeout: float,
    stable_for: float = 0.3,
    also: frozenset[str] = frozenset(),
) -> str:
    """Wait until `activity(look, quiet_seconds)` says `idle` or `ready` and the screen has not
    changed for `stable_for` seconds. Returns `ready`, or an activity in `also` as soon as it
    holds as steadily, or the last activity seen when neither happened within `timeout` (the
    caller tells a question on screen from a busy agent)."""
    last = "unknown"
    with trio.move_on_after(timeout):
        previous: str | None = None
        changed_at = trio.current_time()
        while True:
            look = await runtime.look(handle, LOOK_LINES)
            now = trio.current_time()
            if look.text != previous:
                previous = look.text
                changed_at = now
            quiet = now - changed_at
            last = activity(look, quiet)
            if last in ("idle", "ready") and quiet >= stable_for:
                return "ready"
            if last in also and quiet >= stable_for:
                return last
            await trio.sleep(POLL_INTERVAL)
    return last
