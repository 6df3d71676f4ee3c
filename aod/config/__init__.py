"""The user config: one YAML file, read into pydantic models, every error with its `file:line`.

The package, by job (each module's docstring says what it may import; none imports upward):

- `fields`     the shared field types: durations, counts, argv, names, patterns, URLs, `Section`
- `yaml_tree`  the YAML reader: plain data with the line of every key and value, `${ENV}`,
               pydantic's errors as short sentences on their lines
- `daemon`     `log`, `api`, `redact`: the daemon's own settings
- `agents`     `runtime`, `workspace`, `agents.NAME`: how agents run
- `projects`   `defaults`, `projects.NAME`, `github`: projects and their forge
- `reactions`  `reactions.KEY`: the reaction keys and one reaction's overrides
- `budgets`    `budgets`, `prices.MODEL`: money
- `orchestrator` `orchestrator` (and per project): what the orchestrator agent may do
- `intake`     `projects.NAME.intake`: issues that get a worker by themselves
- `notifiers`  `notifiers.NAME`: where notifications go, one model per kind
- `roles`      `roles.NAME`: what a session spawned with `--role` is for
- `web`        `web`: the dashboard's listener; `parse_listen` reads a `HOST:PORT`
- `schema`     `Config`, the whole file made of those sections, and the checks across them
- `loader`     reading a file into `Config` (`load_config`, `parse_config`), `ConfigError`,
               `aod check-config`

This module only re-exports, so that the rest of aod imports from `aod.config` and need not
know the layout. May import: this package's modules.
"""

from __future__ import annotations

from aod.config.agents import BUILTIN_AGENTS, AgentConfig, RuntimeConfig, ScreenConfig, WorkspaceConfig
from aod.config.scale_out import ContainerConfig, HostConfig, KubernetesConfig, PlacementConfig
from aod.config.budgets import BudgetConfig, PriceConfig, Usd
from aod.config.intake import IntakeConfig
from aod.config.orchestrator import OrchestratorConfig
from aod.config.daemon import ApiConfig, LogConfig, RedactConfig
from aod.config.fields import (
    AGENT_NAME, DURATION_FORMS, HOUR, MINUTE, PROJECT_NAME, Argv, DisposablePatterns, Duration,
    HttpUrl, Integer, KiB, MiB, PositiveDuration, Priority, Regex, Regexes, SecretHttpUrl,
    Section, format_duration, parse_duration,
)
from aod.config.loader import (
    ConfigError, LoadedConfig, check_file, check_main, load_config, parse_config,
)
from aod.config.notifiers import (
    BUILTIN_NOTIFIER, NOTIFIER_KINDS, AnyNotifierConfig, DesktopNotifierConfig,
    DiscordNotifierConfig, LogNotifierConfig, NotifierConfig, NtfyNotifierConfig, PluginNotifierConfig,
    SlackNotifierConfig, WebhookNotifierConfig,
)
from aod.config.projects import BranchTemplate, DefaultsConfig, GithubConfig, ProjectConfig, ScmKind, TrackerKind
from aod.config.trackers import (
    GitlabConfig,
    GitlabProjectConfig,
    IssueSyncConfig,
    JiraConfig,
    JiraProjectConfig,
    LinearConfig,
    LinearProjectConfig,
)
from aod.config.reactions import REACTION_KEYS, ReactionConfig, ReactionKey
from aod.config.roles import RoleConfig
from aod.config.schema import Config, changed_keys
from aod.config.web import DEFAULT_LISTEN, LISTEN_ENV, WebConfig, is_loopback, parse_listen
from aod.config.yaml_tree import interpolate

__all__ = [
    "AGENT_NAME",
    "BUILTIN_AGENTS",
    "BUILTIN_NOTIFIER",
    "DEFAULT_LISTEN",
    "DURATION_FORMS",
    "HOUR",
    "MINUTE",
    "NOTIFIER_KINDS",
    "PROJECT_NAME",
    "REACTION_KEYS",
    "AgentConfig",
    "AnyNotifierConfig",
    "ApiConfig",
    "Argv",
    "BranchTemplate",
    "BudgetConfig",
    "OrchestratorConfig",
    "IntakeConfig",
    "Config",
    "ConfigError",
    "DefaultsConfig",
    "DesktopNotifierConfig",
    "DiscordNotifierConfig",
    "DisposablePatterns",
    "Duration",
    "GithubConfig",
    "GitlabConfig",
    "GitlabProjectConfig",
    "IssueSyncConfig",
    "JiraConfig",
    "JiraProjectConfig",
    "LinearConfig",
    "LinearProjectConfig",
    "ScmKind",
    "TrackerKind",
    "HttpUrl",
    "Integer",
    "KiB",
    "LISTEN_ENV",
    "LoadedConfig",
    "LogConfig",
    "LogNotifierConfig",
    "MiB",
    "NotifierConfig",
    "NtfyNotifierConfig",
    "PluginNotifierConfig",
    "PositiveDuration",
    "PriceConfig",
    "Priority",
    "ProjectConfig",
    "ReactionConfig",
    "ReactionKey",
    "RoleConfig",
    "RedactConfig",
    "Regex",
    "Regexes",
    "RuntimeConfig",
    "ContainerConfig",
    "HostConfig",
    "KubernetesConfig",
    "PlacementConfig",
    "ScreenConfig",
    "SecretHttpUrl",
    "Section",
    "SlackNotifierConfig",
    "Usd",
    "WebConfig",
    "WebhookNotifierConfig",
    "WorkspaceConfig",
    "changed_keys",
    "check_file",
    "check_main",
    "format_duration",
    "interpolate",
    "is_loopback",
    "load_config",
    "parse_config",
    "parse_listen",
]
