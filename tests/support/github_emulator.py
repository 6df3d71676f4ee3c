"""A stateful GitHub on loopback: the REST and GraphQL subset the GitHub forge uses.

The forge plugin runs unmodified against it with `github.api_url` pointed at `api_url` (as it
would be for GitHub Enterprise). It keeps repositories, branches, issues, milestones, PRs,
reviews, review threads, check runs (with job logs) and commit statuses, and answers in
GitHub's documented JSON shapes:

- REST: issues (list with filters and Link pagination, get, comments), milestones, pulls
  (list with ETag / If-None-Match → 304, get, create, merge), job logs (302 to a blob URL that
  refuses requests carrying a token, as a pre-signed storage URL does).
- GraphQL: a small but real executor: the query text is parsed (operations, variables,
  aliases, arguments, inline fragments, named fragments, `__typename`) and resolved against
  the state, so the answer has exactly the fields asked for; a field GitHub's schema lacks is
  a validation error, as on GitHub. `mergeStateStatus` needs the merge-info preview media type.
- Rate limits: `X-RateLimit-*` headers per resource (core, graphql) that count down with each
  request (not with 304s) and reset after an hour of emulator time; an empty budget answers
  403 (REST) or RATE_LIMITED (GraphQL). Injectable: secondary rate limits with Retry-After,
  429, 502, slow answers.
- A log of every request (REST, GraphQL, blob; status; body), recorded on arrival, so tests
  count what the plugin sent.
- Branches: the emulator's own (moved with `push()`), or, for a repository created with
  `git_dir`, those of a real bare repository on disk, read again on each request, so what a
  `git push` puts there is what GitHub has.

Time is the emulator's own (`now()`, moved on with `advance()`), used for timestamps, reset
times and the `Date` header, so a test can let an hour pass in an instant.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import itertools
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.support.graphql import FieldNotFound, GraphqlFailure, Obj, connection, execute

MERGE_INFO_PREVIEW = "merge-info-preview"
WINDOW = 3600.0
DOCS = "https://docs.github.com/rest"
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID 0000:0000."
)


# =============================================================================================
# The state


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _sha(*parts: object) -> str:
    return hashlib.sha1("\0".join(map(str, parts)).encode()).hexdigest()


@dataclass
class Comment:
    id: int
    node_id: str
    author: str
    body: str
    created_at: str
    bot: bool = False
    path: str = ""
    line: int | None = None


@dataclass
class Issue:
    number: int
    title: str
    body: str
    author: str
    created_at: str
    updated_at: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    milestone: int | None = None
    comments: list[Comment] = field(default_factory=list)
    closed_at: str | None = None


@dataclass
class Review:
    id: int
    node_id: str
    state: str
    author: str
    body: str
    submitted_at: str
    commit: str
    bot: bool = False


@dataclass
class Thread:
    node_id: str
    comments: list[Comment]
    resolved: bool = False


@dataclass
class PullRequest(Issue):
    head: str = ""
    base: str = "main"
    draft: bool = False
    merged_at: str | None = None
    merge_commit_sha: str | None = None
    mergeable: str = "MERGEABLE"
    reviews: list[Review] = field(default_factory=list)
    threads: list[Thread] = field(default_factory=list)
    node_id: str = ""
    closed_head: str | None = None
    """The head SHA when the PR was closed or merged (the branch may move on, or go)."""


@dataclass
class CheckRun:
    id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    app: str
    title: str = ""
    summary: str = ""
    log: str | None = None
    details_url: str = ""


@dataclass
class Status:
    id: int
    context: str
    state: str
    target_url: str
    description: str
    sha: str


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    default_branch: str
    branches: dict[str, str]
    pushed_at: str
    created_at: str
    issues: dict[int, Issue] = field(default_factory=dict)
    milestones: dict[int, str] = field(default_factory=dict)
    check_runs: list[CheckRun] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    required_reviews: bool = False
    required_checks: set[str] = field(default_factory=set)
    merge_methods: set[str] = field(default_factory=lambda: {"merge", "squash", "rebase"})
    git_dir: str | None = None
    """A bare repository whose branches are this repository's (what `git push` put there)."""

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def prs(self) -> list[PullRequest]:
        return [i for i in self.issues.values() if isinstance(i, PullRequest)]


@dataclass
class Logged:
    method: str
    path: str
    query: dict[str, str]
    kind: str
    """`rest`, `graphql` or `blob`."""
    headers: dict[str, str]
    body: Any
    at: float
    status: int = 0
    prefix: str = ""
    """`/api/v3` when the request came the Enterprise way."""


@dataclass
class _Fault:
    kind: str
    status: int | None
    retry_after: float | None
    secondary: bool
    delay: float
    path: str | None


@dataclass
class _Window:
    limit: int
    remaining: int
    reset: float


