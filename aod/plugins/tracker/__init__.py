"""The tracker slot: where a project's issues are (issue 20). Filled by `local`, `github` and
`gitlab` (whose plugins also fill the scm slot, aod/plugins/forge) and by `linear` and `jira`
(this package), so a project can keep its backlog in Linear and its code on GitHub.

A tracker answers questions (an issue, a filtered list) and performs two commands (move an
issue to a named state, link a PR from it); when to do either is policy, decided in the core
(`projects.NAME.issue_sync`), never here. A tracker is asked only when issues are listed or
shown, when a session is spawned on one, and when a state is synced: never by the tick.

The issue's id is what the user types: `42` on local/GitHub/GitLab, `ENG-123` on Linear,
`PROJ-42` on Jira. Issue text (title, body, labels, comments) is data: it reaches the agent
as the prompt, never a shell, a config key or a path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from aod.plugins.forge import ForgeError, ForgeUnavailable, Issue, IssueComment, NoSuchIssue, RepoTarget

__all__ = [
    "ForgeError",
    "ForgeUnavailable",
    "Issue",
    "IssueComment",
    "NoSuchIssue",
    "NoSuchState",
    "RepoTarget",
    "Tracker",
]


class NoSuchState(ForgeError):
    """The tracker has no state (or, on Jira, no transition from the issue's state) by that name.
    The message names the ones it has."""


class Tracker(Protocol):
    kind: str

    async def get_issue(self, repo: RepoTarget, issue_id: str) -> Issue:
        """The issue with its description and comments. Raises NoSuchIssue, ForgeUnavailable,
        ForgeError (misconfigured: no team/project, no token — the message says what to set)."""
        ...

    async def list_issues(
        self,
        repo: RepoTarget,
        *,
        state: Literal["open", "closed", "all"] = "open",
        labels: Sequence[str] = (),
        assignee: str | None = None,
        milestone: str | None = None,
        limit: int = 100,
    ) -> list[Issue]:
        """The project's issues (its team/project/JQL from config) matching the filters, newest
        first. `open`: not done and not cancelled, in the tracker's own terms."""
        ...

    async def move_issue(self, repo: RepoTarget, issue_id: str, state: str) -> str:
        """Move the issue to the state named `state` (case-insensitive); returns the state it is
        in after. Already there: nothing is written. Raises NoSuchState naming the choices."""
        ...

    async def link_pr(self, repo: RepoTarget, issue_id: str, *, url: str, title: str) -> None:
        """Make the PR visible from the issue (a comment, a remote link, an attachment: the
        tracker's own way). Linking the same URL twice writes it once."""
        ...

    def status(self) -> dict[str, object]:
        """What `daemon.status` and `aoctl doctor` show: token source, rate-limit budget left."""
        ...
