"""The agent slot: how to launch one agent CLI, hand it a prompt and read what it is doing.

An agent plugin builds argv and env (no I/O), classifies a screen (pure), and reads the agent's
own records (transcript, session file) for activity. It never starts processes or sends text:
the runtime does that, the service decides when.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

PromptMode = Literal["argv", "paste"]


@dataclass(frozen=True)
class ScreenPatterns:
    """The user's own patterns for an agent's screen (config `agents.NAME.screen`): regular
    expressions searched in each of the bottom lines. They win over the plugin's reading."""

    idle: tuple[str, ...] = ()
    """At its prompt, waiting for the next message."""
    working: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()
    """Asks a person something (a question, a permission)."""
    input: str | None = None
    """Finds the input line; its group `input` is what has been typed so far."""

    def __bool__(self) -> bool:
        return bool(self.idle or self.working or self.waiting or self.input)


@dataclass(frozen=True)
class AgentSettings:
    """The user's settings for an agent (config `agents.NAME`), already merged over defaults."""

    name: str
    command: Sequence[str] | None = None
    """Replaces the built-in's executable (and any fixed leading args), e.g. a wrapper script."""
    args: Sequence[str] = ()
    """Appended to the built-in argv."""
    env: Mapping[str, str] = field(default_factory=dict)
    prompt: PromptMode | None = None
    """Override how the first prompt is delivered."""
    model: str | None = None
    permissions: Literal["default", "bypass"] = "bypass"
    """bypass: run without approval prompts (the session works unattended in its own worktree)."""
    screen: ScreenPatterns = field(default_factory=ScreenPatterns)
    read_only: bool = False
    """Launch in the agent's read-only mode (its plugin's `read_only_mode`); set by aod for
    reviewer sessions, never by config."""


@dataclass(frozen=True)
class LaunchContext:
    session_id: str
    workspace: Path
    prompt: str
    """The composed first prompt (used only when the prompt mode is `argv`)."""
    resume: str | None = None
    """The agent's own conversation id to resume (restore), when it supports resuming."""
    home: Path = field(default_factory=Path.home)
    hook: Sequence[str] = ()
    """The argv that reports this agent's hook events to aod (`aoctl hook AGENT`); empty: no
    hooks. Plugins of agents with hooks wire it into the agent's per-session settings."""
    mcp: Sequence[str] = ()
    """The argv of the MCP server `aod` (`aoctl mcp`) for this session; empty: none. Plugins of
    agents that speak MCP wire it into the agent's per-session configuration."""
    mcp_env: Mapping[str, str] = field(default_factory=dict)
    """What that server needs in its environment (the session, aod's socket): agents give MCP
    servers only part of their own environment."""
    env: Mapping[str, str] = field(default_factory=dict)
    """The agent's own environment settings (config `agents.NAME.env`), over aod's: where the
    agent keeps its files (`CODEX_HOME`, `CLAUDE_CONFIG_DIR`) is read from both."""
    # issue 19, roles
    tools: Sequence[str] = ()
    """The tools the session's role allows (config `roles.NAME.tools`); empty: no allow-list.
    Only plugins with `takes_tool_allowlist = True` pass it to their CLI; for the others the
    spawn says the list is not enforced."""


@dataclass(frozen=True)
class LaunchCommand:
    argv: list[str]
    env: dict[str, str]
    prompt_mode: PromptMode
    """`argv`: the prompt is already in argv. `paste`: paste it once the agent is ready."""


@dataclass(frozen=True)
class ScreenReading:
    activity: str
    """One of aod.model.ACTIVITIES."""
    detail: str = ""
    """E.g. what the agent waits for ("permission prompt")."""
    guess: bool = False
    """A reading from a generic cue (a prompt glyph at the bottom), not from the agent's own
    screens: stronger evidence (its process running a job) overrides it."""


class Agent(Protocol):
    name: str
    executable: str
    """The program looked up on PATH (aoctl doctor reports whether it is there)."""
    supports_resume: bool
    reads_its_prompt: bool
    """True when `read_screen` recognises this agent's idle prompt for sure (its own screens);
    False: readiness falls back to generic signals (a quiet screen, the process reading its
    terminal)."""
    """When True, the plugin also has `resume_id(ctx) -> str | None`: the agent's own
    conversation id to continue on `aoctl restore`."""

    def launch(self, settings: AgentSettings, ctx: LaunchContext) -> LaunchCommand: ...

    # read_only_mode: str | None  (optional attribute) — how the plugin's launch() honours
    # `settings.read_only` (e.g. "--permission-mode plan"); absent or None: the agent has no
    # read-only mode. The plugin says how; aod decides when (reviewer sessions).

    def read_screen(self, screen: str) -> ScreenReading:
        """Activity from the last lines of the screen (pure). `unknown` when nothing matches."""
        ...

    def read_input(self, screen: str) -> str | None:
        """What the agent's input box holds right now ("" when it is empty), or None when the
        screen shows no input box this plugin recognises (a dialog is up, a turn runs)."""
        ...

    def read_native(self, ctx: LaunchContext, pid: int | None) -> ScreenReading | None:
        """Activity from the agent's own records (session file, transcript), or None when it has
        none or they say nothing. Synchronous file reads; called in a worker thread. Must read
        incrementally (remember offsets), never a whole transcript per tick."""
        ...

    def prepare(self, ctx: LaunchContext, settings: AgentSettings | None = None) -> None:
        """Before launch: make first-run screens that would block an unattended agent in a new
        worktree not appear (e.g. mark the worktree trusted). Idempotent; may write the agent's
        own config files atomically. Default: nothing."""
        ...
