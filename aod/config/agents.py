"""How agents run: `runtime` (tmux or a process), `workspace` (worktree or clone, and which
ignored files are not work) and `agents.NAME` (a built-in extended, or a custom agent).

One job: these sections' models, and the names of the built-in agents. May import: pydantic,
the standard library, the pure helpers `aod.workfiles`, and this package's `fields`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from aod.config.fields import (
    HOUR,
    MINUTE,
    Argv,
    DisposablePatterns,
    PositiveDuration,
    Regexes,
    Section,
    at_most,
    valid_regex,
)
from aod.config.plugins import RuntimeKind, WorkspaceKind
from aod.config.scale_out import ContainerConfig, KubernetesConfig
from aod.workfiles import DEFAULT_DISPOSABLE


BUILTIN_AGENTS = ("claude-code", "codex", "aider", "goose", "opencode", "custom")
"""The agent names aod knows without a `command` (`custom` is the one that still needs one).
Kept equal to aod/plugins/agent/registry.py BUILTIN by a test: config must not import plugins."""


class RuntimeConfig(Section):
    # A built-in, or an installed plugin's name (aod/config/plugins.py; docs/plugins.md).
    kind: RuntimeKind = "tmux"
    # The tmux server aod starts agents on (`tmux -L ao`), apart from your own sessions.
    tmux_socket: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")] = "ao"
    probe_timeout: Annotated[PositiveDuration, at_most(MINUTE)] = 5.0
    # issue 21
    container: ContainerConfig = Field(default_factory=ContainerConfig)
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)


class WorkspaceConfig(Section):
    kind: WorkspaceKind = "worktree"
    # Where workspaces go: <root>/<project>/<session>. Default: $XDG_DATA_HOME/ao/worktrees.
    root: Path | None = None
    # Ignored files that are NOT work: cleanup removes them without a word (aod/workfiles.py).
    disposable: DisposablePatterns = Field(default_factory=lambda: list(DEFAULT_DISPOSABLE))


def _input_regex(value: str) -> str:
    if "(?P<input>" not in valid_regex(value):
        raise ValueError("needs a group named input, like '^mybot> (?P<input>.*)$'")
    return value


class ScreenConfig(Section):
    """`agents.NAME.screen`: what this agent's screen looks like, as regular expressions searched
    in each of the bottom lines (a string or a list of them)."""

    idle: Regexes = Field(default_factory=list)
    working: Regexes = Field(default_factory=list)
    waiting: Regexes = Field(default_factory=list)
    input: Annotated[str, AfterValidator(_input_regex)] | None = None


class AgentConfig(Section):
    """`agents.NAME`: for a built-in NAME, extends it; for another NAME, `command` makes a custom agent."""

    # Whose usage records this agent writes (a custom wrapper around claude, say); built-ins know.
    usage: Literal["claude", "codex", "aider"] | None = None

    command: Argv | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    prompt: Literal["argv", "paste"] | None = None
    model: str | None = None
    permissions: Literal["default", "bypass"] = "bypass"
    # How long a message waits for the agent's prompt to appear before it is pasted anyway.
    ready_timeout: Annotated[PositiveDuration, at_most(HOUR)] = 60.0
    screen: ScreenConfig = Field(default_factory=ScreenConfig)
    # Agents with hooks (Claude Code, Codex) report turns to aod through them, per session.
    hooks: bool = True
    # Agents that speak MCP (Claude Code, Codex, opencode) get `aoctl mcp` as the server `aod`,
    # per session, so they can report, ask the human and see the fleet (docs/mcp.md).
    mcp: bool = True
