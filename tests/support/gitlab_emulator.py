"""A stateful GitLab on loopback: the REST v4 and GraphQL subset the GitLab plugin uses.

The plugin runs unmodified against it with `gitlab.base_url` pointed at `base_url` (as for a
self-managed GitLab). It keeps projects, branches, issues (with notes), merge requests (with
approvals and discussions), pipelines (with jobs and their logs), and answers in GitLab's
documented JSON shapes:

- REST (/api/v4, a project named by its URL-encoded path or its id): issues (list with
  state / labels / assignee_username / milestone filters and offset pagination with
  `X-Next-Page`, get, update with `state_event`), issue and MR notes (list, create), merge
  requests (create: 409 when one is open for the branch; update with `state_event`,
  `target_branch`; merge with `sha`, `squash`, `merge_when_pipeline_succeeds`: 409 when the
  head moved, 405 when it cannot be merged), job logs (`/jobs/:id/trace`, text/plain).
- GraphQL (/api/graphql), run by tests/support/graphql.py against the state:
  `project(fullPath:) { id fullPath mergeRequests(sourceBranches:, first:, after:, sort:) }`
  and MergeRequest's `iid webUrl state draft sourceBranch targetBranch sourceProjectId
  diffHeadSha diffRefs detailedMergeStatus conflicts approved approvalsRequired approvalsLeft
  approvedBy headPipeline { id sha status jobs(retried:, statuses:) { id name status webPath
  allowFailure } } discussions { id resolvable resolved notes { id body system createdAt url
  author { username bot } position { filePath newLine oldLine } } }`. A field the schema
  lacks is GitLab's `undefinedField` error; `community_edition=True` drops the EE approval
  fields, as on a GitLab CE.
- Auth: `PRIVATE-TOKEN: T` or `Authorization: Bearer T`, else 401.
- Rate limits: `RateLimit-Limit/-Remaining/-Reset/-Observed` on every answer, counting down
  per request over a one-minute window; an empty budget answers 429 `Retry later` with
  `Retry-After`. Injectable: 429, 5xx, slow answers (`fail`, `slow`).
- A log of every request (method, path, kind, status, body), so tests count what was sent.
- Branches: the emulator's own (`push()`), or those of a real bare repository `git_dir`,
  read again on each request, so what a `git push` puts there is what GitLab has.

Time is the emulator's own (`now()`, `advance()`), for timestamps, reset times and `Date`.
"""

from __future__ import annotations

import email.utils
import hashlib
import itertools
import json
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.loopback_http import serve
from tests.support.graphql import GraphqlFailure, Obj, connection, execute

WINDOW = 60.0
PENDING_PIPELINE = {"CREATED", "WAITING_FOR_RESOURCE", "PREPARING", "PENDING", "RUNNING", "SCHEDULED", "MANUAL", "WAITING_FOR_CALLBACK"}
EE_FIELDS = ("approvalsRequired", "approvalsLeft")


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


def _sha(*parts: object) -> str:
    return hashlib.sha1("\0".join(map(str, parts)).encode()).hexdigest()


@dataclass
class Note:
    id: int
    author: str
    body: str
    created_at: str
    system: bool = False
    bot: bool = False
    path: str = ""
    line: int | None = None


@dataclass
class Discussion:
    id: str
    notes: list[Note]
    resolvable: bool = True
    resolved: bool = False


@dataclass
class Issue:
    id: int
    iid: int
    title: str
    description: str
    author: str
    created_at: str
    updated_at: str
    state: str = "opened"
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    milestone: str | None = None
    notes: list[Note] = field(default_factory=list)


@dataclass
class MergeRequest:
    id: int
    iid: int
    title: str
    description: str
    author: str
    source_branch: str
    target_branch: str
    created_at: str
    updated_at: str
    source_project_id: int
    state: str = "opened"
    draft: bool = False
    conflicts: bool = False
    merge_status: str | None = None
    """A detailed merge status that overrides the computed one (CHECKING, NEED_REBASE, ...)."""
    approvals: list[str] = field(default_factory=list)
    approvals_required: int = 0
    discussions: list[Discussion] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    merge_commit_sha: str | None = None
    squash_commit_sha: str | None = None
    merge_when_pipeline_succeeds: bool = False
    closed_head: str | None = None
    base_sha: str = ""


@dataclass
class Job:
    id: int
    name: str
    status: str
    log: str = ""
    allow_failure: bool = False
    retried: bool = False


