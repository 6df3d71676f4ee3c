"""Roles (aod/roles.py): the built-ins, the config over them, an unknown name, the first prompt
with the role's text layered in, and how the Claude Code plugin takes a tool allow-list."""

from __future__ import annotations

from pathlib import Path

import pytest

from aod.config import Config
from aod.plugins.agent import AgentSettings, LaunchContext
from aod.plugins.agent.registry import get_agent
from aod.roles import BUILTIN_ROLES, ROLE_END, Role, RoleEntry, UnknownRole, entries_of, known_roles, layer_prompt, resolve_role


def test_the_builtins_each_say_how_their_role_works() -> None:
    assert set(BUILTIN_ROLES) == {"implementer", "reviewer", "tester", "docs"}
    for name, role in BUILTIN_ROLES.items():
        assert role.name == name and f"You are the {'documentation writer' if name == 'docs' else name}" in role.prompt
        assert role.color and role.agent is None and role.tools == ()


@pytest.mark.parametrize(
    ("configured", "name", "expected"),
    [
        ({}, "tester", BUILTIN_ROLES["tester"]),
        # A user entry of a built-in's name overrides it key by key.
        ({"tester": RoleEntry(color="red")}, "tester", Role(name="tester", prompt=BUILTIN_ROLES["tester"].prompt, color="red")),
        ({"tester": RoleEntry(prompt="Only unit tests.", agent="codex")}, "tester",
         Role(name="tester", prompt="Only unit tests.", agent="codex", color="green")),
        ({"tester": RoleEntry(tools=["Read", "Edit"])}, "tester",
         Role(name="tester", prompt=BUILTIN_ROLES["tester"].prompt, color="green", tools=("Read", "Edit"))),
        # A role of the user's own.
        ({"security": RoleEntry(prompt="Look for injections.", color="#f00")}, "security",
         Role(name="security", prompt="Look for injections.", color="#f00")),
    ],
)
def test_role_resolution(configured: dict[str, RoleEntry], name: str, expected: Role) -> None:
    assert resolve_role(name, configured) == expected


def test_an_unknown_role_lists_the_known_ones() -> None:
    with pytest.raises(UnknownRole) as caught:
        resolve_role("qa", {"security": RoleEntry(prompt="x")})
    assert str(caught.value) == (
        "no role named 'qa': use one of docs, implementer, reviewer, security, tester (or define roles.qa in the config)"
    )
    assert caught.value.known == ["docs", "implementer", "reviewer", "security", "tester"]


def test_the_config_section_becomes_entries_reading_only_prompt_files() -> None:
    config = Config.model_validate({"roles": {
        "tester": {"prompt_file": "roles/tester.md", "tools": ["Read"]},
        "docs": {"color": "orange"},
    }})
    read: list[str] = []
    entries = entries_of(config.roles, lambda path: read.append(path) or "from the file")
    assert read == ["roles/tester.md"]
    assert entries["tester"] == RoleEntry(prompt="from the file", tools=("Read",))
    assert known_roles(entries)["docs"] == Role(name="docs", prompt=BUILTIN_ROLES["docs"].prompt, color="orange")
    # Without a reader (the tick asking for tools): the prompt is left to the built-in.
    assert known_roles(entries_of(config.roles))["tester"].prompt == BUILTIN_ROLES["tester"].prompt


def test_a_role_has_one_prompt_or_the_other() -> None:
    with pytest.raises(ValueError, match="not both"):
        Config.model_validate({"roles": {"x": {"prompt": "a", "prompt_file": "b"}}})


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (None, "TASK"),
        (Role(name="plain"), "TASK"),  # a role with no text changes nothing
        (Role(name="tester", prompt="  Write tests.\n"),
         "=== Your role: tester ===\n\nWrite tests.\n\n" + ROLE_END + "\n\n=== Your task ===\n\nTASK"),
    ],
)
def test_prompt_layering_role_first_then_the_task(role: Role | None, expected: str) -> None:
    assert layer_prompt(role, "TASK") == expected


def _launch(agent: str, tools: tuple[str, ...]) -> list[str]:
    plugin, _settings = get_agent(agent, {})
    ctx = LaunchContext(session_id="s-1", workspace=Path("/tmp/w"), prompt="hello", tools=tools)
    return plugin.launch(AgentSettings(name=agent), ctx).argv


def test_claude_code_takes_the_allow_list_without_bypass_mode() -> None:
    plain = _launch("claude-code", ())
    assert "--dangerously-skip-permissions" in plain and "--allowedTools" not in plain
    listed = _launch("claude-code", ("Read", "Bash(git:*)"))
    assert listed[listed.index("--allowedTools") + 1] == "Read,Bash(git:*)"
    assert "--dangerously-skip-permissions" not in listed  # bypass would allow every tool
    assert listed[-2:] == ["--", "hello"]


@pytest.mark.parametrize("agent", ["codex", "aider", "goose", "opencode"])
def test_agents_whose_cli_takes_no_allow_list_say_so(agent: str) -> None:
    plugin, _settings = get_agent(agent, {})
    assert not getattr(plugin, "takes_tool_allowlist", False)
    assert _launch(agent, ("Read",)) == _launch(agent, ())
