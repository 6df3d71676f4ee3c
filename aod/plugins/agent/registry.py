"""Agent names → plugins: the built-ins, and any other name configured with a `command`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aod.plugins.agent import Agent, AgentSettings
from aod.plugins.agent.aider import AiderAgent
from aod.plugins.agent.claude_code import ClaudeCodeAgent
from aod.plugins.agent.codex import CodexAgent
from aod.plugins.agent.custom import AgentConfigError, CustomAgent
from aod.plugins.agent.goose import GooseAgent
from aod.plugins.agent.opencode import OpencodeAgent

__all__ = [
    "BUILTIN",
    "AgentConfigError",
    "UnknownAgent",
    "available_agent_names",
    "get_agent",
]

BUILTIN: dict[str, Callable[[], Agent]] = {
    "claude-code": ClaudeCodeAgent,
    "codex": CodexAgent,
    "aider": AiderAgent,
    "goose": GooseAgent,
    "opencode": OpencodeAgent,
    "custom": CustomAgent,
}
"""Factories of the built-in agents. Each call makes a new instance: an instance may cache what
it has read (e.g. Codex's rollout offsets), so keep one per use (per daemon, or per session)."""


class UnknownAgent(LookupError):
    def __init__(self, name: str, valid_names: list[str]) -> None:
        self.name = name
        self.valid_names = list(valid_names)
        super().__init__(
            f"unknown agent {name!r}; valid agents: {', '.join(self.valid_names)} "
            f"(or configure agents.{name}.command to run any program)"
        )


class UnusableAgent(UnknownAgent):
    """An installed third-party agent that did not load or fit the slot (the message says why)."""

    def __init__(self, name: str, why: str, valid_names: list[str]) -> None:
        LookupError.__init__(self, why)
        self.name = name
        self.valid_names = list(valid_names)


def get_agent(
    name: str, settings_table: Mapping[str, AgentSettings]
) -> tuple[Agent, AgentSettings]:
    """The plugin for `name` and its settings (the user's for that name, or the defaults).

    A built-in name gives the built-in; any other name configured with `command` gives the
    custom plugin under that name. Raises UnknownAgent (listing the valid names) otherwise,
    `custom` without a command included (its message says to set the command)."""
    settings = settings_table.get(name)
    if name in BUILTIN:
        settings = settings if settings is not None else AgentSettings(name=name)
        if name != "custom" or settings.command:
            return BUILTIN[name](), settings
    else:
        from aod.plugins import external  # plugins from other packages (entry points `aod.agents`)

        if any(r.slot == "agent" and r.name == name for r in external.records()):
            # An installed plugin's name: its plugin (its `command` replaces the plugin's
            # executable, as for a built-in), or its error — never the custom agent instead.
            try:
                plugin = external.instance("agent", name)
            except external.PluginUnavailable as exc:
                raise UnusableAgent(name, str(exc), available_agent_names(settings_table)) from None
            return plugin, settings if settings is not None else AgentSettings(name=name)
        if settings is not None and settings.command:
            return CustomAgent(name=name), settings
    raise UnknownAgent(name, available_agent_names(settings_table))


def available_agent_names(settings_table: Mapping[str, AgentSettings]) -> list[str]:
    """Sorted names `get_agent` accepts: the built-ins (`custom` only when it has a command) and
    every configured name with a command."""
    names = {name for name in BUILTIN if name != "custom"}
    names.update(name for name, settings in settings_table.items() if settings.command)
    from aod.plugins import external

    names.update(external.usable("agent"))
    return sorted(names)
