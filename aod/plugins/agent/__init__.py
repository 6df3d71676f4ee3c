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


@dataclass(frozen=True)
class LaunchContext:
    session_id: str
    workspace: Path
    prompt: str
    """The composed first prompt (used only when the prompt mode is `argv`)."""
    resume: str | None = None
    """The agent's own conversation id to resume (restore), when it supports resuming."""
    home: Path = field(default_factory=Path.home)


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


class Agent(Protocol):
    name: str
    executable: str
    """The program looked up on PATH (aoctl doctor reports whether it is there)."""
    supports_resume: bool
    """When True, the plugin also has `resume_id(home, workspace) -> str | None`: the agent's own
    conversation id to continue on `aoctl restore`."""

    def launch(self, settings: AgentSettings, ctx: LaunchContext) -> LaunchCommand: ...

    def read_screen(self, screen: str) -> ScreenReading:
        """Activity from the last lines of the screen (pure). `unknown` when nothing matches."""
        ...

    def input_is_empty(self, screen: str) -> bool | None:
        """Is the agent's input line empty (a pasted message was submitted)? None: cannot tell."""
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