@dataclass
class Pipeline:
    id: int
    sha: str
    status: str
    jobs: list[Job]


@dataclass
class Project:
    id: int
    path: str
    default_branch: str
    branches: dict[str, str]
    git_dir: str | None = None
    issues: dict[int, Issue] = field(default_factory=dict)
    mrs: dict[int, MergeRequest] = field(default_factory=dict)
    pipelines: list[Pipeline] = field(default_factory=list)
    only_allow_merge_if_pipeline_succeeds: bool = False
    only_allow_merge_if_all_discussions_are_resolved: bool = False
    approvals_required: int = 0


@dataclass
class Logged:
    method: str
    path: str
    query: dict[str, str]
    kind: str
    """`rest` or `graphql`."""
    headers: dict[str, str]
    body: Any
    at: float
    status: int = 0


@dataclass
class _Fault:
    kind: str
    status: int | None
    retry_after: float | None
    delay: float
    path: str | None


class GitlabEmulator:
    def __init__(self, *, token: str = "glpat-emulator-token", rate_limit: int = 2000, community_edition: bool = False) -> None:
        self.token = token
        self.community_edition = community_edition
        self.max_page: int | None = None
        """Set: a query asking for more MRs per page is refused as too complex, as GitLab does."""
        self._lock = threading.RLock()
        self._offset = 0.0
        self._ids = itertools.count(1000)
        self._projects: dict[str, Project] = {}
        self._log: list[Logged] = []
        self._faults: list[_Fault] = []
        self._closing = threading.Event()
        self._limit = rate_limit
        self._remaining = rate_limit
        self._reset = self.now() + WINDOW
        self._server, self._thread = serve(self, "gitlab-emulator")

    # -- addresses, time, budget, faults, log ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def remote_url(self, path: str, *, ssh: bool = False) -> str:
        return f"git@127.0.0.1:{path}.git" if ssh else f"{self.base_url}/{path}.git"

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def _window(self) -> None:
        if self.now() >= self._reset:
            self._remaining, self._reset = self._limit, self.now() + WINDOW

    def set_rate(self, *, remaining: int | None = None, reset_in: float | None = None) -> None:
        with self._lock:
            self._window()
            if remaining is not None:
                self._remaining = remaining
            if reset_in is not None:
                self._reset = self.now() + reset_in

    def fail(self, status: int | None = 502, *, times: int = 1, kind: str = "any", retry_after: float | None = None, delay: float = 0.0, path: str | None = None) -> None:
        """The next `times` requests of `kind` (rest, graphql, any) whose path contains `path`
        wait `delay` seconds, then get `status` (None: answered normally after the delay)."""
        with self._lock:
            self._faults.extend(_Fault(kind, status, retry_after, delay, path) for _ in range(times))

    def slow(self, seconds: float, *, times: int = 1, kind: str = "any") -> None:
        self.fail(None, times=times, kind=kind, delay=seconds)

    def requests(self, since: int = 0, *, kind: str | None = None, status: int | None = None) -> list[Logged]:
        with self._lock:
            return [r for r in self._log[since:] if (kind is None or r.kind == kind) and (status is None or r.status == status)]

    def mark(self) -> int:
        with self._lock:
            return len(self._log)

    # -- building state -----------------------------------------------------------------------------

    def create_project(
        self, path: str, *, default_branch: str = "main", git_dir: str | None = None,
        pipeline_must_succeed: bool = False, discussions_must_be_resolved: bool = False, approvals_required: int = 0,
    ) -> Project:
        with self._lock:
            project = Project(
                id=next(self._ids), path=path, default_branch=default_branch,
                branches={default_branch: _sha(path, "initial")}, git_dir=git_dir,
                only_allow_merge_if_pipeline_succeeds=pipeline_must_succeed,
                only_allow_merge_if_all_discussions_are_resolved=discussions_must_be_resolved,
                approvals_required=approvals_required,
            )
            self._projects[path.lower()] = project
            self._sync_branches(project)
            return project

    def project(self, path: str) -> Project:
        return self._projects[path.lower()]

    def _sync_branches(self, project: Project) -> None:
        if project.git_dir is None:
            return
        listed = subprocess.run(
            ["git", "-C", project.git_dir, "for-each-ref", "--format=%(objectname) %(refname:strip=2)", "refs/heads/"],
            capture_output=True, text=True, check=True,
        ).stdout
        for line in listed.splitlines():
            sha, _, branch = line.partition(" ")
            if project.branches.get(branch) != sha:
                self.push(project.path, branch, sha)

    def push(self, path: str, branch: str, sha: str | None = None) -> str:
        """Move (or create) `branch`; its open MRs follow."""
        with self._lock:
            project = self.project(path)
            new = sha or _sha(path, branch, next(self._ids))
            project.branches[branch] = new
            for mr in project.mrs.values():
                if mr.source_branch == branch and mr.state == "opened":
                    mr.updated_at = _iso(self.now())
            return new

    def create_issue(
        self, path: str, title: str, *, description: str = "", labels: Iterable[str] = (), assignees: Iterable[str] = (),
        milestone: str | None = None, author: str = "root", state: str = "opened",
    ) -> int:
        with self._lock:
            project = self.project(path)
            stamp = _iso(self.now())
            iid = len(project.issues) + 1
            project.issues[iid] = Issue(next(self._ids), iid, title, description, author, stamp, stamp, state, list(labels), list(assignees), milestone)
            self.advance(0.001)
            return iid

    def issue(self, path: str, iid: int) -> Issue:
        return self.project(path).issues[iid]

    def note_issue(self, path: str, iid: int, body: str, *, author: str = "root", system: bool = False) -> int:
        with self._lock:
            note = self._note(author, body, system=system)
            self.issue(path, iid).notes.append(note)
            return note.id

    def create_mr(self, path: str, source: str, *, target: str | None = None, title: str = "", draft: bool = False, author: str = "root") -> int:
        with self._lock:
            project = self.project(path)
            if source not in project.branches:
                self.push(path, source)
            return self._open_mr(project, source, target or project.default_branch, title or f"Work on {source}", "", draft, author).iid

    def mr(self, path: str, iid: int) -> MergeRequest:
        return self.project(path).mrs[iid]

    def head_sha(self, path: str, iid: int) -> str:
        project = self.project(path)
        return self._head(project, project.mrs[iid])

    def set_pipeline(self, path: str, sha: str, status: str, jobs: Iterable[tuple[str, str] | tuple[str, str, str]] = ()) -> Pipeline:
        """A new pipeline on `sha` (the newest one is the MR's head pipeline); jobs are
        (name, status) or (name, status, log). Statuses as GitLab's GraphQL spells them."""
        with self._lock:
            project = self.project(path)
            built = [Job(next(self._ids), j[0], j[1].upper(), j[2] if len(j) > 2 else "") for j in jobs]  # type: ignore[misc]
            pipeline = Pipeline(next(self._ids), sha, status.upper(), built)
            project.pipelines.append(pipeline)
            self._touch(project, sha)
            return pipeline

    def update_pipeline(self, path: str, pipeline_id: int, status: str, jobs: dict[str, tuple[str, str]] | None = None) -> None:
        """Set a pipeline's status, and of the named jobs (status, log)."""
        with self._lock:
            project = self.project(path)
            pipeline = next(p for p in project.pipelines if p.id == pipeline_id)
            pipeline.status = status.upper()
            for job in pipeline.jobs:
                if jobs and job.name in jobs:
                    job.status, job.log = jobs[job.name][0].upper(), jobs[job.name][1]

    def add_discussion(self, path: str, iid: int, body: str, *, author: str = "alice", file: str | None = None, line: int | None = None, bot: bool = False, resolvable: bool = True) -> tuple[str, int]:
        """A thread on the MR (inline when `file`): (discussion id, note id)."""
        with self._lock:
            note = self._note(author, body, bot=bot, path=file or "", line=line)
            discussion = Discussion(_sha("discussion", note.id)[:40], [note], resolvable=resolvable)
            mr = self.mr(path, iid)
            mr.discussions.append(discussion)
            mr.updated_at = note.created_at
            return discussion.id, note.id

    def reply(self, path: str, iid: int, discussion_id: str, body: str, *, author: str = "alice") -> int:
        with self._lock:
            discussion = next(d for d in self.mr(path, iid).discussions if d.id == discussion_id)
            note = self._note(author, body)
            discussion.notes.append(note)
            return note.id

    def system_note(self, path: str, iid: int, body: str) -> None:
        with self._lock:
            self.mr(path, iid).discussions.append(Discussion(_sha("system", next(self._ids))[:40], [self._note("root", body, system=True)], resolvable=False))

    def resolve(self, path: str, iid: int, discussion_id: str) -> None:
        with self._lock:
            next(d for d in self.mr(path, iid).discussions if d.id == discussion_id).resolved = True

    def approve(self, path: str, iid: int, username: str = "bob") -> None:
        with self._lock:
            mr = self.mr(path, iid)
            if username not in mr.approvals:
                mr.approvals.append(username)

    def set_merge_status(self, path: str, iid: int, status: str | None, *, conflicts: bool | None = None) -> None:
        with self._lock:
            mr = self.mr(path, iid)
            mr.merge_status = status
            if conflicts is not None:
                mr.conflicts = conflicts

    def merge_mr(self, path: str, iid: int) -> str:
        with self._lock:
            project = self.project(path)
            return self._merge(project, project.mrs[iid], squash=False)

    def close_mr(self, path: str, iid: int) -> None:
        with self._lock:
            project = self.project(path)
            mr = project.mrs[iid]
            mr.closed_head, mr.state = self._head(project, mr), "closed"

    # -- internals: state ----------------------------------------------------------------------------

    def _note(self, author: str, body: str, *, system: bool = False, bot: bool = False, path: str = "", line: int | None = None) -> Note:
        return Note(next(self._ids), author, body, _iso(self.now()), system, bot, path, line)

    def _open_mr(self, project: Project, source: str, target: str, title: str, description: str, draft: bool, author: str) -> MergeRequest:
        stamp = _iso(self.now())
        iid = max(project.mrs, default=0) + 1
        mr = MergeRequest(
            next(self._ids), iid, title, description, author, source, target, stamp, stamp, project.id,
            draft=draft or title.lower().startswith(("draft:", "[draft]")),
            approvals_required=project.approvals_required, base_sha=project.branches.get(target, ""),
        )
        project.mrs[iid] = mr
        self.advance(0.001)
        return mr

    def _touch(self, project: Project, sha: str) -> None:
        for mr in project.mrs.values():
            if self._head(project, mr) == sha:
                mr.updated_at = _iso(self.now())

    def _head(self, project: Project, mr: MergeRequest) -> str:
        if mr.state != "opened" and mr.closed_head:
            return mr.closed_head
        return project.branches.get(mr.source_branch, "0" * 40)

    def _head_pipeline(self, project: Project, mr: MergeRequest) -> Pipeline | None:
        head = self._head(project, mr)
        return next((p for p in reversed(project.pipelines) if p.sha == head), None)

    def _unresolved(self, mr: MergeRequest) -> bool:
        return any(d.resolvable and not d.resolved for d in mr.discussions)

    def _approved(self, mr: MergeRequest) -> bool:
        return len(mr.approvals) >= mr.approvals_required

    def _detailed_status(self, project: Project, mr: MergeRequest) -> str:
        if mr.state != "opened":
            return "NOT_OPEN"
        if mr.merge_status:
            return mr.merge_status
        if mr.draft:
            return "DRAFT_STATUS"
        if mr.conflicts:
            return "CONFLICT"
        pipeline = self._head_pipeline(project, mr)
        if project.only_allow_merge_if_pipeline_succeeds:
            if pipeline is None or pipeline.status in ("FAILED", "CANCELED"):
                return "CI_MUST_PASS"
            if pipeline.status in PENDING_PIPELINE:
                return "CI_STILL_RUNNING"
        if not self._approved(mr):
            return "NOT_APPROVED"
        if project.only_allow_merge_if_all_discussions_are_resolved and self._unresolved(mr):
            return "DISCUSSIONS_NOT_RESOLVED"
        return "MERGEABLE"

    def _merge(self, project: Project, mr: MergeRequest, *, squash: bool) -> str:
        head = self._head(project, mr)
        sha = _sha(project.path, "merge", mr.iid, head, squash)
        project.branches[mr.target_branch] = sha
        mr.closed_head, mr.state, mr.merge_commit_sha = head, "merged", sha
        if squash:
            mr.squash_commit_sha = _sha(project.path, "squash", mr.iid, head)
        mr.updated_at = _iso(self.now())
        return sha

    # -- internals: JSON ------------------------------------------------------------------------------

    def _user(self, username: str) -> dict[str, Any]:
        return {"id": int(hashlib.md5(username.encode()).hexdigest()[:6], 16), "username": username, "name": username.title(), "state": "active", "web_url": f"{self.base_url}/{username}"}

    def _issue_json(self, project: Project, issue: Issue) -> dict[str, Any]:
        return {
            "id": issue.id, "iid": issue.iid, "project_id": project.id, "title": issue.title,
            "description": issue.description or None, "state": issue.state,
            "created_at": issue.created_at, "updated_at": issue.updated_at,
            "closed_at": issue.updated_at if issue.state == "closed" else None,
            "labels": list(issue.labels), "milestone": {"id": 1, "iid": 1, "title": issue.milestone} if issue.milestone else None,
            "assignees": [self._user(a) for a in issue.assignees], "author": self._user(issue.author),
            "user_notes_count": sum(not n.system for n in issue.notes),
            "web_url": f"{self.base_url}/{project.path}/-/issues/{issue.iid}",
        }

    def _note_json(self, note: Note, noteable: str, noteable_iid: int) -> dict[str, Any]:
        return {
            "id": note.id, "type": "DiffNote" if note.path else None, "body": note.body, "author": self._user(note.author),
            "created_at": note.created_at, "updated_at": note.created_at, "system": note.system,
            "noteable_type": noteable, "noteable_iid": noteable_iid, "resolvable": False,
        }

    def _mr_json(self, project: Project, mr: MergeRequest) -> dict[str, Any]:
        head = self._head(project, mr)
        return {
            "id": mr.id, "iid": mr.iid, "project_id": project.id, "title": mr.title, "description": mr.description,
            "state": mr.state, "draft": mr.draft, "work_in_progress": mr.draft,
            "source_branch": mr.source_branch, "target_branch": mr.target_branch,
            "source_project_id": mr.source_project_id, "target_project_id": project.id,
            "author": self._user(mr.author), "created_at": mr.created_at, "updated_at": mr.updated_at,
            "sha": head, "merge_commit_sha": mr.merge_commit_sha, "squash_commit_sha": mr.squash_commit_sha,
            "merge_when_pipeline_succeeds": mr.merge_when_pipeline_succeeds,
            "detailed_merge_status": self._detailed_status(project, mr).lower(), "has_conflicts": mr.conflicts,
            "diff_refs": {"base_sha": mr.base_sha, "head_sha": head, "start_sha": mr.base_sha},
            "web_url": f"{self.base_url}/{project.path}/-/merge_requests/{mr.iid}",
        }

    # -- internals: REST --------------------------------------------------------------------------------

    def _find_project(self, ident: str) -> Project | None:
        ident = unquote(ident)
        if ident.isdigit():
            return next((p for p in self._projects.values() if p.id == int(ident)), None)
        return self._projects.get(ident.lower())

    def _rest(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        not_found: tuple[int, Any, dict[str, str]] = (404, {"message": "404 Not Found"}, {})
        parts = path.split("/")  # ['', 'api', 'v4', 'projects', ID, ...]
        if len(parts) < 5 or parts[:4] != ["", "api", "v4", "projects"]:
            return 404, {"error": "404 Not Found"}, {}
        project = self._find_project(parts[4])
        if project is None:
            return 404, {"message": "404 Project Not Found"}, {}
        self._sync_branches(project)
        rest = parts[5:]
        body = body if isinstance(body, dict) else {}
        if rest == ["issues"] and method == "GET":
            return self._list_issues(project, query)
        if len(rest) >= 2 and rest[0] == "issues" and rest[1].isdigit():
            issue = project.issues.get(int(rest[1]))
            if issue is None:
                return not_found
            if len(rest) == 2 and method == "GET":
                return 200, self._issue_json(project, issue), {}
            if len(rest) == 2 and method == "PUT":
                event = body.get("state_event")
                if event == "close":
                    issue.state = "closed"
                elif event == "reopen":
                    issue.state = "opened"
                issue.updated_at = _iso(self.now())
                return 200, self._issue_json(project, issue), {}
            if rest[2:] == ["notes"]:
                return self._notes(issue.notes, "Issue", issue.iid, method, query, body)
        if rest == ["merge_requests"] and method == "POST":
            return self._create_mr(project, body)
        if len(rest) >= 2 and rest[0] == "merge_requests" and rest[1].isdigit():
            mr = project.mrs.get(int(rest[1]))
            if mr is None:
                return not_found
            if len(rest) == 2 and method == "PUT":
                return self._update_mr(project, mr, body)
            if rest[2:] == ["merge"] and method == "PUT":
                return self._merge_mr(project, mr, body)
            if rest[2:] == ["notes"]:
                if method == "POST" and body.get("body"):
                    # An MR comment is a resolvable discussion of its own, as on GitLab.
                    note = self._note("aod-bot", str(body["body"]))
                    mr.discussions.append(Discussion(_sha("discussion", note.id)[:40], [note]))
                    return 201, self._note_json(note, "MergeRequest", mr.iid), {}
                return self._notes([n for d in mr.discussions for n in d.notes], "MergeRequest", mr.iid, method, query, body)
        if len(rest) == 3 and rest[0] == "jobs" and rest[1].isdigit() and rest[2] == "trace" and method == "GET":
            job = next((j for p in project.pipelines for j in p.jobs if j.id == int(rest[1])), None)
            if job is None:
                return not_found
            return 200, job.log, {"Content-Type": "text/plain"}
        return 404, {"error": "404 Not Found"}, {}

    def _page(self, items: list[Any], query: dict[str, str]) -> tuple[list[Any], dict[str, str]]:
        per_page = max(1, min(100, int(query.get("per_page") or 20)))
        page = max(1, int(query.get("page") or 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        pages = max(1, -(-len(items) // per_page))
        headers = {"X-Page": str(page), "X-Per-Page": str(per_page), "X-Total": str(len(items)), "X-Total-Pages": str(pages), "X-Next-Page": str(page + 1) if page < pages else "", "X-Prev-Page": str(page - 1) if page > 1 else ""}
        return chunk, headers

    def _list_issues(self, project: Project, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        issues = list(project.issues.values())
        state = query.get("state", "all")
        if state in ("opened", "closed"):
            issues = [i for i in issues if i.state == state]
        if query.get("labels"):
            wanted = {label.strip() for label in query["labels"].split(",") if label.strip()}
            issues = [i for i in issues if wanted <= set(i.labels)]
        if query.get("assignee_username"):
            issues = [i for i in issues if query["assignee_username"] in i.assignees]
        if query.get("milestone"):
            issues = [i for i in issues if i.milestone == query["milestone"]]
        issues.sort(key=lambda i: (i.created_at, i.iid), reverse=query.get("sort", "desc") == "desc")
        chunk, headers = self._page(issues, query)
        return 200, [self._issue_json(project, i) for i in chunk], headers

    def _notes(self, notes: list[Note], kind: str, iid: int, method: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if method == "POST":
            if not str(body.get("body") or "").strip():
                return 400, {"message": {"note": ["can't be blank"]}}, {}
            note = self._note("aod-bot", str(body["body"]))
            notes.append(note)
            return 201, self._note_json(note, kind, iid), {}
        ordered = sorted(notes, key=lambda n: (n.created_at, n.id), reverse=query.get("sort", "desc") == "desc")
        chunk, headers = self._page(ordered, query)
        return 200, [self._note_json(n, kind, iid) for n in chunk], headers

    def _create_mr(self, project: Project, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        source, target, title = str(body.get("source_branch") or ""), str(body.get("target_branch") or project.default_branch), str(body.get("title") or "")
        if not source or not title:
            return 400, {"error": "source_branch, title are missing"}, {}
        if source not in project.branches or target not in project.branches:
            return 422, {"message": ["Source branch does not exist" if source not in project.branches else "Target branch does not exist"]}, {}
        open_one = next((m for m in project.mrs.values() if m.source_branch == source and m.target_branch == target and m.state == "opened"), None)
        if open_one is not None:
            return 409, {"message": [f"Another open merge request already exists for this source branch: !{open_one.iid}"]}, {}
        mr = self._open_mr(project, source, target, title, str(body.get("description") or ""), False, "aod-bot")
        return 201, self._mr_json(project, mr), {}

    def _update_mr(self, project: Project, mr: MergeRequest, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if body.get("target_branch"):
            target = str(body["target_branch"])
            if target not in project.branches:
                return 422, {"message": {"target_branch": ["does not exist"]}}, {}
            mr.target_branch, mr.base_sha = target, project.branches[target]
        event = body.get("state_event")
        if event == "close" and mr.state == "opened":
            mr.closed_head, mr.state = self._head(project, mr), "closed"
        elif event == "reopen" and mr.state == "closed":
            mr.state = "opened"
        mr.updated_at = _iso(self.now())
        return 200, self._mr_json(project, mr), {}

    def _merge_mr(self, project: Project, mr: MergeRequest, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if mr.state != "opened":
            return 405, {"message": "405 Method Not Allowed"}, {}
        if body.get("sha") and body["sha"] != self._head(project, mr):
            return 409, {"message": "SHA does not match HEAD of source branch: " + self._head(project, mr)}, {}
        status = self._detailed_status(project, mr)
        pipeline = self._head_pipeline(project, mr)
        if body.get("merge_when_pipeline_succeeds") and pipeline is not None and pipeline.status in PENDING_PIPELINE and status in ("MERGEABLE", "CI_STILL_RUNNING"):
            mr.merge_when_pipeline_succeeds = True
            return 200, self._mr_json(project, mr), {}
        if status == "CONFLICT":
            return 406, {"message": "Branch cannot be merged"}, {}
        if status != "MERGEABLE":
            return 405, {"message": "405 Method Not Allowed"}, {}
        self._merge(project, mr, squash=bool(body.get("squash")))
        return 200, self._mr_json(project, mr), {}

    # -- internals: GraphQL --------------------------------------------------------------------------------

    def _graphql(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return {"errors": [{"message": "Invalid query"}]}
        try:
            return execute(body["query"], body.get("variables") or {}, self._query_root())
        except GraphqlFailure as exc:
            return {"errors": [exc.error]}

    def _query_root(self) -> Obj:
        def project(args: dict[str, Any]) -> Obj | None:
            found = self._projects.get(str(args.get("fullPath") or "").lower())
            if found is None:
                return None  # GitLab: null, no error
            self._sync_branches(found)
            return self._project_obj(found)

        return Obj("Query", {"project": project})

    def _project_obj(self, project: Project) -> Obj:
        def merge_requests(args: dict[str, Any]) -> Obj:
            if self.max_page is not None and int(args.get("first") or 0) > self.max_page:
                raise GraphqlFailure(f"Query has complexity of {int(args['first']) * 3}, which exceeds max complexity of {self.max_page * 3}")
            mrs = list(project.mrs.values())
            if args.get("sourceBranches") is not None:
                wanted = set(args["sourceBranches"])
                mrs = [m for m in mrs if m.source_branch in wanted]
            if args.get("state"):
                mrs = [m for m in mrs if m.state == str(args["state"])]
            mrs.sort(key=lambda m: (m.created_at, m.iid), reverse=str(args.get("sort") or "CREATED_DESC").endswith("DESC"))
            start = int(args["after"]) if args.get("after") else 0
            page = connection("MergeRequestConnection", mrs[start:], args)
            shown = len(page.fields["nodes"])
            page.fields["pageInfo"].fields["endCursor"] = str(start + shown) if shown else None
            page.fields["pageInfo"].fields["hasNextPage"] = start + shown < len(mrs)
            page.fields["nodes"] = [self._mr_obj(project, m) for m in page.fields["nodes"]]
            return page

        return Obj("Project", {"id": f"gid://gitlab/Project/{project.id}", "fullPath": project.path, "mergeRequests": merge_requests})

    def _user_obj(self, username: str, bot: bool = False) -> Obj:
        return Obj("UserCore", {"username": username, "name": username.title(), "bot": bot, "webUrl": f"{self.base_url}/{username}"})

    def _mr_obj(self, project: Project, mr: MergeRequest) -> Obj:
        head = self._head(project, mr)
        web = f"{self.base_url}/{project.path}/-/merge_requests/{mr.iid}"
        fields: dict[str, Any] = {
            "id": f"gid://gitlab/MergeRequest/{mr.id}", "iid": str(mr.iid), "title": mr.title, "webUrl": web,
            "state": mr.state, "draft": mr.draft, "sourceBranch": mr.source_branch, "targetBranch": mr.target_branch,
            "sourceProjectId": mr.source_project_id, "diffHeadSha": head,
            "diffRefs": Obj("DiffRefs", {"baseSha": mr.base_sha, "headSha": head, "startSha": mr.base_sha}),
            "detailedMergeStatus": self._detailed_status(project, mr), "conflicts": mr.conflicts,
            "approved": self._approved(mr), "approvalsRequired": mr.approvals_required,
            "approvalsLeft": max(0, mr.approvals_required - len(mr.approvals)),
            "approvedBy": lambda args: connection("UserCoreConnection", [self._user_obj(u) for u in mr.approvals], args),
            "headPipeline": lambda args: self._pipeline_obj(project, self._head_pipeline(project, mr)),
            "discussions": lambda args: connection("DiscussionConnection", [self._discussion_obj(project, mr, d) for d in mr.discussions], args),
            "updatedAt": mr.updated_at, "createdAt": mr.created_at,
        }
        if self.community_edition:
            for name in EE_FIELDS:
                fields.pop(name)
        return Obj("MergeRequest", fields)

    def _pipeline_obj(self, project: Project, pipeline: Pipeline | None) -> Obj | None:
        if pipeline is None:
            return None

        def jobs(args: dict[str, Any]) -> Obj:
            found = list(pipeline.jobs)
            if args.get("retried") is not None:
                found = [j for j in found if j.retried == bool(args["retried"])]
            if args.get("statuses"):
                wanted = {str(s) for s in args["statuses"]}
                found = [j for j in found if j.status in wanted]
            return connection("CiJobConnection", [
                Obj("CiJob", {"id": f"gid://gitlab/Ci::Build/{j.id}", "name": j.name, "status": j.status, "allowFailure": j.allow_failure, "retried": j.retried, "webPath": f"/{project.path}/-/jobs/{j.id}"})
                for j in found
            ], args)

        return Obj("Pipeline", {"id": f"gid://gitlab/Ci::Pipeline/{pipeline.id}", "iid": str(pipeline.id), "sha": pipeline.sha, "status": pipeline.status, "jobs": jobs})

    def _discussion_obj(self, project: Project, mr: MergeRequest, discussion: Discussion) -> Obj:
        web = f"{self.base_url}/{project.path}/-/merge_requests/{mr.iid}"

        def note_obj(note: Note) -> Obj:
            position = Obj("DiffPosition", {"filePath": note.path, "newLine": note.line, "oldLine": None}) if note.path else None
            kind = "DiffNote" if note.path else "Note"
            return Obj("Note", {
                "id": f"gid://gitlab/{kind}/{note.id}", "body": note.body, "system": note.system, "createdAt": note.created_at,
                "url": f"{web}#note_{note.id}", "author": self._user_obj(note.author, note.bot), "position": position,
                "resolvable": discussion.resolvable, "resolved": discussion.resolved,
            })

        return Obj("Discussion", {
            "id": f"gid://gitlab/Discussion/{discussion.id}", "resolvable": discussion.resolvable, "resolved": discussion.resolved,
            "notes": lambda args: connection("NoteConnection", [note_obj(n) for n in discussion.notes], args),
        })

    # -- the HTTP side -----------------------------------------------------------------------------------

    def _rate_headers(self) -> dict[str, str]:
        self._window()
        return {
            "RateLimit-Limit": str(self._limit), "RateLimit-Observed": str(self._limit - self._remaining),
            "RateLimit-Remaining": str(max(0, self._remaining)), "RateLimit-Reset": str(int(self._reset)),
            "RateLimit-ResetTime": email.utils.formatdate(self._reset, usegmt=True),
        }

    def _take_fault(self, kind: str, path: str) -> _Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.kind in ("any", kind) and (fault.path is None or fault.path in path):
                    return self._faults.pop(index)
        return None

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes, dict[str, str]]:
        parts = urlsplit(target)
        # Split before decoding: a project path is one segment, its slashes encoded as %2F.
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        kind = "graphql" if path == "/api/graphql" else "rest"
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        entry = Logged(method, path, query, kind, headers, body, self.now())
        with self._lock:
            self._log.append(entry)
        status, payload, extra = self._answer(entry)
        entry.status = status
        if isinstance(payload, (dict, list)):
            data = json.dumps(payload).encode()
            extra.setdefault("Content-Type", "application/json")
        else:
            data = str(payload).encode()
            extra.setdefault("Content-Type", "text/plain; charset=utf-8")
        return status, data, extra

    def _answer(self, entry: Logged) -> tuple[int, Any, dict[str, str]]:
        fault = self._take_fault(entry.kind, entry.path)
        if fault is not None and fault.delay:
            self._closing.wait(fault.delay)
        with self._lock:
            if fault is not None and fault.status is not None:
                headers = self._rate_headers()
                if fault.retry_after is not None:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
                if fault.status == 429:
                    return 429, "Retry later", headers
                return fault.status, f"<html><body><h1>{fault.status}</h1>GitLab is not responding</body></html>", {**headers, "Content-Type": "text/html"}
            token = entry.headers.get("private-token") or entry.headers.get("authorization", "").removeprefix("Bearer ")
            if token != self.token:
                return 401, {"message": "401 Unauthorized"}, {}
            self._window()
            if self._remaining <= 0:
                return 429, "Retry later", {**self._rate_headers(), "Retry-After": str(max(1, int(self._reset - self.now())))}
            self._remaining -= 1
            if entry.kind == "graphql":
                status, payload, extra = 200, self._graphql(entry.body), {}
            else:
                status, payload, extra = self._rest(entry.method, entry.path, entry.query, entry.body)
            return status, payload, {**extra, **self._rate_headers()}
