"""Aider (`aider`): launch flags and its plain line-mode prompt.

Aider is a line-mode program: at its prompt the last line is `> ` (or `<mode>> `, e.g.
`architect> `); a confirmation asks `... (Y)es/(N)o ...`. While it streams a reply nothing on
screen says so, so that reads as unknown. It keeps no live status file.
"""

from __future__ import annotations

import re

from aod.plugins.agent import AgentSettings, LaunchCommand, LaunchContext, ScreenReading
from aod.plugins.agent.custom import compose_launch, screen_tail

# `> `, `architect> `, `ask> `, `multi> `, followed by whatever has been typed.
_PROMPT = re.compile(r"^(?:[\w-]+ ?)?>(?: (?P<rest>.*))?$")


class AiderAgent:
    name = "aider"
    executable = "aider"
    supports_resume = False
    reads_its_prompt = True

    def launch(self, settings: AgentSettings, ctx: LaunchContext) -> LaunchCommand:
        flags: list[str] = []
        if settings.model:
            flags += ["--model", settings.model]
        if settings.permissions == "bypass":
            flags.append("--yes-always")
        return compose_launch(
            default_head=[self.executable],
            flags=flags,
            settings=settings,
            ctx=ctx,
            default_prompt_mode="paste",
        )

    def read_screen(self, screen: str) -> ScreenReading:
        tail = screen_tail(screen)
        if not tail:
            return ScreenReading("unknown")
        if any("(Y)es/(N)o" in line for line in tail[-2:]):
            return ScreenReading("waiting_input", tail[-1].strip())
        if _PROMPT.match(tail[-1]):
            return ScreenReading("idle")
        return ScreenReading("unknown")

    def read_input(self, screen: str) -> str | None:
        tail = screen_tail(screen)
        match = _PROMPT.match(tail[-1]) if tail else None
        if match is None:
            return None
        return (match.group("rest") or "").strip()

    def read_native(self, ctx: LaunchContext, pid: int | None) -> ScreenReading | None:
        return None

    def prepare(self, ctx: LaunchContext, settings: AgentSettings | None = None) -> None:
        return None
