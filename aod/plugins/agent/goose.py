"""Goose (`goose session`): launch and its line-mode prompt `( O)> `.

The prompt glyph is matched leniently (`( O)>`, `(O)>`, other eye characters). No live status
file is read. The model, when set, goes through goose's `GOOSE_MODEL` variable, and bypass sets
`GOOSE_MODE=auto` (run tools without asking).
"""

from __future__ import annotations

import re

from aod.plugins.agent import AgentSettings, LaunchCommand, LaunchContext, ScreenReading
from aod.plugins.agent.custom import compose_launch, screen_tail

_PROMPT = re.compile(r"^\s*\(\s*\S?\s*\)>(?:\s(?P<rest>.*))?$")


class GooseAgent:
    name = "goose"
    executable = "goose"
    supports_resume = False
    reads_its_prompt = True

    def launch(self, settings: AgentSettings, ctx: LaunchContext) -> LaunchCommand:
        env: dict[str, str] = {}
        if settings.model:
            env["GOOSE_MODEL"] = settings.model
        if settings.permissions == "bypass":
            env["GOOSE_MODE"] = "auto"
        return compose_launch(
            default_head=[self.executable, "session"],
            flags=(),
            settings=settings,
            ctx=ctx,
            default_prompt_mode="paste",
            env=env,
        )

    def read_screen(self, screen: str) -> ScreenReading:
        tail = screen_tail(screen)
        if tail and _PROMPT.match(tail[-1]):
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
