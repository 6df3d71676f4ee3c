"""The user's screen patterns (`agents.NAME.screen` in config) laid over any agent plugin.

A custom agent's program shows whatever it likes: its user can say what its prompt, its busy
screen and its questions look like, and where its input line is. The patterns are searched in
each of the bottom lines of the screen, before the plugin's own reading: a question first, then
"working", then "idle". Whatever they do not match is left to the plugin.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from aod.plugins.agent import Agent, ScreenPatterns, ScreenReading
from aod.plugins.agent.custom import screen_tail

BOTTOM_LINES = 5
"""Lines at the bottom of the screen the patterns are searched in."""


@functools.lru_cache(maxsize=256)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) for p in patterns)


def _first_match(patterns: tuple[str, ...], lines: list[str]) -> str | None:
    for pattern in _compiled(patterns):
        for line in reversed(lines):
            if pattern.search(line):
                return line.strip()
    return None


class PatternedAgent:
    """`inner` with `patterns` consulted first; every other attribute is the inner plugin's."""

    def __init__(self, inner: Agent, patterns: ScreenPatterns) -> None:
        self.inner = inner
        self.patterns = patterns
        self.reads_its_prompt = inner.reads_its_prompt or bool(patterns.idle)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def read_screen(self, screen: str) -> ScreenReading:
        bottom = screen_tail(screen, BOTTOM_LINES)
        found = _first_match(self.patterns.waiting, bottom)
        if found is not None:
            return ScreenReading("waiting_input", found)
        if _first_match(self.patterns.working, bottom) is not None:
            return ScreenReading("active")
        if _first_match(self.patterns.idle, bottom) is not None:
            return ScreenReading("idle")
        return self.inner.read_screen(screen)

    def read_input(self, screen: str) -> str | None:
        if self.patterns.input:
            (pattern,) = _compiled((self.patterns.input,))
            for line in reversed(screen_tail(screen, BOTTOM_LINES)):
                match = pattern.search(line)
                if match is not None:
                    return (match.groupdict().get("input") or "").strip()
        return self.inner.read_input(screen)


def with_patterns(agent: Agent, patterns: ScreenPatterns) -> Agent:
    return PatternedAgent(agent, patterns) if patterns else agent  # type: ignore[return-value]
