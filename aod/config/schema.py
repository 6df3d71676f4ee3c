"""The whole config: `Config`, the top-level model made of every section, and the checks that
look across sections.

One job: say what a config file may contain, as one model (each section's model lives in the
module of its concern) plus what no single section can check (an agent named that is defined
nowhere). To add a section: write a `Section` subclass in the module of its concern and add it
here as a field of `Config` with a default, so that running without a config file keeps
working; line numbers, messages and `changed_keys` need nothing more. The order of the fields
is the order `changed_keys` reports them in.

May import: pydantic, this package's section modules, `fields`, and `yaml_tree` (to place a
problem on its line).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field

from aod.config.agents import BUILTIN_AGENTS, AgentConfig, RuntimeConfig, WorkspaceConfig
from aod.config.budgets import BudgetConfig, PriceConfig
from aod.config.orchestrator import OrchestratorConfig
from aod.config.daemon import ApiConfig, LogConfig, RedactConfig
from aod.config.fields import AGENT_NAME, HOUR, PROJECT_NAME, PositiveDuration, Section, at_most
from aod.config.notifiers import Notifiers
from aod.config.projects import DefaultsConfig, GithubConfig, ProjectConfig
from aod.config.reactions import ReactionConfig, ReactionKey
from aod.config.trackers import GitlabConfig, JiraConfig, LinearConfig
from aod.config.scale_out import HOST_NAME, HostConfig, PlacementConfig
from aod.config.roles import ROLE_NAME, RoleConfig
from aod.config.web import WebConfig
from aod.config.yaml_tree import Loc, Problem, TreeReader, dotted


class Config(Section):
    poll_interval: Annotated[PositiveDuration, at_most(HOUR)] = 5.0
    log: LogConfig = Field(default_factory=LogConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    workspace: WorkspaceConfig = Field(default_factory=WorkspaceConfig)
    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig)
    agents: dict[Annotated[str, Field(pattern=AGENT_NAME)], AgentConfig] = Field(default_factory=dict)
    projects: dict[Annotated[str, Field(pattern=PROJECT_NAME)], ProjectConfig] = Field(
        default_factory=dict
    )
    reactions: dict[ReactionKey, ReactionConfig] = Field(default_factory=dict)
    budgets: BudgetConfig = Field(default_factory=BudgetConfig)
    orchestrator: OrchestratorConfig = Field(default_factory=OrchestratorConfig)
    prices: dict[str, PriceConfig] = Field(default_factory=dict)
    notifiers: Notifiers = Field(default_factory=dict)
    github: GithubConfig = Field(default_factory=GithubConfig)
    # issue 20: the other code host and trackers
    gitlab: GitlabConfig = Field(default_factory=GitlabConfig)
    linear: LinearConfig = Field(default_factory=LinearConfig)
    jira: JiraConfig = Field(default_factory=JiraConfig)
    redact: RedactConfig = Field(default_factory=RedactConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    # issue 21: other machines' aods
    hosts: dict[Annotated[str, Field(pattern=HOST_NAME)], HostConfig] = Field(default_factory=dict)
    placement: PlacementConfig = Field(default_factory=PlacementConfig)
    # issue 19, roles
    roles: dict[Annotated[str, Field(pattern=ROLE_NAME)], RoleConfig] = Field(default_factory=dict)


def changed_keys(old: Config, new: Config) -> list[str]:
    """Top-level keys whose value differs between two configs, in schema order."""
    return [name for name in Config.model_fields if getattr(old, name) != getattr(new, name)]


def agent_name_problems(data: Any, reader: TreeReader) -> list[Problem]:
    """Agents that `aoctl spawn` would refuse as unknown: a non-built-in `agents.NAME` without a
    `command`, and `defaults.agent` / `projects.NAME.agent` naming an agent defined nowhere.
    Read from the plain data (not the validated model), so these show up beside every other error."""

    def mapping(value: Any) -> dict[Any, Any]:
        return value if isinstance(value, dict) else {}

    top = mapping(data)
    agents = mapping(top.get("agents"))
    from aod.config.plugins import installed_names  # agents from other packages (docs/plugins.md)

    builtins = [name for name in BUILTIN_AGENTS if name != "custom"] + installed_names("agent")
    runnable = set(builtins)
    problems = []
    for name, settings in agents.items():
        if mapping(settings).get("command"):
            runnable.add(name)
        elif name not in builtins:
            what = "the `custom` agent" if name == "custom" else f"{name!r} is not a built-in or installed agent ({', '.join(builtins)}), so it"
            message = f"{what} needs a `command` (a list of arguments like [my-agent, --flag])"
            problems.append(Problem(reader.key_lines.get(("agents", name), 1), f"agents.{name}", message))
    named: list[tuple[Loc, Any]] = [(("defaults", "agent"), mapping(top.get("defaults")).get("agent"))]
    for project, settings in mapping(top.get("projects")).items():
        named.append((("projects", project, "agent"), mapping(settings).get("agent")))
    for loc, name in named:
        if not isinstance(name, str) or not re.fullmatch(AGENT_NAME, name):
            continue  # absent, or already wrong as a name
        if name not in runnable and name not in agents:  # (a defined one without command: said above)
            message = f"no agent named {name!r}: use one of {', '.join(sorted(runnable))}, or define agents.{name}.command"
            problems.append(Problem(reader.value_lines.get(loc, 1), dotted(loc), message))
    return problems
