"""Roles: what a session is for (`aoctl spawn --role tester`), as a prompt put before its task,
an agent to run by default, a color to show it in, and a tool allow-list. Pure: the built-ins,
the config's entries over them, and the first prompt with the role's text layered in.

A user's `roles.NAME` replaces the built-in of that name key by key (an entry that sets only
`color` keeps the built-in's prompt). The shell (aod/spawn.py) reads `prompt_file` and hands the
text in; nothing here touches the disk.

May import: nothing of aod.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

ROLE_BEGIN: Final = "=== Your role: {name} ==="
ROLE_END: Final = "=== End of your role. Your task follows. ==="
TASK_BEGIN: Final = "=== Your task ==="


@dataclass(frozen=True)
class Role:
    name: str
    prompt: str = ""
    agent: str | None = None
    """The agent a session of this role runs when the spawn names none."""
    color: str | None = None
    tools: tuple[str, ...] = ()
    """The tools the agent may use (empty: no allow-list)."""


@dataclass(frozen=True)
class RoleEntry:
    """A `roles.NAME` of the config, its `prompt_file` already read (None: a key not set)."""

    prompt: str | None = None
    agent: str | None = None
    color: str | None = None
    tools: Sequence[str] | None = field(default=None)


BUILTIN_ROLES: Final[Mapping[str, Role]] = {
    "implementer": Role(
        name="implementer",
        color="blue",
        prompt=(
            "You are the implementer. Build what the task asks for, completely: the code, the tests "
            "that prove it works, and the docs it changes. Keep the change focused on the task; "
            "commit in small steps with messages that say what and why."
        ),
    ),
    "reviewer": Role(
        name="reviewer",
        color="purple",
        prompt=(
            "You are the reviewer. Read the change the task names and judge it: correctness, tests "
            "that would catch a regression, clarity, and what it may break. Do not rewrite it "
            "yourself; say what must change, where (file and line) and why, most important first."
        ),
    ),
    "tester": Role(
        name="tester",
        color="green",
        prompt=(
            "You are the tester. Write tests for what the task names: the expected behaviour, the "
            "edge cases and the failures a user can cause. Run them; when one fails because the "
            "code is wrong, report it clearly rather than weakening the test. Change production "
            "code only when the task says so."
        ),
    ),
    "docs": Role(
        name="docs",
        color="yellow",
        prompt=(
            "You are the documentation writer. Make the docs say what the code does for the task "
            "named: how to use it, with examples that work as written, and what it does not do. "
            "Check each claim against the code; change code only to fix a wrong message or comment."
        ),
    ),
}


class UnknownRole(LookupError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"no role named {name!r}: use one of {', '.join(known)} (or define roles.{name} in the config)")
        self.name = name
        self.known = list(known)


def known_roles(configured: Mapping[str, RoleEntry]) -> dict[str, Role]:
    """The built-ins with the config's entries over them (key by key), and the config's own."""
    roles = dict(BUILTIN_ROLES)
    for name, entry in configured.items():
        base = roles.get(name, Role(name=name))
        roles[name] = replace(
            base,
            prompt=entry.prompt if entry.prompt is not None else base.prompt,
            agent=entry.agent if entry.agent is not None else base.agent,
            color=entry.color if entry.color is not None else base.color,
            tools=tuple(entry.tools) if entry.tools is not None else base.tools,
        )
    return roles


def entries_of(configured: Mapping[str, object], read_prompt_file: Callable[[str], str] | None = None) -> dict[str, RoleEntry]:
    """The config's `roles` (objects with `agent`, `prompt`, `prompt_file`, `color`, `tools`) as
    entries. `read_prompt_file(path)` gives a `prompt_file`'s text; without it a prompt_file
    leaves the prompt as it is (enough for the agent, color and tools)."""
    entries = {}
    for name, cfg in configured.items():
        prompt = getattr(cfg, "prompt", None)
        prompt_file = getattr(cfg, "prompt_file", None)
        if prompt_file is not None and read_prompt_file is not None:
            prompt = read_prompt_file(prompt_file)
        tools = getattr(cfg, "tools", None)
        entries[name] = RoleEntry(
            prompt=prompt, agent=getattr(cfg, "agent", None), color=getattr(cfg, "color", None),
            tools=tuple(tools) if tools is not None else None,
        )
    return entries


def resolve_role(name: str, configured: Mapping[str, RoleEntry]) -> Role:
    roles = known_roles(configured)
    role = roles.get(name)
    if role is None:
        raise UnknownRole(name, sorted(roles))
    return role


def layer_prompt(role: Role | None, task_prompt: str) -> str:
    """The first prompt: the role's text first, then the task, each clearly delimited. Without
    a role (or with an empty prompt), the task prompt unchanged."""
    if role is None or not role.prompt.strip():
        return task_prompt
    return "\n\n".join(
        (ROLE_BEGIN.format(name=role.name), role.prompt.strip(), ROLE_END, TASK_BEGIN, task_prompt)
    )
