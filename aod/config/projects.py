"""Projects and their forge: `defaults` (what a project names none of), `projects.NAME` (one
repository's settings) and `github` (how aod talks to GitHub).

One job: these sections' models and the branch-name template they share. May import: pydantic,
the standard library, the pure helpers `aod.branch_names`, and this package's `fields`,
`reactions` and `budgets`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from aod.branch_names import MAX_BRANCH_NAME_BYTES, valid_branch_name
from aod.config.budgets import BudgetConfig
from aod.config.intake import IntakeConfig
from aod.config.orchestrator import OrchestratorConfig
from aod.config.fields import (
    AGENT_NAME,
    HOUR,
    MINUTE,
    Argv,
    DisposablePatterns,
    Duration,
    HttpUrl,
    Integer,
    PositiveDuration,
    Section,
    at_most,
)
from aod.config.overlap import CheckpointConfig, OverlapConfig
from aod.config.reactions import ReactionConfig, ReactionKey
from aod.config.review import ReviewConfig
from aod.config.scale_out import ContainerConfig
from aod.config.trackers import GitlabProjectConfig, IssueSyncConfig, JiraProjectConfig, LinearProjectConfig

from aod.config.plugins import RuntimeKind, ScmKind, TrackerKind, WorkspaceKind  # built-ins or installed plugins


# `{id}` is the session id, `{issue}` the issue number or "task".
_TEMPLATE_FIELDS = re.compile(r"\{(\w*)\}")


def _branch_template(value: str) -> str:
    unknown = {f for f in _TEMPLATE_FIELDS.findall(value) if f not in ("id", "issue", "project")}
    if unknown:
        raise ValueError(f"unknown placeholder(s) {sorted(unknown)}: use {{id}}, {{issue}}, {{project}}")
    if "{id}" not in value:
        raise ValueError("must contain {id}, so that every session gets its own branch")
    # What a spawn will make of it, with short and with the longest ids and project names: a
    # template that renders to `-abc-1` (an option to git), `../../abc-1` or a name over the
    # limit fails here, at config time, not at the first spawn.
    for session_id, issue, project in (("abc-1", "42", "demo"), ("a" * 63, "task", "p" * 63)):
        rendered = value.replace("{id}", session_id).replace("{issue}", issue).replace("{project}", project)
        if not valid_branch_name(rendered):
            raise ValueError(
                f"renders to the branch name {rendered!r}, which git or aod refuses: use letters, "
                "digits, '-', '_', '.' and '/' (no leading '-' or '.', no '..', no spaces, at most "
                f"{MAX_BRANCH_NAME_BYTES} bytes with a 63-character session id and project name)"
            )
    return value


BranchTemplate = Annotated[str, AfterValidator(_branch_template)]


class DefaultsConfig(Section):
    agent: Annotated[str, Field(pattern=AGENT_NAME)] = "claude-code"
    # After a plan's usage limit resets, wait this much longer before telling the agent to go on.
    usage_limit_margin: Annotated[Duration, at_most(HOUR)] = 60.0
    branch: BranchTemplate = "ao/{id}"
    # Each session gets AO_PORT_BASE = port_base + n * port_block, for dev servers that must not clash
    # (n: the lowest block no session of any project holds; see Store.allocate_ports).
    port_base: Annotated[Integer, Field(ge=1024, le=65000)] = 20000
    port_block: Annotated[Integer, Field(ge=1, le=1000)] = 10


class ProjectConfig(Section):
    """`projects.NAME`: settings for a project (registered with `aoctl project add`, or here with `path`)."""

    path: Path | None = None
    agent: Annotated[str, Field(pattern=AGENT_NAME)] | None = None
    workspace: WorkspaceKind | None = None
    runtime: RuntimeKind | None = None
    default_branch: str | None = None
    branch: BranchTemplate | None = None
    session_prefix: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9]{0,15}$")] | None = None
    setup: Argv | None = None
    setup_timeout: Annotated[PositiveDuration, at_most(HOUR)] = 300.0
    rules_file: str | None = None
    # Added to workspace.disposable for this project's sessions.
    disposable: DisposablePatterns = Field(default_factory=list)
    # Shorthand for both slots below: `forge: github` is `scm: github` + `tracker: github`.
    forge: ScmKind | None = None
    # Where the PRs / merge requests, CI and reviews are (issue 20).
    scm: ScmKind | None = None
    # Where the issues are (issue 20): `tracker: linear` with `scm: github`, say.
    tracker: TrackerKind | None = None
    gitlab: GitlabProjectConfig = Field(default_factory=GitlabProjectConfig)
    linear: LinearProjectConfig = Field(default_factory=LinearProjectConfig)
    jira: JiraProjectConfig = Field(default_factory=JiraProjectConfig)
    # What aod writes back to the tracker (unset: nothing).
    issue_sync: IssueSyncConfig | None = None
    reactions: dict[ReactionKey, ReactionConfig] = Field(default_factory=dict)
    auto_merge: bool = False
    # Who opens the PR: the agent (`aoctl pr open`, or its own gh), or aod once the branch is
    # ahead of its base and the agent is idle (for agents that cannot run commands).
    open_pr: Literal["agent", "auto"] = "agent"
    # Who pushes the session's branch: the agent, or aod (`auto`: once the agent is idle with
    # commits the remote lacks; with the user's own git credentials, never forced).
    push: Literal["agent", "auto"] = "agent"
    merge_method: Literal["merge", "squash", "rebase"] = "merge"
    # The local forge's CI: run in a throwaway checkout of each new PR head, never in the worktree.
    ci: Argv | None = None
    ci_timeout: Annotated[PositiveDuration, at_most(24 * HOUR)] = 600.0
    budgets: BudgetConfig = Field(default_factory=BudgetConfig)
    # This project's orchestrator policy, replacing the global `orchestrator` section as a whole.
    orchestrator: OrchestratorConfig | None = None
    # New matching issues get a worker by themselves (unset: no intake).
    intake: IntakeConfig | None = None
    # issue 19, overlap warnings and per-turn checkpoints
    overlap: OverlapConfig = Field(default_factory=OverlapConfig)
    checkpoints: CheckpointConfig = Field(default_factory=CheckpointConfig)
    # issue 19, reviewer agent: a read-only reviewer session on each worker's PR (unset: none).
    review: ReviewConfig | None = None
    # issue 21: this project's container settings, replacing runtime.container as a whole.
    container: ContainerConfig | None = None

    @model_validator(mode="after")
    def _tracker_of_a_plugin_scm(self) -> ProjectConfig:
        # `forge: X` / `scm: X` also names the tracker unless `tracker` is set: a plugin that is
        # only an scm (entry point in aod.scms, not aod.trackers) then needs `tracker` too.
        named = self.forge or self.scm
        if self.tracker is None and named is not None:
            from aod.config.plugins import BUILTIN_KINDS, installed_names

            if named not in BUILTIN_KINDS["tracker"] and named not in installed_names("tracker"):
                key = "forge" if self.forge else "scm"
                raise ValueError(f"{key}: {named!r} is an scm plugin, not a tracker: set `tracker` too (local, github, ...)")
        return self


class GithubConfig(Section):
    """`github`: how aod talks to GitHub for projects with `forge: github` (docs/trackers-and-scm.md)."""

    # GitHub Enterprise Server: https://HOST/api/v3 (aod then uses https://HOST/api/graphql).
    api_url: HttpUrl = "https://api.github.com"
    # Unset: derived from api_url (api.github.com/graphql, or HOST/api/graphql for Enterprise).
    graphql_url: HttpUrl | None = None
    # One call to GitHub, its retries included; a slow GitHub never holds up the tick longer.
    timeout: Annotated[PositiveDuration, at_most(10 * MINUTE)] = 10.0
    # Retries after a 5xx or a network error (rate limits are never retried: aod waits them out).
    retries: Annotated[Integer, Field(ge=0, le=10)] = 2
    retry_backoff: Annotated[PositiveDuration, at_most(MINUTE)] = 1.0
    # Re-read every tracked PR at least this often, even when GitHub says nothing changed
    # (a resolved thread or a moved base branch does not change a PR's `updated_at`).
    refresh: Annotated[PositiveDuration, at_most(HOUR)] = 300.0
    # Asked for a token when neither GH_TOKEN nor GITHUB_TOKEN is set (argv, never a shell).
    token_command: Argv = Field(default_factory=lambda: ["gh", "auth", "token"])
    # The most of a failing CI job's log that is sent to the agent.
    log_excerpt_chars: Annotated[Integer, Field(ge=200, le=100_000)] = 4000
