"""The forge slot: where issues live (the tracker side) and where PRs, CI and reviews happen (the
SCM side). Two plugins fill it: `local` (everything on this machine, in aod's state dir and the
project's own git repository) and `github` (REST + GraphQL over HTTPS, GitHub Enterprise too).

A forge answers questions and performs commands; it holds no policy. The tick asks each forge
ONCE per repository for the facts of every tracked branch (`pull_requests`), never once per
session. A forge that cannot answer right now raises ForgeUnavailable: the tick then knows
nothing new about those PRs (their sessions keep their state), which is never read as "no PR".

PR facts use aod.facts.PRFacts, the pure core's own type, so what a forge reports is what the
lifecycle judges. `comments` carries every review comment that still matters (unresolved
threads, the text of reviews that request changes), each with a stable id; the reactor filters
out the ids it already sent to the agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

from aod.facts import PRFacts

MergeMethod = Literal["merge", "squash", "rebase"]


class ForgeError(Exception):
    """A forge refused or failed a request. `retryable`: the same request may work later."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ForgeUnavailable(ForgeError):
    """The forge cannot answer now (network, 5xx, rate limit, timeout): facts are unknown."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, retryable=True)
        self.retry_after = retry_after


class MergeRefused(ForgeError):
    """The forge would not merge: the head moved, conflicts, checks or reviews required, ..."""


class NoSuchIssue(ForgeError):
    pass


class RepoTarget(msgspec.Struct, frozen=True, kw_only=True):
    """Which repository a project's forge calls are about."""

    project: str
    path: str
    """The local repository (the main working tree, or a bare repository)."""
    default_branch: str
    remote_url: str | None = None
    """For github: where owner/name come from (https://host/owner/name(.git) or git@host:owner/name)."""
    ci: tuple[str, ...] | None = None
    """For local: the project's CI command (argv), run on each new PR head."""
    ci_timeout: float = 600.0


class IssueComment(msgspec.Struct, frozen=True, kw_only=True):
    author: str
    body: str
    at: str = ""


class Issue(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    """As the user types it: `42` (the number within its project or repository)."""
    title: str
    body: str = ""
    state: Literal["open", "closed"] = "open"
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    milestone: str = ""
    author: str = ""
    url: str = ""
    created_at: str = ""
    comments: tuple[IssueComment, ...] = ()
    depends_on: tuple[str, ...] = ()
    """Issues this one waits for, as the tracker records them (local issues' `depends_on:`)."""


class TrackedBranch(msgspec.Struct, frozen=True, kw_only=True):
    """A session's branch whose PR the tick wants facts about."""

    session: str
    branch: str
    base: str
    number: str | None = None
    """The PR's number once aod has seen it (a forge may look it up by branch otherwise)."""


class ForgeReport(msgspec.Struct, kw_only=True):
    prs: dict[str, PRFacts | None]
    """By session id: the facts of the branch's PR, or None when the forge says there is none.
    A session missing from the mapping: not known this time (treated like unavailable)."""
    requests: int = 0
    """Requests this report cost (HTTP calls; for the local forge, subprocesses)."""


class Forge(Protocol):
    kind: str

    async def get_issue(self, repo: RepoTarget, issue_id: str) -> Issue:
        """Raises NoSuchIssue, ForgeUnavailable."""
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
    ) -> list[Issue]: ...

    async def pull_requests(self, repo: RepoTarget, branches: Sequence[TrackedBranch]) -> ForgeReport:
        """ONE batched look at every tracked branch's PR in this repository."""
        ...

    async def open_pr(self, repo: RepoTarget, branch: TrackedBranch, *, title: str, body: str) -> PRFacts:
        """Open a PR for `branch` into its base (or return the one already open for it)."""
        ...

    async def merge(self, repo: RepoTarget, number: str, *, expected_head: str, method: MergeMethod) -> str:
        """Merge PR `number` only if its head is still `expected_head`; returns the merge commit
        SHA. Raises MergeRefused (with the forge's reason), ForgeUnavailable."""
        ...

    async def comment(self, repo: RepoTarget, number: str, body: str) -> None: ...

    async def close_pr(self, repo: RepoTarget, number: str) -> str:
        """Close PR `number` without merging it (issue 19: the attempts not picked); returns its
        state after (`closed`, or `merged` when it was merged already: then nothing changes)."""
        ...

    async def retarget_pr(self, repo: RepoTarget, number: str, base: str) -> None:
        """Make PR `number` target `base` (issue 19: the PR above a merged one in a stack)."""
        ...

    def status(self) -> dict[str, object]:
        """What `daemon.status` and `aoctl doctor` show: e.g. the rate-limit budget left."""
        ...
