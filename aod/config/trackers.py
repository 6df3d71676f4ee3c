"""Where issues and merge requests live beyond GitHub (issue 20): the `gitlab`, `linear` and
`jira` sections (how aod talks to each service), the per-project sections that say which
GitLab project, Linear team or Jira project a project's issues come from, and `issue_sync`
(what aod tells the tracker when a session starts and when its PR merges).

One job: these sections' models. May import: pydantic and this package's `fields`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr

from aod.config.fields import HOUR, MINUTE, Argv, HttpUrl, Integer, PositiveDuration, Section, at_most


class _Service(Section):
    """What every remote tracker or code host shares: how long a call may take, how often a
    failed one is tried again."""

    # One call, its retries included; a slow service never holds up the tick longer.
    timeout: Annotated[PositiveDuration, at_most(10 * MINUTE)] = 10.0
    # Retries after a 5xx or a network error (rate limits are never retried: aod waits them out).
    retries: Annotated[Integer, Field(ge=0, le=10)] = 2
    retry_backoff: Annotated[PositiveDuration, at_most(MINUTE)] = 1.0

    def secrets(self) -> list[str]:
        token = getattr(self, "token", None)
        return [token.get_secret_value()] if isinstance(token, SecretStr) and token.get_secret_value() else []


class GitlabConfig(_Service):
    """`gitlab`: gitlab.com or a self-managed GitLab, for projects with `scm: gitlab` or
    `tracker: gitlab` (docs/trackers-and-scm.md)."""

    # Self-managed: https://gitlab.example.com (aod uses BASE/api/v4 and BASE/api/graphql).
    base_url: HttpUrl = "https://gitlab.com"
    # Unset: GITLAB_TOKEN from aod's environment, then `token_command`.
    token: SecretStr | None = None
    # Asked for a token when neither `token` nor GITLAB_TOKEN is set (argv, never a shell).
    token_command: Argv = Field(default_factory=lambda: ["glab", "auth", "token"])
    # Re-read every tracked MR at least this often, even when nothing seems to have changed.
    refresh: Annotated[PositiveDuration, at_most(HOUR)] = 300.0
    # The most of a failing job's log that is sent to the agent.
    log_excerpt_chars: Annotated[Integer, Field(ge=200, le=100_000)] = 4000


class LinearConfig(_Service):
    """`linear`: Linear's GraphQL API, for projects with `tracker: linear`."""

    api_url: HttpUrl = "https://api.linear.app/graphql"
    # Unset: LINEAR_API_KEY from aod's environment (a personal API key, sent as is).
    token: SecretStr | None = None


class JiraConfig(_Service):
    """`jira`: Jira Cloud (REST v3) or Server / Data Center (REST v2), for `tracker: jira`."""

    # https://YOUR-SITE.atlassian.net, or your server's base URL.
    base_url: HttpUrl | None = None
    # 3: Jira Cloud; 2: Server / Data Center.
    api_version: Literal[2, 3] = 3
    # Cloud: basic auth with `email` and an API token; Server / DC: a personal access token
    # (bearer) when `email` is unset.
    email: str | None = None
    # Unset: JIRA_API_TOKEN from aod's environment.
    token: SecretStr | None = None


# ---------------------------------------------------------------------------------------------
# Per project


class GitlabProjectConfig(Section):
    """`projects.NAME.gitlab`: which GitLab project (unset: the one the git remote names)."""

    # `group/subgroup/name`, as in the project's URL.
    project: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")] | None = None
    # Merge only once the pipeline succeeded (GitLab's "merge when pipeline succeeds").
    merge_when_pipeline_succeeds: bool = False


class LinearProjectConfig(Section):
    """`projects.NAME.linear`: which Linear issues are this project's."""

    # The team's key (`ENG` in ENG-123); unset: issues of every team the key can see.
    team: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,10}$")] | None = None
    # A Linear project's name (optional).
    project: str | None = None
    # Only issues with every one of these labels.
    labels: list[str] = Field(default_factory=list)


class JiraProjectConfig(Section):
    """`projects.NAME.jira`: which Jira issues are this project's."""

    # The Jira project key (`PROJ` in PROJ-42).
    project: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,19}$")] | None = None
    # A JQL filter; unset: `project = KEY`. Listing adds its own state/label filters to it.
    jql: str | None = None


class IssueSyncConfig(Section):
    """`projects.NAME.issue_sync`: tell the tracker what became of its issue. Unset: nothing is
    written to the tracker; aod only reads it."""

    # Move the issue to this state (Linear: a workflow state's name; Jira: a transition's or
    # status's name; GitLab and GitHub: `closed`) when its session starts; unset: leave it.
    on_spawn: str | None = "In Progress"
    # ... and to this one when its PR merged.
    on_merge: str | None = "Done"
    # Link the PR from the issue (Linear: a comment; Jira: a remote link; GitLab: a note).
    link_pr: bool = True
