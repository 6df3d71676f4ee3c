"""opencode (`opencode`): launch flags, permissions and screens.

Measured on 1.18.33 (the screens are in tests/fixtures/screens/opencode/, captured from the real
CLI after zero, one and two turns): the input box is a column of `┃` lines closed by a `╹▀▀▀`
line; its last `┃` line names the agent and model (`Build · Fake Fake`), the lines above it hold
what was typed (the `Ask anything…` placeholder only before the first message). Below the box,
the footer ends in `ctrl+p commands` on every screen; while a turn runs it starts with a
progress strip and `esc interrupt`. A permission question replaces the box (`△ Permission
required … Allow once   Allow always   Reject`). The TUI ignores a paste sent before the box is
drawn, so readiness waits for it. Activity lives in a SQLite database, which this plugin does
not read.

Permissions: `bypass` sets `OPENCODE_PERMISSION` so edits, shell commands and fetches never ask
(the session works alone in its worktree); `default` leaves opencode's own settings alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from aod.plugins.agent import AgentSettings, LaunchCommand, LaunchContext, ScreenReading
from aod.plugins.agent.custom import compose_launch, screen_tail

_PLACEHOLDER = "Ask anything"
_FOOTER = "ctrl+p commands"
_WORKING = "esc interrupt"
_QUESTION = "Permission required"
_BOX = "┃"
_BOX_END = "╹"
CONFIG_CONTENT = "OPENCODE_CONFIG_CONTENT"
"""Config that opencode merges over the user's files: the MCP server goes here, never in a file."""


def config_with_mcp(inherited: str | None, argv: Sequence[str], env: Mapping[str, str]) -> str:
    """`OPENCODE_CONFIG_CONTENT` with the local MCP server `aod` (`aoctl mcp`) added to whatever
    the user (or the agent's `env`) already put there. A value that is not a JSON object cannot
    be merged and is replaced (opencode could not have read it either)."""
    config: dict[str, Any] = {}
    if inherited:
        try:
            parsed = json.loads(inherited)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            config = parsed
    servers = config.get("mcp") if isinstance(config.get("mcp"), dict) else {}
    config["mcp"] = {**servers, "aod": {"type": "local", "command": list(argv), "environment": dict(env), "enabled": True}}
    return json.dumps(config, separators=(",", ":"))


BYPASS = json.dumps({"edit": "allow", "bash": "allow", "webfetch": "allow"})


def _box(tail: list[str]) -> list[str] | None:
    """The input box's text lines (the agent/model line left out), or None when no box shows."""
    end = next((i for i in range(len(tail) - 1, -1, -1) if tail[i].lstrip().startswith(_BOX_END)), None)
    if end is None:
        return None
    lines: list[str] = []
    for line in reversed(tail[:end]):
        stripped = line.lstrip()
        if not stripped.startswith(_BOX):
            break
        lines.append(stripped[len(_BOX) :].strip())
    lines.reverse()
    return lines[:-1] if lines else None


class OpencodeAgent:
    name = "opencode"
    executable = "opencode"
    supports_resume = False
    reads_its_prompt = True
    speaks_mcp = True  # launch() wires `aoctl mcp` in as the server `aod` (LaunchContext.mcp)

    def launch(self, settings: AgentSettings, ctx: LaunchContext) -> LaunchCommand:
        flags: list[str] = []
        if settings.model:
            flags += ["--model", settings.model]
        env = {"OPENCODE_DISABLE_AUTOUPDATE": "1"}
        if settings.permissions == "bypass":
            env["OPENCODE_PERMISSION"] = BYPASS
        command = compose_launch(
            default_head=[self.executable],
            flags=flags,
            settings=settings,
            ctx=ctx,
            default_prompt_mode="paste",
            env=env,
        )
        if ctx.mcp:
            inherited = command.env.get(CONFIG_CONTENT) or ctx.env.get(CONFIG_CONTENT) or os.environ.get(CONFIG_CONTENT)
            command.env[CONFIG_CONTENT] = config_with_mcp(inherited, ctx.mcp, ctx.mcp_env)
        return command

    def read_screen(self, screen: str) -> ScreenReading:
        tail = screen_tail(screen, 40)
        bottom = "\n".join(tail[-12:])
        if _QUESTION in bottom:
            return ScreenReading("waiting_input", "permission prompt")
        footer = "\n".join(tail[-3:])
        if _WORKING in footer:
            return ScreenReading("active")
        if _FOOTER in footer and _box(tail) is not None:
            return ScreenReading("idle")
        return ScreenReading("unknown")

    def read_input(self, screen: str) -> str | None:
        tail = screen_tail(screen, 40)
        if _QUESTION in "\n".join(tail[-12:]):
            return None
        lines = _box(tail)
        if lines is None:
            return None
        content = "\n".join(line for line in lines if line).strip()
        return "" if content.startswith(_PLACEHOLDER) else content

    def read_native(self, ctx: LaunchContext, pid: int | None) -> ScreenReading | None:
        return None

    def prepare(self, ctx: LaunchContext, settings: AgentSettings | None = None) -> None:
        return None
