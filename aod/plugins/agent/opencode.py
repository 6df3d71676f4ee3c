"""opencode (`opencode`): launch flags and screens.

Measured on 1.18.33: the TUI ignores a paste sent before its input box is drawn, so the prompt is
pasted once `Ask anything` shows. Activity lives in a SQLite database, which this plugin does not
read (no native reading yet): the `esc interrupt` footer is the working signal.
"""

from __future__ import annotations

from aod.plugins.agent import AgentSettings, LaunchCommand, LaunchContext, ScreenReading
from aod.plugins.agent.custom import compose_launch, screen_tail

_PLACEHOLDER = "Ask anything"
_FOOTER = "ctrl+p commands"


class OpencodeAgent:
    name = "opencode"
    executable = "opencode"
    supports_resume = False
    reads_its_prompt = True

    def launch(self, settings: AgentSettings, ctx: LaunchContext) -> LaunchCommand:
        flags: list[str] = []
        if settings.model:
            flags += ["--model", settings.model]
        return compose_launch(
            default_head=[self.executable],
            flags=flags,
            settings=settings,
            ctx=ctx,
            default_prompt_mode="paste",
            env={"OPENCODE_DISABLE_AUTOUPDATE": "1"},
        )

    def read_screen(self, screen: str) -> ScreenReading:
        text = "\n".join(screen_tail(screen))
        if "Permission required" in text:
            return ScreenReading("waiting_input", "permission prompt")
        if "esc interrupt" in text:
            return ScreenReading("active")
        if _PLACEHOLDER in text:
            return ScreenReading("idle")
        return ScreenReading("unknown")

    def read_input(self, screen: str) -> str | None:
        # The input box is the last `┃` line; its placeholder is drawn only while it is empty
        # (and only before the first message). The footer tells that the box is on screen.
        tail = screen_tail(screen)
        text = "\n".join(tail)
        if "Permission required" in text or _FOOTER not in text and "esc interrupt" not in text:
            return None
        box = next((line for line in reversed(tail) if line.lstrip().startswith("┃")), None)
        if box is None:
            return None
        content = box.lstrip()[1:].strip()
        return "" if content.startswith(_PLACEHOLDER) else content

    def read_native(self, ctx: LaunchContext, pid: int | None) -> ScreenReading | None:
        return None

    def prepare(self, ctx: LaunchContext, settings: AgentSettings | None = None) -> None:
        return None