class GithubEmulator:
    def __init__(self, *, token: str = "emulator-token", rate_limit: int = 5000, graphql_limit: int = 5000) -> None:
        self.token = token
        self._lock = threading.RLock()
        self._offset = 0.0
        self._ids = itertools.count(1000)
        self._repos: dict[str, Repo] = {}
        self._log: list[Logged] = []
        self._faults: list[_Fault] = []
        self._closing = threading.Event()
        start = self.now()
        self._windows = {
            "core": _Window(rate_limit, rate_limit, start + WINDOW),
            "graphql": _Window(graphql_limit, graphql_limit, start + WINDOW),
        }
        self.merge_state_available = True
        """False: like a GitHub Enterprise version whose schema has no `mergeStateStatus`."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True, name="github-emulator")
        self._thread.start()

    # -- addresses ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        """Like https://api.github.com (GraphQL at /graphql)."""
        return self.base_url

    @property
    def enterprise_api_url(self) -> str:
        """Like https://HOST/api/v3 (GraphQL at /api/graphql)."""
        return self.base_url + "/api/v3"

    def remote_url(self, full_name: str, *, ssh: bool = False) -> str:
        return f"git@127.0.0.1:{full_name}.git" if ssh else f"{self.base_url}/{full_name}.git"

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- time and budgets -------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def rate(self, resource: str) -> _Window:
        with self._lock:
            window = self._windows[resource]
            if self.now() >= window.reset:
                window.remaining, window.reset = window.limit, self.now() + WINDOW
            return window

    def set_rate(self, resource: str, *, remaining: int | None = None, reset_in: float | None = None, limit: int | None = None) -> None:
        with self._lock:
            window = self.rate(resource)
            if limit is not None:
                window.limit = limit
            if remaining is not None:
                window.remaining = remaining
            if reset_in is not None:
                window.reset = self.now() + reset_in

    def exhaust(self, resource: str = "core", *, reset_in: float = 60.0) -> None:
        """The primary rate limit of `resource` is spent until `reset_in` seconds from now."""
        self.set_rate(resource, remaining=0, reset_in=reset_in)

    def fail(
        self,
        status: int | None = 502,
        *,
        times: int = 1,
        kind: str = "any",
        retry_after: float | None = None,
        secondary: bool = False,
        delay: float = 0.0,
        path: str | None = None,
    ) -> None:
        """The next `times` requests of `kind` (rest, graphql, any) whose path contains `path`
        wait `delay` seconds, then get `status` (None: answered normally after the delay).
        `secondary`: a 403 secondary rate limit. `retry_after`: a Retry-After header."""
        with self._lock:
            for _ in range(times):
                self._faults.append(_Fault(kind, 403 if secondary else status, retry_after, secondary, delay, path))

    def slow(self, seconds: float, *, times: int = 1, kind: str = "any") -> None:
        self.fail(None, times=times, kind=kind, delay=seconds)

    # -- the request log --------------------------------------------------------------------------

    def requests(self, since: int = 0, *, kind: str | None = None, status: int | None = None) -> list[Logged]:
        with self._lock:
            return [r for r in self._log[since:] if (kind is None or r.kind == kind) and (status is None or r.status == status)]

    def mark(self) -> int:
        """An index into the log: `requests(since=mark)` are the ones after it."""
        with self._lock:
            return len(self._log)

    # -- building state -----------------------------------------------------------------------------

    def create_repo(
        self, full_name: str, *, default_branch: str = "main", required_reviews: bool = False, git_dir: str | None = None
    ) -> Repo:
        owner, name = full_name.split("/")
        with self._lock:
            stamp = _iso(self.now())
            repo = Repo(
                owner=owner, name=name, id=next(self._ids), default_branch=default_branch,
                branches={default_branch: _sha(full_name, "initial")}, pushed_at=stamp, created_at=stamp,
                required_reviews=required_reviews, git_dir=git_dir,
            )
            self._repos[full_name.lower()] = repo
            self._sync_branches(repo)
            return repo

    def _sync_branches(self, repo: Repo) -> None:
        """A repository backed by a bare git repository: its branches are read from there."""
        if repo.git_dir is None:
            return
        listed = subprocess.run(
            ["git", "-C", repo.git_dir, "for-each-ref", "--format=%(objectname) %(refname:strip=2)", "refs/heads/"],
            capture_output=True, text=True, check=True,
        ).stdout
        for line in listed.splitlines():
            sha, _, branch = line.partition(" ")
            if repo.branches.get(branch) != sha:
                self.push(repo.full_name, branch, sha)

    def repo(self, full_name: str) -> Repo:
        return self._repos[full_name.lower()]

    def push(self, full_name: str, branch: str, sha: str | None = None) -> str:
        """Move (or create) `branch`; the open PRs with it as head change with it."""
        with self._lock:
            repo = self.repo(full_name)
            new = sha or _sha(full_name, branch, next(self._ids))
            repo.branches[branch] = new
            stamp = _iso(self.now())
            repo.pushed_at = stamp
            for pr in repo.prs():
                if pr.head == branch and pr.state == "open":
                    pr.updated_at = stamp
            return new

    def create_milestone(self, full_name: str, title: str) -> int:
        with self._lock:
            repo = self.repo(full_name)
            number = len(repo.milestones) + 1
            repo.milestones[number] = title
            return number

    def create_issue(
        self, full_name: str, title: str, *, body: str = "", labels: Iterable[str] = (),
        assignees: Iterable[str] = (), milestone: str | None = None, author: str = "octocat", state: str = "open",
    ) -> int:
        with self._lock:
            repo = self.repo(full_name)
            number = len(repo.issues) + 1
            stamp = _iso(self.now())
            milestone_number = None
            if milestone is not None:
                milestone_number = next((n for n, t in repo.milestones.items() if t == milestone), None)
                if milestone_number is None:
                    milestone_number = self.create_milestone(full_name, milestone)
            repo.issues[number] = Issue(
                number, title, body, author, stamp, stamp, state=state, labels=list(labels),
                assignees=list(assignees), milestone=milestone_number,
                closed_at=stamp if state == "closed" else None,
            )
            return number

    def comment_issue(self, full_name: str, number: int, body: str, *, author: str = "octocat") -> int:
        with self._lock:
            issue = self.repo(full_name).issues[number]
            comment = self._comment(author, body)
            issue.comments.append(comment)
            issue.updated_at = comment.created_at
            return comment.id

    def create_pr(
        self, full_name: str, head: str, *, base: str | None = None, title: str = "", body: str = "",
        draft: bool = False, author: str = "aod-bot",
    ) -> int:
        with self._lock:
            repo = self.repo(full_name)
            if head not in repo.branches:
                self.push(full_name, head)
            return self._open_pr(repo, head, base or repo.default_branch, title or f"Work on {head}", body, draft, author).number

    def pr(self, full_name: str, number: int) -> PullRequest:
        pr = self.repo(full_name).issues[number]
        assert isinstance(pr, PullRequest)
        return pr

    def head_sha(self, full_name: str, number: int) -> str:
        with self._lock:
            return self._head_sha(self.repo(full_name), self.pr(full_name, number))

    def review(self, full_name: str, number: int, state: str, *, body: str = "", author: str = "alice", bot: bool = False) -> str:
        """A submitted review (APPROVED, CHANGES_REQUESTED, COMMENTED); returns its node id."""
        with self._lock:
            repo, pr = self.repo(full_name), self.pr(full_name, number)
            ident = next(self._ids)
            review = Review(ident, f"PRR_kwDO{ident:08d}", state, author, body, _iso(self.now()), self._head_sha(repo, pr), bot)
            pr.reviews.append(review)
            pr.updated_at = review.submitted_at
            return review.node_id

    def thread(self, full_name: str, number: int, body: str, *, path: str = "src/app.py", line: int | None = 1, author: str = "alice", bot: bool = False) -> tuple[str, str]:
        """A new review thread on a line; returns (thread node id, first comment node id)."""
        with self._lock:
            pr = self.pr(full_name, number)
            comment = self._comment(author, body, bot=bot, path=path, line=line)
            thread = Thread(f"PRRT_kwDO{next(self._ids):08d}", [comment])
            pr.threads.append(thread)
            pr.updated_at = comment.created_at
            return thread.node_id, comment.node_id

    def reply(self, full_name: str, number: int, thread_id: str, body: str, *, author: str = "alice", bot: bool = False) -> str:
        with self._lock:
            pr = self.pr(full_name, number)
            thread = next(t for t in pr.threads if t.node_id == thread_id)
            first = thread.comments[0]
            comment = self._comment(author, body, bot=bot, path=first.path, line=first.line)
            thread.comments.append(comment)
            pr.updated_at = comment.created_at
            return comment.node_id

    def resolve(self, full_name: str, number: int, thread_id: str) -> None:
        # Like GitHub (as far as its docs tell), resolving a thread leaves `updated_at` alone.
        with self._lock:
            next(t for t in self.pr(full_name, number).threads if t.node_id == thread_id).resolved = True

    def check_run(
        self, full_name: str, sha: str, name: str, *, status: str = "completed", conclusion: str | None = "success",
        log: str | None = None, app: str = "github-actions", title: str = "", summary: str = "",
    ) -> int:
        """A check run on `sha` (an Actions job when app is github-actions); returns its id, which
        for Actions is the job id. Like GitHub, it does not touch any PR's `updated_at`."""
        with self._lock:
            repo = self.repo(full_name)
            ident = next(self._ids)
            details = f"{self.base_url}/{repo.full_name}/actions/runs/{ident}/job/{ident}" if app == "github-actions" else f"https://ci.example.com/build/{ident}"
            repo.check_runs.append(CheckRun(ident, name, sha, status, conclusion if status == "completed" else None, app, title, summary, log, details))
            return ident

    def update_check_run(self, full_name: str, ident: int, *, status: str = "completed", conclusion: str | None = "success", log: str | None = None) -> None:
        with self._lock:
            run = next(r for r in self.repo(full_name).check_runs if r.id == ident)
            run.status, run.conclusion = status, conclusion if status == "completed" else None
            if log is not None:
                run.log = log

    def commit_status(self, full_name: str, sha: str, context: str, state: str, *, target_url: str = "", description: str = "") -> None:
        """A commit status (error, failure, pending, success); the newest per context counts."""
        with self._lock:
            self.repo(full_name).statuses.append(Status(next(self._ids), context, state, target_url, description, sha))

    def set_mergeable(self, full_name: str, number: int, mergeable: str) -> None:
        """MERGEABLE, CONFLICTING or UNKNOWN (GitHub computes it in the background)."""
        with self._lock:
            self.pr(full_name, number).mergeable = mergeable

    def merge_pr(self, full_name: str, number: int) -> str:
        with self._lock:
            repo, pr = self.repo(full_name), self.pr(full_name, number)
            return self._merge(repo, pr, "merge")

    def close_pr(self, full_name: str, number: int) -> None:
        with self._lock:
            repo, pr = self.repo(full_name), self.pr(full_name, number)
            pr.closed_head = self._head_sha(repo, pr)
            pr.state, pr.closed_at = "closed", _iso(self.now())
            pr.updated_at = pr.closed_at

    # -- internals: state ---------------------------------------------------------------------------

    def _comment(self, author: str, body: str, *, bot: bool = False, path: str = "", line: int | None = None) -> Comment:
        ident = next(self._ids)
        return Comment(ident, f"PRRC_kwDO{ident:08d}" if path else f"IC_kwDO{ident:08d}", author, body, _iso(self.now()), bot, path, line)

    def _open_pr(self, repo: Repo, head: str, base: str, title: str, body: str, draft: bool, author: str) -> PullRequest:
        number = len(repo.issues) + 1
        stamp = _iso(self.now())
        pr = PullRequest(number, title, body, author, stamp, stamp, head=head, base=base, draft=draft, node_id=f"PR_kwDO{next(self._ids):08d}")
        repo.issues[number] = pr
        return pr

    def _head_sha(self, repo: Repo, pr: PullRequest) -> str:
        if pr.state != "open" and pr.closed_head:
            return pr.closed_head
        return repo.branches.get(pr.head, "0" * 40)

    def _merge(self, repo: Repo, pr: PullRequest, method: str) -> str:
        head = self._head_sha(repo, pr)
        sha = _sha(repo.full_name, "merge", pr.number, head, method)
        stamp = _iso(self.now())
        repo.branches[pr.base] = sha
        repo.pushed_at = stamp
        pr.closed_head = head
        pr.state, pr.merged_at, pr.closed_at, pr.merge_commit_sha, pr.updated_at = "closed", stamp, stamp, sha, stamp
        return sha

    def _latest_reviews(self, pr: PullRequest, *, opinionated: bool) -> list[Review]:
        """Each reviewer's latest submitted review (`latestReviews`); `opinionated`: the latest
        that approves or requests changes (`latestOpinionatedReviews`), so a later comment-only
        review does not hide a verdict, and a dismissed verdict is none."""
        latest: dict[str, Review] = {}
        for review in pr.reviews:
            if review.state == "PENDING" or opinionated and review.state == "COMMENTED":
                continue
            latest[review.author] = review
        found = [r for r in latest.values() if not (opinionated and r.state == "DISMISSED")]
        return sorted(found, key=lambda r: r.id)

    def _review_decision(self, repo: Repo, pr: PullRequest) -> str | None:
        if not repo.required_reviews:
            return None  # no branch protection asking for reviews: GitHub reports null
        states = {r.state for r in self._latest_reviews(pr, opinionated=True)}
        if "CHANGES_REQUESTED" in states:
            return "CHANGES_REQUESTED"
        return "APPROVED" if "APPROVED" in states else "REVIEW_REQUIRED"

    def _contexts(self, repo: Repo, sha: str) -> list[CheckRun | Status]:
        statuses: dict[str, Status] = {}
        for status in repo.statuses:
            if status.sha == sha:
                statuses[status.context] = status  # the newest per context
        return [r for r in repo.check_runs if r.head_sha == sha] + list(statuses.values())

    @staticmethod
    def _context_state(context: CheckRun | Status) -> str:
        if isinstance(context, Status):
            return context.state.upper()
        if context.status != "completed":
            return "PENDING"
        conclusion = (context.conclusion or "").upper()
        return "SUCCESS" if conclusion in ("SUCCESS", "NEUTRAL", "SKIPPED") else "FAILURE"

    def _merge_state(self, repo: Repo, pr: PullRequest) -> str:
        if pr.state != "open":
            return "UNKNOWN"
        if pr.draft:
            return "DRAFT"
        if pr.mergeable == "CONFLICTING":
            return "DIRTY"
        if pr.mergeable == "UNKNOWN":
            return "UNKNOWN"
        if repo.required_reviews and self._review_decision(repo, pr) != "APPROVED":
            return "BLOCKED"
        states = {c.name if isinstance(c, CheckRun) else c.context: self._context_state(c) for c in self._contexts(repo, self._head_sha(repo, pr))}
        if any(states.get(name) != "SUCCESS" for name in repo.required_checks):
            return "BLOCKED"
        return "UNSTABLE" if any(s != "SUCCESS" for s in states.values()) else "CLEAN"

    # -- internals: REST ------------------------------------------------------------------------------

    def _user(self, login: str, bot: bool = False) -> dict[str, Any]:
        return {"login": login, "id": abs(hash(login)) % 10**7, "node_id": f"U_{login}", "type": "Bot" if bot else "User",
                "html_url": f"{self.base_url}/{login}", "site_admin": False}

    def _repo_json(self, repo: Repo) -> dict[str, Any]:
        return {
            "id": repo.id, "node_id": f"R_kgDO{repo.id:08d}", "name": repo.name, "full_name": repo.full_name,
            "private": False, "owner": self._user(repo.owner), "html_url": f"{self.base_url}/{repo.full_name}",
            "url": f"{self.api_url}/repos/{repo.full_name}", "default_branch": repo.default_branch,
            "created_at": repo.created_at, "updated_at": repo.pushed_at, "pushed_at": repo.pushed_at,
        }

    def _issue_json(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        milestone = None
        if issue.milestone is not None:
            milestone = {"number": issue.milestone, "title": repo.milestones[issue.milestone], "state": "open",
                         "url": f"{self.api_url}/repos/{repo.full_name}/milestones/{issue.milestone}"}
        kind = "pull" if isinstance(issue, PullRequest) else "issues"
        data: dict[str, Any] = {
            "url": f"{self.api_url}/repos/{repo.full_name}/issues/{issue.number}",
            "html_url": f"{self.base_url}/{repo.full_name}/{kind}/{issue.number}",
            "id": repo.id * 10000 + issue.number, "node_id": f"I_kwDO{issue.number:08d}", "number": issue.number,
            "title": issue.title, "body": issue.body or None, "user": self._user(issue.author),
            "labels": [{"id": abs(hash(label)) % 10**7, "name": label, "color": "ededed", "default": False} for label in issue.labels],
            "state": issue.state, "locked": False,
            "assignee": self._user(issue.assignees[0]) if issue.assignees else None,
            "assignees": [self._user(a) for a in issue.assignees], "milestone": milestone,
            "comments": len(issue.comments), "created_at": issue.created_at, "updated_at": issue.updated_at,
            "closed_at": issue.closed_at, "author_association": "OWNER",
        }
        if isinstance(issue, PullRequest):
            data["pull_request"] = {"url": f"{self.api_url}/repos/{repo.full_name}/pulls/{issue.number}",
                                    "html_url": data["html_url"], "merged_at": issue.merged_at}
            data["draft"] = issue.draft
        return data

    def _pr_json(self, repo: Repo, pr: PullRequest, *, full: bool = False) -> dict[str, Any]:
        def end(ref: str, sha: str) -> dict[str, Any]:
            return {"label": f"{repo.owner}:{ref}", "ref": ref, "sha": sha, "user": self._user(repo.owner), "repo": self._repo_json(repo)}

        data: dict[str, Any] = {
            "url": f"{self.api_url}/repos/{repo.full_name}/pulls/{pr.number}",
            "id": repo.id * 10000 + pr.number, "node_id": pr.node_id,
            "html_url": f"{self.base_url}/{repo.full_name}/pull/{pr.number}", "number": pr.number,
            "state": pr.state, "locked": False, "title": pr.title, "user": self._user(pr.author), "body": pr.body or None,
            "labels": [], "milestone": None, "created_at": pr.created_at, "updated_at": pr.updated_at,
            "closed_at": pr.closed_at, "merged_at": pr.merged_at, "merge_commit_sha": pr.merge_commit_sha,
            "assignee": None, "assignees": [], "requested_reviewers": [], "draft": pr.draft,
            "head": end(pr.head, self._head_sha(repo, pr)), "base": end(pr.base, repo.branches.get(pr.base, "")),
            "author_association": "OWNER",
        }
        if full:
            data.update({"merged": pr.merged_at is not None, "mergeable": {"MERGEABLE": True, "CONFLICTING": False}.get(pr.mergeable),
                         "mergeable_state": self._merge_state(repo, pr).lower(), "comments": len(pr.comments),
                         "review_comments": sum(len(t.comments) for t in pr.threads)})
        return data

    def _rest(self, method: str, path: str, query: dict[str, str], body: Any, headers: dict[str, str], prefix: str = "") -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body or text, extra headers) for a REST request (the lock is held)."""
        match = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
        if not match or f"{match[1]}/{match[2]}".lower() not in self._repos:
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
        repo = self._repos[f"{match[1]}/{match[2]}".lower()]
        self._sync_branches(repo)
        rest = match[3] or ""
        route = (method, re.sub(r"/\d+", "/N", rest))
        numbers = [int(n) for n in re.findall(r"/(\d+)", rest)]
        handlers: dict[tuple[str, str], Callable[[], tuple[int, Any, dict[str, str]]]] = {
            ("GET", ""): lambda: (200, self._repo_json(repo), {}),
            ("GET", "/issues"): lambda: self._list_issues(repo, prefix + path, query),
            ("GET", "/issues/N"): lambda: self._get_issue(repo, numbers[0]),
            ("GET", "/issues/N/comments"): lambda: self._issue_comments(repo, numbers[0]),
            ("POST", "/issues/N/comments"): lambda: self._add_comment(repo, numbers[0], body),
            ("PATCH", "/issues/N"): lambda: self._update_issue(repo, numbers[0], body),
            ("GET", "/milestones"): lambda: (200, [{"number": n, "title": t, "state": "open"} for n, t in repo.milestones.items()], {}),
            ("GET", "/pulls"): lambda: self._list_pulls(repo, prefix + path, query, headers),
            ("POST", "/pulls"): lambda: self._create_pull(repo, body),
            ("GET", "/pulls/N"): lambda: self._get_pull(repo, numbers[0]),
            ("PUT", "/pulls/N/merge"): lambda: self._merge_pull(repo, numbers[0], body),
            ("PATCH", "/pulls/N"): lambda: self._update_pull(repo, numbers[0], body),
            ("POST", "/pulls/N/reviews"): lambda: self._create_review(repo, numbers[0], body),
            ("GET", "/actions/jobs/N/logs"): lambda: self._job_logs(repo, numbers[0]),
        }
        handler = handlers.get(route)
        if handler is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
        return handler()

    def _page(self, items: list[Any], path: str, query: dict[str, str]) -> tuple[list[Any], dict[str, str]]:
        per_page = min(int(query.get("per_page", 30)), 100)
        page = max(int(query.get("page", 1)), 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        last = max((len(items) + per_page - 1) // per_page, 1)
        if page < last:
            links.append(f'<{self.base_url}{path}?{urlencode({**query, "page": page + 1})}>; rel="next"')
            links.append(f'<{self.base_url}{path}?{urlencode({**query, "page": last})}>; rel="last"')
        return chunk, ({"Link": ", ".join(links)} if links else {})

    def _list_issues(self, repo: Repo, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        state = query.get("state", "open")
        labels = [label for label in query.get("labels", "").split(",") if label]
        assignee, milestone = query.get("assignee"), query.get("milestone")
        found = []
        for issue in repo.issues.values():
            if state != "all" and issue.state != state:
                continue
            if any(label not in issue.labels for label in labels):
                continue
            if assignee == "none" and issue.assignees or assignee == "*" and not issue.assignees:
                continue
            if assignee not in (None, "none", "*") and assignee not in issue.assignees:
                continue
            if milestone == "none" and issue.milestone is not None or milestone == "*" and issue.milestone is None:
                continue
            if milestone not in (None, "none", "*") and str(issue.milestone) != milestone:
                continue
            found.append(issue)
        key = "updated_at" if query.get("sort") == "updated" else "created_at"
        found.sort(key=lambda i: (getattr(i, key), i.number), reverse=query.get("direction", "desc") == "desc")
        chunk, links = self._page(found, path, query)
        return 200, [self._issue_json(repo, i) for i in chunk], links

    def _get_issue(self, repo: Repo, number: int) -> tuple[int, Any, dict[str, str]]:
        issue = repo.issues.get(number)
        if issue is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
        return 200, self._issue_json(repo, issue), {}

    def _update_issue(self, repo: Repo, number: int, body: Any) -> tuple[int, Any, dict[str, str]]:
        """PATCH an issue: only `state` (open, closed) is emulated."""
        issue = repo.issues.get(number)
        if issue is None or isinstance(issue, PullRequest):
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
        state = (body if isinstance(body, dict) else {}).get("state")
        if state not in ("open", "closed"):
            return 422, {"message": "Validation Failed", "documentation_url": DOCS, "status": "422"}, {}
        if state != issue.state:
            issue.state = state
            issue.closed_at = _iso(self.now()) if state == "closed" else None
            issue.updated_at = _iso(self.now())
        return 200, self._issue_json(repo, issue), {}

    def _issue_comments(self, repo: Repo, number: int) -> tuple[int, Any, dict[str, str]]:
        issue = repo.issues.get(number)
        if issue is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
        return 200, [self._comment_json(repo, number, c) for c in issue.comments], {}

    def _comment_json(self, repo: Repo, number: int, comment: Comment) -> dict[str, Any]:
        return {"id": comment.id, "node_id": comment.node_id, "body": comment.body, "user": self._user(comment.author, comment.bot),
                "html_url": f"{self.base_url}/{repo.full_name}/issues/{number}#issuecomment-{comment.id}",
                "created_at": comment.created_at, "updated_at": comment.created_at, "author_association": "OWNER"}

    def _add_comment(self, repo: Repo, number: int, body: Any) -> tuple[int, Any, dict[str, str]]:
        issue = repo.issues.get(number)
        if issue is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
        if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"]:
            return 422, {"message": "Validation Failed", "errors": [{"resource": "IssueComment", "code": "missing_field", "field": "body"}], "documentation_url": DOCS}, {}
        comment = self._comment("aod-bot", body["body"])
        issue.comments.append(comment)
        issue.updated_at = comment.created_at
        return 201, self._comment_json(repo, number, comment), {}

    def _list_pulls(self, repo: Repo, path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        state = query.get("state", "open")
        head = query.get("head")
        prs = [p for p in repo.prs() if state == "all" or p.state == state]
        if head:
            prs = [p for p in prs if f"{repo.owner}:{p.head}" == head]
        key = "updated_at" if query.get("sort") == "updated" else "created_at"
        prs.sort(key=lambda p: (getattr(p, key), p.number), reverse=query.get("direction", "desc") == "desc")
        chunk, links = self._page(prs, path, query)
        return 200, [self._pr_json(repo, p) for p in chunk], links

    def _get_pull(self, repo: Repo, number: int) -> tuple[int, Any, dict[str, str]]:
        pr = repo.issues.get(number)
        if not isinstance(pr, PullRequest):
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
        return 200, self._pr_json(repo, pr, full=True), {}

    def _create_pull(self, repo: Repo, body: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict):
            return 400, {"message": "Problems parsing JSON", "documentation_url": DOCS}, {}
        head = str(body.get("head") or "").split(":")[-1]
        base = str(body.get("base") or "")

        def invalid(*errors: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
            return 422, {"message": "Validation Failed", "errors": list(errors), "documentation_url": DOCS, "status": "422"}, {}

        if head not in repo.branches:
            return invalid({"resource": "PullRequest", "field": "head", "code": "invalid"})
        if base not in repo.branches:
            return invalid({"resource": "PullRequest", "field": "base", "code": "invalid"})
        if any(p.head == head and p.base == base and p.state == "open" for p in repo.prs()):
            return invalid({"resource": "PullRequest", "code": "custom", "message": f"A pull request already exists for {repo.owner}:{head}."})
        if repo.branches[head] == repo.branches[base]:
            return invalid({"resource": "PullRequest", "code": "custom", "message": f"No commits between {base} and {head}"})
        pr = self._open_pr(repo, head, base, str(body.get("title") or head), str(body.get("body") or ""), bool(body.get("draft")), "aod-bot")
        return 201, self._pr_json(repo, pr, full=True), {}

    def _update_pull(self, repo: Repo, number: int, body: Any) -> tuple[int, Any, dict[str, str]]:
        """PATCH a pull request: only `state: closed` (and `open` again) is emulated."""
        pr = repo.issues.get(number)
        if not isinstance(pr, PullRequest):
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
        state = (body if isinstance(body, dict) else {}).get("state")
        base = (body if isinstance(body, dict) else {}).get("base")
        if base is not None:
            if not isinstance(base, str) or not base or pr.state != "open":
                return 422, {"message": "Validation Failed", "documentation_url": DOCS, "status": "422"}, {}
            pr.base = base
            pr.updated_at = _iso(self.now())
        if state == "closed" and pr.state == "open":
            pr.closed_head = self._head_sha(repo, pr)
            pr.state, pr.closed_at = "closed", _iso(self.now())
            pr.updated_at = pr.closed_at
        elif state == "open" and pr.state == "closed" and pr.merged_at is None:
            pr.state, pr.closed_at, pr.closed_head = "open", None, None
            pr.updated_at = _iso(self.now())
        elif state not in (None, "open", "closed"):
            return 422, {"message": "Validation Failed", "documentation_url": DOCS, "status": "422"}, {}
        return 200, self._pr_json(repo, pr, full=True), {}
    def _create_review(self, repo: Repo, number: int, body: Any) -> tuple[int, Any, dict[str, str]]:
        """POST /pulls/N/reviews as the token's user (`aod-bot`, who opened aod's PRs): GitHub
        refuses APPROVE and REQUEST_CHANGES on one's own PR (422); inline `comments` each start
        a review thread on their line."""
        pr = repo.issues.get(number)
        if not isinstance(pr, PullRequest) or not isinstance(body, dict):
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
        event = body.get("event")
        states = {"COMMENT": "COMMENTED", "APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED"}
        if event not in states:
            return 422, {"message": "Unprocessable Entity", "errors": ["event is invalid"], "documentation_url": DOCS, "status": "422"}, {}
        author = "aod-bot"
        if event != "COMMENT" and pr.author == author:
            verb = "approve" if event == "APPROVE" else "request changes on"
            return 422, {"message": "Unprocessable Entity", "errors": [f"Review Can not {verb} your own pull request"], "documentation_url": DOCS, "status": "422"}, {}
        comments = body.get("comments") or []
        text = str(body.get("body") or "")
        if event != "APPROVE" and not text and not comments:
            return 422, {"message": "Unprocessable Entity", "errors": ["Review body is required"], "documentation_url": DOCS, "status": "422"}, {}
        ident = next(self._ids)
        review = Review(ident, f"PRR_kwDO{ident:08d}", states[event], author, text, _iso(self.now()), self._head_sha(repo, pr))
        pr.reviews.append(review)
        for item in comments:
            comment = self._comment(author, str(item.get("body") or ""), path=str(item.get("path") or ""), line=item.get("line"))
            pr.threads.append(Thread(f"PRRT_kwDO{next(self._ids):08d}", [comment]))
        pr.updated_at = review.submitted_at
        return 200, {"id": review.id, "node_id": review.node_id, "state": review.state, "body": text}, {}

    def _merge_pull(self, repo: Repo, number: int, body: Any) -> tuple[int, Any, dict[str, str]]:
        pr = repo.issues.get(number)
        if not isinstance(pr, PullRequest):
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
        body = body if isinstance(body, dict) else {}
        method = str(body.get("merge_method") or "merge")
        refused = {"documentation_url": DOCS, "status": "405"}
        if method not in repo.merge_methods:
            return 405, {"message": f"{method.capitalize()} merges are not allowed on this repository.", **refused}, {}
        if pr.state != "open":
            return 405, {"message": "Pull Request is not mergeable", **refused}, {}
        if body.get("sha") and body["sha"] != self._head_sha(repo, pr):
            return 409, {"message": "Head branch was modified. Review and try the merge again.", "documentation_url": DOCS, "status": "409"}, {}
        merge_state = self._merge_state(repo, pr)
        if merge_state == "BLOCKED" and repo.required_reviews and self._review_decision(repo, pr) != "APPROVED":
            return 405, {"message": "At least 1 approving review is required by reviewers with write access.", **refused}, {}
        if merge_state in ("BLOCKED", "DIRTY", "DRAFT", "UNKNOWN"):
            return 405, {"message": "Pull Request is not mergeable", **refused}, {}
        sha = self._merge(repo, pr, method)
        return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}, {}

    def _job_logs(self, repo: Repo, job_id: int) -> tuple[int, Any, dict[str, str]]:
        run = next((r for r in repo.check_runs if r.id == job_id and r.app == "github-actions"), None)
        if run is None or run.log is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
        signature = hashlib.sha256(f"{job_id}:{self.now()}".encode()).hexdigest()[:32]
        return 302, "", {"Location": f"{self.base_url}/_blobs/job-logs/{repo.full_name}/{job_id}.txt?sv=2021-08-06&sig={signature}"}

    def _blob(self, path: str, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if "authorization" in headers:
            # A pre-signed storage URL takes no other credential, and must never see the token.
            return 403, "AuthenticationFailed: Server failed to authenticate the request.", {"Content-Type": "application/xml"}
        match = re.fullmatch(r"/_blobs/job-logs/([^/]+)/([^/]+)/(\d+)\.txt", path)
        if not match:
            return 404, "BlobNotFound", {}
        repo = self._repos.get(f"{match[1]}/{match[2]}".lower())
        run = next((r for r in repo.check_runs if r.id == int(match[3])), None) if repo else None
        if run is None or run.log is None:
            return 404, "BlobNotFound", {}
        return 200, run.log, {"Content-Type": "text/plain; charset=utf-8"}

    # -- internals: GraphQL ---------------------------------------------------------------------------

    def _graphql(self, body: Any, headers: dict[str, str]) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return {"errors": [{"message": "A query attribute must be specified and must be a string."}]}
        preview = MERGE_INFO_PREVIEW in headers.get("accept", "") and self.merge_state_available
        try:
            return execute(body["query"], body.get("variables") or {}, self._query_root(preview))
        except GraphqlFailure as exc:
            return {"errors": [exc.error]}

    def _query_root(self, preview: bool) -> Obj:
        def repository(args: dict[str, Any]) -> Obj | None:
            repo = self._repos.get(f"{args.get('owner')}/{args.get('name')}".lower())
            if repo is None:
                raise FieldNotFound(
                    f"Could not resolve to a Repository with the name '{args.get('owner')}/{args.get('name')}'.",
                    path=["repository"],
                )
            self._sync_branches(repo)
            return self._repository_obj(repo, preview)

        window = self.rate("graphql")
        rate = Obj("RateLimit", {"cost": 1, "limit": window.limit, "remaining": window.remaining, "resetAt": _iso(window.reset), "used": window.limit - window.remaining})
        return Obj("Query", {"repository": repository, "rateLimit": rate})

    def _repository_obj(self, repo: Repo, preview: bool) -> Obj:
        def pull_requests(args: dict[str, Any]) -> Obj:
            prs = repo.prs()
            if args.get("headRefName") is not None:
                prs = [p for p in prs if p.head == args["headRefName"]]
            states = args.get("states")
            if states:
                prs = [p for p in prs if self._pr_state(p) in states]
            order = args.get("orderBy") or {"field": "CREATED_AT", "direction": "ASC"}
            key = "updated_at" if order.get("field") == "UPDATED_AT" else "created_at"
            prs.sort(key=lambda p: (getattr(p, key), p.number), reverse=order.get("direction") == "DESC")
            return connection("PullRequestConnection", [self._pr_obj(repo, p, preview) for p in prs], args)

        return Obj("Repository", {"name": repo.name, "nameWithOwner": repo.full_name, "pullRequests": pull_requests})

    @staticmethod
    def _pr_state(pr: PullRequest) -> str:
        return "MERGED" if pr.merged_at else pr.state.upper()

    def _actor(self, login: str, bot: bool) -> Obj:
        return Obj("Bot" if bot else "User", {"login": login}, interfaces=("Actor",))

    def _pr_obj(self, repo: Repo, pr: PullRequest, preview: bool) -> Obj:
        head = self._head_sha(repo, pr)

        def reviews(args: dict[str, Any]) -> Obj:
            found = [r for r in pr.reviews if not args.get("states") or r.state in args["states"]]
            return connection("PullRequestReviewConnection", [self._review_obj(r, url) for r in found], args)

        url = f"{self.base_url}/{repo.full_name}/pull/{pr.number}"
        fields: dict[str, Any] = {
            "id": pr.node_id, "number": pr.number, "title": pr.title,
            "url": url,
            "state": self._pr_state(pr), "isDraft": pr.draft, "createdAt": pr.created_at, "updatedAt": pr.updated_at,
            "headRefName": pr.head, "headRefOid": head, "baseRefName": pr.base, "baseRefOid": repo.branches.get(pr.base, ""),
            "mergeable": pr.mergeable if pr.state == "open" else "UNKNOWN",
            "reviewDecision": self._review_decision(repo, pr),
            "author": self._actor(pr.author, False),
            "latestReviews": lambda a: connection("PullRequestReviewConnection", [self._review_obj(r, url) for r in self._latest_reviews(pr, opinionated=False)], a),
            "latestOpinionatedReviews": lambda a: connection("PullRequestReviewConnection", [self._review_obj(r, url) for r in self._latest_reviews(pr, opinionated=True)], a),
            "reviews": reviews,
            "reviewThreads": lambda a: connection("PullRequestReviewThreadConnection", [self._thread_obj(t, url) for t in pr.threads], a),
            "commits": lambda a: connection("PullRequestCommitConnection", [Obj("PullRequestCommit", {"commit": self._commit_obj(repo, head)})], a),
        }
        if preview:
            fields["mergeStateStatus"] = self._merge_state(repo, pr)
        return Obj("PullRequest", fields, interfaces=("Node",))

    def _review_obj(self, review: Review, pr_url: str) -> Obj:
        return Obj("PullRequestReview", {
            "id": review.node_id, "databaseId": review.id, "state": review.state, "body": review.body,
            "url": f"{pr_url}#pullrequestreview-{review.id}",
            "submittedAt": review.submitted_at, "author": self._actor(review.author, review.bot),
        })

    def _thread_obj(self, thread: Thread, pr_url: str) -> Obj:
        first = thread.comments[0]
        return Obj("PullRequestReviewThread", {
            "id": thread.node_id, "isResolved": thread.resolved, "path": first.path, "line": first.line,
            "comments": lambda a: connection("PullRequestReviewCommentConnection", [self._review_comment_obj(c, pr_url) for c in thread.comments], a),
        })

    def _review_comment_obj(self, comment: Comment, pr_url: str) -> Obj:
        return Obj("PullRequestReviewComment", {
            "url": f"{pr_url}#discussion_r{comment.id}",
            "id": comment.node_id, "databaseId": comment.id, "body": comment.body, "path": comment.path,
            "line": comment.line, "createdAt": comment.created_at, "author": self._actor(comment.author, comment.bot),
        })

    def _commit_obj(self, repo: Repo, sha: str) -> Obj:
        contexts = self._contexts(repo, sha)
        rollup = None
        if contexts:
            states = {self._context_state(c) for c in contexts}
            state = "FAILURE" if "FAILURE" in states or "ERROR" in states else "PENDING" if "PENDING" in states else "SUCCESS"
            rollup = Obj("StatusCheckRollup", {
                "state": state,
                "contexts": lambda a: connection("StatusCheckRollupContextConnection", [self._context_obj(repo, c) for c in contexts], a),
            })
        return Obj("Commit", {"oid": sha, "statusCheckRollup": rollup})

    def _context_obj(self, repo: Repo, context: CheckRun | Status) -> Obj:
        if isinstance(context, Status):
            return Obj("StatusContext", {
                "id": f"SC_kwDO{context.id:08d}", "context": context.context, "state": context.state.upper(),
                "targetUrl": context.target_url or None, "description": context.description or None,
            })
        app = Obj("App", {"slug": context.app, "name": "GitHub Actions" if context.app == "github-actions" else context.app})
        return Obj("CheckRun", {
            "id": f"CR_kwDO{context.id:08d}", "databaseId": context.id, "name": context.name,
            "status": context.status.upper(), "conclusion": context.conclusion.upper() if context.conclusion else None,
            "detailsUrl": context.details_url, "title": context.title or None, "summary": context.summary or None,
            "checkSuite": Obj("CheckSuite", {"app": app}),
        })

    # -- the HTTP side -----------------------------------------------------------------------------

    def _take_fault(self, kind: str, path: str) -> _Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.kind in ("any", kind) and (fault.path is None or fault.path in path):
                    return self._faults.pop(index)
        return None

    def _rate_headers(self, resource: str) -> dict[str, str]:
        window = self.rate(resource)
        return {
            "X-RateLimit-Limit": str(window.limit), "X-RateLimit-Remaining": str(window.remaining),
            "X-RateLimit-Reset": str(int(window.reset)), "X-RateLimit-Used": str(window.limit - window.remaining),
            "X-RateLimit-Resource": resource,
        }

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes, dict[str, str]]:
        """One request in, (status, body bytes, headers) out. Runs on the server's threads."""
        parts = urlsplit(target)
        path = parts.path
        if path.startswith("/api/v3/"):
            path = path[len("/api/v3"):]
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        kind = "blob" if path.startswith("/_blobs/") else "graphql" if path in ("/graphql", "/api/graphql") else "rest"
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        prefix = "/api/v3" if parts.path.startswith("/api/v3/") else ""
        entry = Logged(method, path, query, kind, headers, body, self.now(), prefix=prefix)
        with self._lock:
            self._log.append(entry)
        status, payload, extra = self._answer(entry, raw)
        entry.status = status
        if isinstance(payload, (dict, list)):
            data = json.dumps(payload).encode()
            extra.setdefault("Content-Type", "application/json; charset=utf-8")
        else:
            data = str(payload).encode()
            extra.setdefault("Content-Type", "text/plain; charset=utf-8")
        extra["X-GitHub-Request-Id"] = base64.b16encode(hashlib.md5(f"{id(entry)}".encode()).digest()[:6]).decode()
        return status, (b"" if status == 304 else data), extra

    def _answer(self, entry: Logged, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        fault = self._take_fault(entry.kind, entry.path)
        if fault is not None and fault.delay:
            self._closing.wait(fault.delay)
        resource = "graphql" if entry.kind == "graphql" else "core"
        if fault is not None and fault.status is not None:
            headers = self._rate_headers(resource) if entry.kind != "blob" else {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            if fault.secondary:
                return 403, {"message": SECONDARY_MESSAGE, "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}, headers
            if fault.status == 429:
                return 429, {"message": "Too Many Requests", "documentation_url": DOCS}, headers
            return fault.status, f"<html><body><h1>{fault.status} Server Error</h1></body></html>", {**headers, "Content-Type": "text/html"}
        if entry.kind == "blob":
            return self._blob(entry.path, entry.headers)
        if entry.headers.get("authorization") not in (f"Bearer {self.token}", f"token {self.token}"):
            return 401, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}, {}
        with self._lock:
            window = self.rate(resource)
            if window.remaining <= 0:
                headers = self._rate_headers(resource)
                if resource == "graphql":
                    return 200, {"errors": [{"type": "RATE_LIMITED", "code": "graphql_rate_limit", "message": "API rate limit already exceeded for user ID 1."}]}, headers
                return 403, {"message": "API rate limit exceeded for user ID 1.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}, headers
            if entry.kind == "graphql":
                status, payload, extra = 200, self._graphql(entry.body, entry.headers), {}
            else:
                status, payload, extra = self._rest(entry.method, entry.path, entry.query, entry.body, entry.headers, entry.prefix)
            if status == 200 and entry.method == "GET" and isinstance(payload, (dict, list)):
                etag = 'W/"' + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:40] + '"'
                extra["ETag"] = etag
                wanted = [t.strip() for t in entry.headers.get("if-none-match", "").split(",") if t.strip()]
                if etag in wanted or "*" in wanted:
                    return 304, "", {**extra, **self._rate_headers(resource)}  # not counted
            window.remaining -= 1
            return status, payload, {**extra, **self._rate_headers(resource)}


def _handler_for(emulator: GithubEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, data, extra = emulator.handle(self.command, self.path, headers, raw)
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data:
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def date_time_string(self, timestamp: float | None = None) -> str:
            # The `Date` header: the emulator's clock, which tests move on with advance().
            return email.utils.formatdate(emulator.now() if timestamp is None else timestamp, usegmt=True)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
            pass

    return Handler
