"""The `gitlab` plugin: merge requests, pipelines, approvals and threads (the scm slot) and
issues (the tracker slot) on gitlab.com or a self-managed GitLab (REST v4 + GraphQL).

What a tick costs (docs/trackers-and-scm.md, `## GitLab`): per project, ONE GraphQL query for
the merge requests of every tracked branch (gitlab_mrs.py: `mergeRequests(sourceBranches:
[...])`, 100 per page), whatever their number: a quiet project costs one request per tick,
100 open MRs too (a second page only when more than 100 MRs, old closed ones included, match
the branches). A failing job adds one REST request for its log (`/jobs/:id/trace`), once per
(head SHA, job). Nothing is cached between ticks but those log excerpts: GitLab changes a
pipeline or a mergeability without touching the MR, and one query reads it all anyway.

Rate limits: every answer's `RateLimit-Remaining` / `RateLimit-Reset` are kept; a 429 (with
`Retry-After`) or a 403 with no budget left makes aod wait without sending anything
(aod/plugins/service_http.py), and while the budget is nearly spent the tick's look is
skipped until it resets (commands still go). A look that fails, or is skipped, leaves the
sessions out of the report: "not known this time", never "no MR".
"""

from __future__ import annotations

import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx
import msgspec
import structlog
import trio

from aod import redact
from aod.ci_logs import excerpt
from aod.config import Config
from aod.config.trackers import GitlabConfig
from aod.facts import PRFacts
from aod.plugins.forge import (
    ForgeError,
    ForgeReport,
    ForgeUnavailable,
    Issue,
    IssueComment,
    MergeMethod,
    MergeRefused,
    NoSuchIssue,
    RepoTarget,
    TrackedBranch,
)
from aod.plugins.forge.gitlab_mrs import (
    AOD_MARK,
    OPTIONAL_FIELDS,
    PAGE,
    FailedJob,
    ReadMR,
    clean_trace,
    issue_of,
    mr_query,
    parse_remote,
    pick,
    project_numeric_id,
    read_mr,
    rest_mr_facts,
    username,
)
from aod.plugins.service_http import NotSent, RateLimited, ServiceHttp, configured_token, int_or, server_now
from aod.plugins.tracker import NoSuchState
from aod.proc import ToolMissing, ToolTimeout, child_env, run
from aod.redact import Redactor

log = structlog.get_logger()

TokenSource = Literal["gitlab.token", "GITLAB_TOKEN", "glab auth token"]
TOKEN_RETRY = 300.0
"""After the token command failed, it is run again no sooner than this."""
LOG_CACHE = 512
LOG_WAIT = 60.0
"""A failing job waits at most this long (a rate-limit wait) for its log before it is reported without."""
MAX_PAGES = 5
"""Pages of merge requests per 100 branches; beyond, the branches not found stay unknown."""
RESERVE = 10
"""While this few requests are left of the budget, the tick's look waits for the reset."""
MAX_NOTE_CHARS = 1_000_000
MAX_TITLE_CHARS = 255
NOTE_PAGES = 5


# ---------------------------------------------------------------------------------------------
# Where GitLab is


def api_base(settings: GitlabConfig) -> str:
    return settings.base_url.rstrip("/") + "/api/v4"


def project_api(settings: GitlabConfig, path: str) -> str:
    """BASE/api/v4/projects/group%2Fsub%2Fname: a project named by its URL-encoded path."""
    return "/".join((api_base(settings), "projects", quote(path, safe="")))


def graphql_url(settings: GitlabConfig) -> str:
    return settings.base_url.rstrip("/") + "/api/graphql"


def web_host(settings: GitlabConfig) -> str:
    return (urlsplit(settings.base_url).hostname or "").lower()


class GraphqlError(ForgeError):
    def __init__(self, errors: list[Any]) -> None:
        self.errors = [e for e in errors if isinstance(e, Mapping)]
        self.messages = [str(e.get("message") or "") for e in self.errors]
        super().__init__("GitLab GraphQL: " + "; ".join(self.messages)[:500])

    def undefined(self) -> set[str]:
        """The fields the schema lacks, by name."""
        names = set()
        for error in self.errors:
            extensions = error.get("extensions")
            if isinstance(extensions, Mapping) and extensions.get("code") == "undefinedField":
                names.add(str(extensions.get("fieldName") or ""))
            match = re.search(r"Field '(\w+)' doesn't exist", str(error.get("message") or ""))
            if match:
                names.add(match[1])
        return names

    def too_complex(self) -> bool:
        return any("complexity" in m and "exceeds" in m for m in self.messages)


class _Meter:
    def __init__(self) -> None:
        self.requests = 0


class GitlabForge:
    kind = "gitlab"

    def __init__(
        self,
        config: Callable[[], Config],
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._env_given = env is not None
        self._env: Mapping[str, str] = os.environ if env is None else env
        self._clock = clock
        self._http = ServiceHttp("GitLab", self._settings, clock=clock)
        self._command_token: str | None = None
        self._command_failed_at: float | None = None
        self._command_problem = ""
        self._token_lock = trio.Lock()
        self._optional = list(OPTIONAL_FIELDS)
        self._page = PAGE
        self._logs: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._budget: tuple[int, int, float] | None = None
        """(remaining, limit, monotonic time of the reset) from the last answer that said."""
        # Takes secrets out of job logs before they are excerpted (the app sets the config's).
        self.redactor: Callable[[], Redactor] = lambda: redact.DEFAULT

    def _settings(self) -> GitlabConfig:
        return self._config().gitlab

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- token ------------------------------------------------------------------------------------

    def token_source(self) -> TokenSource | None:
        """Where the token comes from (never the token); None: none found (yet)."""
        found = configured_token(self._settings().token, "gitlab.token", self._env, "GITLAB_TOKEN")
        if found is not None:
            return found[1]  # type: ignore[return-value]
        return "glab auth token" if self._command_token is not None else None

    async def token_problem(self) -> str | None:
        """None when a token can be found (token_source() says where), else what to do."""
        try:
            await self._token()
        except ForgeError as exc:
            return str(exc)
        return None

    async def _token(self) -> str:
        found = configured_token(self._settings().token, "gitlab.token", self._env, "GITLAB_TOKEN")
        if found is not None:
            return found[0]
        async with self._token_lock:
            if self._command_token is not None:
                return self._command_token
            if self._command_failed_at is not None and self._clock() - self._command_failed_at < TOKEN_RETRY:
                raise ForgeError(self._command_problem)
            try:
                self._command_token = await self._run_token_command()
            except ForgeError as exc:
                self._command_failed_at, self._command_problem = self._clock(), str(exc)
                raise
            return self._command_token

    async def _run_token_command(self) -> str:
        settings = self._settings()
        argv = list(settings.token_command)
        host = web_host(settings)
        extra = {"GITLAB_HOST": settings.base_url} if host != "gitlab.com" else {}  # glab's self-managed host
        env = child_env({**(dict(self._env) if self._env_given else {}), **extra})
        fix = "set GITLAB_TOKEN in aod's environment (~/.config/ao/aod.env) or gitlab.token in config, or run `glab auth login`"
        shown = " ".join(argv)
        try:
            result = await run(argv, timeout=settings.timeout, env=env)
        except ToolMissing:
            raise ForgeError(f"no GitLab token: gitlab.token and GITLAB_TOKEN are unset and {argv[0]} is not installed; {fix}") from None
        except ToolTimeout:
            raise ForgeError(f"no GitLab token: `{shown}` did not answer within {settings.timeout:g}s; {fix}") from None
        token = result.out.strip()
        if not result.ok or not token:
            said = result.err.strip().splitlines()[0] if result.err.strip() else f"exit status {result.returncode}"
            raise ForgeError(f"no GitLab token: gitlab.token and GITLAB_TOKEN are unset and `{shown}` failed ({said}); {fix}")
        if not token.isascii() or not token.isprintable() or " " in token:
            raise ForgeError(f"`{shown}` printed something that is not a token; {fix}")
        return token

    # -- HTTP -------------------------------------------------------------------------------------

    async def _call(
        self, method: str, url: str, meter: _Meter, *, params: Mapping[str, Any] | None = None,
        json: Any = None, retry: bool | None = None,
    ) -> httpx.Response:
        token = await self._token()
        before = self._http.requests
        try:
            response = await self._http.request(
                method, url, headers={"Authorization": f"Bearer {token}"}, params=params, json=json, retry=retry
            )
        finally:
            meter.requests += self._http.requests - before
        self._observe(response)
        if response.status_code == 401:
            self._command_token = None  # glab may have a fresh one by now
            raise ForgeError(f"GitLab refused the token (401 {_message(response)}); {self._token_hint()}")
        return response

    def _token_hint(self) -> str:
        source = self.token_source() or "no source"
        return f"the token from {source} is invalid or expired, or lacks the `api` scope"

    def _observe(self, response: httpx.Response) -> None:
        headers = response.headers
        remaining = headers.get("ratelimit-remaining")
        if remaining is None:
            return
        reset = int_or(headers.get("ratelimit-reset"), 0)
        left = max(0.0, reset - server_now(response)) if reset else 60.0
        self._budget = (int_or(remaining, 0), int_or(headers.get("ratelimit-limit"), 0), self._clock() + left)

    def _low_budget(self) -> bool:
        if self._budget is None:
            return False
        remaining, _, reset_at = self._budget
        return remaining <= RESERVE and self._clock() < reset_at

    async def _graphql(self, query: str, variables: Mapping[str, Any], meter: _Meter) -> dict[str, Any]:
        response = await self._call("POST", graphql_url(self._settings()), meter, json={"query": query, "variables": dict(variables)}, retry=True)
        if response.status_code == 403:
            raise ForgeError(f"GitLab refused the GraphQL query (403 {_message(response)}); {self._token_hint()}")
        if response.status_code != 200:
            raise ForgeError(f"GitLab GraphQL answered {response.status_code} ({_message(response)})")
        try:
            body = response.json()
        except ValueError:
            raise ForgeUnavailable("GitLab GraphQL answered something that is not JSON") from None
        if not isinstance(body, Mapping):
            raise ForgeUnavailable("GitLab GraphQL answered something that is not a JSON object")
        if body.get("errors"):
            raise GraphqlError(list(body["errors"]))
        data = body.get("data")
        return dict(data) if isinstance(data, Mapping) else {}

    def _project(self, repo: RepoTarget) -> str:
        section = self._config().projects.get(repo.project)
        configured = section.gitlab.project if section is not None else None
        return configured or parse_remote(repo.remote_url, self._settings().base_url)

    def _project_url(self, repo: RepoTarget) -> tuple[str, str]:
        path = self._project(repo)
        return path, project_api(self._settings(), path)

    # -- merge requests ------------------------------------------------------------------------------

    async def pull_requests(self, repo: RepoTarget, branches: Sequence[TrackedBranch]) -> ForgeReport:
        if not branches:
            return ForgeReport(prs={}, requests=0)
        path = self._project(repo)
        if self._low_budget():
            log.info("gitlab budget nearly spent: MR look skipped this tick", project=path)
            return ForgeReport(prs={}, requests=0)
        meter = _Meter()
        wanted = list(dict.fromkeys(b.branch for b in branches))
        found: dict[str, ReadMR | None] = {}
        for start in range(0, len(wanted), PAGE):
            found.update(await self._query(path, wanted[start : start + PAGE], meter))
        held = await self._fill_logs(path, found, meter)
        prs: dict[str, PRFacts | None] = {}
        for tracked in branches:
            if tracked.branch in held or tracked.branch not in found:
                continue  # not known this time: the tick keeps what it knew
            read = found[tracked.branch]
            prs[tracked.session] = read.facts if read is not None else None
        return ForgeReport(prs=prs, requests=meter.requests)

    async def _query(self, path: str, branches: list[str], meter: _Meter) -> dict[str, ReadMR | None]:
        """Each branch's MR (None: it has none); a branch left out is not known this time."""
        nodes: list[Mapping[str, Any]] = []
        after: str | None = None
        project_id: int | None = None
        complete = False
        for _ in range(MAX_PAGES):
            data = await self._ask(path, branches, after, meter)
            project = data.get("project")
            if not isinstance(project, Mapping):
                raise ForgeError(f"GitLab has no project {path} (or the token cannot see it: it needs read_api or api scope)")
            project_id = project_numeric_id(project)
            connection = project.get("mergeRequests")
            if not isinstance(connection, Mapping):
                raise ForgeError(f"unexpected GraphQL answer for {path}: no mergeRequests")
            nodes.extend(n for n in connection.get("nodes") or () if isinstance(n, Mapping))
            page = connection.get("pageInfo") if isinstance(connection.get("pageInfo"), Mapping) else {}
            after = page.get("endCursor") if page.get("hasNextPage") else None
            if after is None:
                complete = True
                break
            if len(pick(nodes, branches, project_id)) == len(branches):
                break
        web = self._settings().base_url.rstrip("/")
        found: dict[str, ReadMR | None] = {}
        try:
            for branch, node in pick(nodes, branches, project_id).items():
                found[branch] = read_mr(node, web)
        except ValueError as exc:
            raise ForgeError(f"unexpected GraphQL answer for {path}: {exc}") from None
        if complete:
            found.update({branch: None for branch in branches if branch not in found})
        return found

    async def _ask(self, path: str, branches: list[str], after: str | None, meter: _Meter) -> dict[str, Any]:
        variables = {"path": path, "branches": branches, "after": after}
        for _ in range(len(OPTIONAL_FIELDS) + 4):
            try:
                return await self._graphql(mr_query(optional=self._optional, page=self._page), variables, meter)
            except GraphqlError as exc:
                missing = exc.undefined() & set(self._optional)
                if missing:
                    # GitLab Community Edition: no approval rules; ask without them from now on.
                    self._optional = [f for f in self._optional if f not in missing]
                    log.info("gitlab: fields not in this GitLab's schema; asking without them", fields=sorted(missing))
                elif exc.too_complex() and self._page > 10:
                    self._page //= 2
                    log.info("gitlab: query too complex; asking for fewer MRs per page", page=self._page)
                else:
                    raise
        raise ForgeError(f"GitLab refused every form of the merge-request query for {path}")

    # -- failing job logs ------------------------------------------------------------------------------

    async def _fill_logs(self, path: str, found: dict[str, ReadMR | None], meter: _Meter) -> set[str]:
        """Put the log excerpt into each failing job's CheckFact; the branches whose log must
        wait (a short rate-limit wait) are returned: not known this time."""
        held: set[str] = set()
        for branch, read in list(found.items()):
            if read is None or not read.jobs:
                continue
            excerpts: dict[str, str] = {}
            for job in read.jobs:
                text = await self._job_excerpt(path, read.facts.head_sha, job, meter)
                if text is None:
                    held.add(branch)
                    break
                excerpts.setdefault(job.check, text)
            if branch in held:
                continue
            failing = tuple(
                msgspec.structs.replace(check, log_excerpt=excerpts[check.name]) if excerpts.get(check.name) else check
                for check in read.facts.failing
            )
            found[branch] = ReadMR(facts=msgspec.structs.replace(read.facts, failing=failing), jobs=read.jobs)
        return held

    async def _job_excerpt(self, path: str, head_sha: str, job: FailedJob, meter: _Meter) -> str | None:
        """The excerpt of a job's log; "" when it cannot be had; None: ask on a later tick."""
        key = (head_sha, job.job_id)
        if key in self._logs:
            self._logs.move_to_end(key)
            return self._logs[key]
        settings = self._settings()
        url = f"{project_api(settings, path)}/jobs/{job.job_id}/trace"
        try:
            response = await self._call("GET", url, meter, retry=False)
        except (NotSent, RateLimited) as exc:
            return None if (exc.retry_after or 0.0) <= LOG_WAIT else ""
        except ForgeUnavailable:
            text = ""  # one try: a log is a nicety, never worth a stream of requests
        else:
            text = excerpt(clean_trace(response.text), settings.log_excerpt_chars, self.redactor().text) if response.status_code == 200 else ""
        self._logs[key] = text
        while len(self._logs) > LOG_CACHE:
            self._logs.popitem(last=False)
        return text

    # -- commands on merge requests ---------------------------------------------------------------

    async def open_pr(self, repo: RepoTarget, branch: TrackedBranch, *, title: str, body: str) -> PRFacts:
        path, url = self._project_url(repo)
        meter = _Meter()
        payload = {
            "source_branch": branch.branch, "target_branch": branch.base,
            "title": " ".join(title.split())[:MAX_TITLE_CHARS] or branch.branch, "description": body[:MAX_NOTE_CHARS],
        }
        response = await self._call("POST", f"{url}/merge_requests", meter, json=payload, retry=False)
        if response.status_code == 201:
            return rest_mr_facts(response.json())
        said = _message(response)
        if response.status_code == 409 or "already exists" in said:
            read = (await self._query(path, [branch.branch], meter)).get(branch.branch)
            if read is not None and read.facts.state == "open":
                return read.facts
        if response.status_code == 404:
            raise ForgeError(f"GitLab has no project {path} (or the token may not open merge requests there)")
        raise ForgeError(f"GitLab would not open a merge request for {branch.branch} into {branch.base}: {said}")

    async def merge(self, repo: RepoTarget, number: str, *, expected_head: str, method: MergeMethod) -> str:
        """`merge` and `squash` (GitLab's `squash` flag); the merge commit, fast-forward or
        semi-linear history is the project's own setting. `rebase` is refused: GitLab's rebase
        makes a new head that nobody judged; set the project to fast-forward merges and use
        `merge` instead."""
        path, url = self._project_url(repo)
        iid = _iid(number)
        if method == "rebase":
            raise MergeRefused(
                f"aod does not rebase-merge on GitLab (a rebase makes a head nobody judged): set merge_method to "
                f"merge or squash; for a linear history set {path}'s merge method to fast-forward in GitLab"
            )
        payload: dict[str, Any] = {"sha": expected_head, "squash": method == "squash"}
        section = self._config().projects.get(repo.project)
        if section is not None and section.gitlab.merge_when_pipeline_succeeds:
            payload["merge_when_pipeline_succeeds"] = True
        # Not retried: a merge whose answer was lost may have happened; the next tick will see.
        response = await self._call("PUT", f"{url}/merge_requests/{iid}/merge", _Meter(), json=payload, retry=False)
        said = _message(response)
        if response.status_code == 200:
            data = response.json()
            if data.get("state") == "merged":
                return str(data.get("merge_commit_sha") or data.get("squash_commit_sha") or data.get("sha") or "")
            raise MergeRefused(f"GitLab will merge !{iid} when its pipeline succeeds; it is not merged yet")
        if response.status_code == 409:
            raise MergeRefused(
                f"GitLab did not merge !{iid}: its head is no longer {expected_head[:12]} ({said}); aod merges only the head it judged"
            )
        if response.status_code in (401, 403):
            raise MergeRefused(f"GitLab did not let this token merge !{iid}: {said}")
        if response.status_code in (405, 406, 422):
            raise MergeRefused(f"GitLab did not merge !{iid}: {said}")
        if response.status_code == 404:
            raise ForgeError(f"{path} has no merge request !{iid} (or the token cannot see it)")
        raise ForgeError(f"merging !{iid} of {path}: GitLab answered {response.status_code} ({said})")

    async def comment(self, repo: RepoTarget, number: str, body: str) -> None:
        path, url = self._project_url(repo)
        iid = _iid(number)
        await self._note(f"{url}/merge_requests/{iid}/notes", body, f"!{iid} of {path}")

    async def _note(self, url: str, body: str, what: str) -> None:
        text = body if len(body) <= MAX_NOTE_CHARS - 100 else body[: MAX_NOTE_CHARS - 100] + "\n\n… (cut by aod: too long for GitLab)"
        response = await self._call("POST", url, _Meter(), json={"body": f"{text}\n\n{AOD_MARK}"}, retry=False)
        if response.status_code == 404:
            raise ForgeError(f"GitLab has no {what} (or the token cannot comment there)")
        _expect(response, 201, f"commenting on {what}")

    async def close_pr(self, repo: RepoTarget, number: str) -> str:
        path, url = self._project_url(repo)
        iid = _iid(number)
        response = await self._call("PUT", f"{url}/merge_requests/{iid}", _Meter(), json={"state_event": "close"}, retry=False)
        if response.status_code == 404:
            raise ForgeError(f"{path} has no merge request !{iid} (or the token cannot close it)")
        _expect(response, 200, f"closing !{iid} of {path}")
        return "merged" if response.json().get("state") == "merged" else "closed"

    async def retarget_pr(self, repo: RepoTarget, number: str, base: str) -> None:
        path, url = self._project_url(repo)
        iid = _iid(number)
        response = await self._call("PUT", f"{url}/merge_requests/{iid}", _Meter(), json={"target_branch": base}, retry=False)
        if response.status_code == 404:
            raise ForgeError(f"{path} has no merge request !{iid} (or the token cannot change it)")
        if response.status_code in (400, 409, 422):
            raise ForgeError(f"GitLab refused to retarget !{iid} of {path} to {base}: {_message(response)}")
        _expect(response, 200, f"retargeting !{iid} of {path} to {base}")

    # -- issues (the tracker slot) ---------------------------------------------------------------

    async def get_issue(self, repo: RepoTarget, issue_id: str) -> Issue:
        path, url = self._project_url(repo)
        iid = _issue_iid(issue_id)
        meter = _Meter()
        response = await self._call("GET", f"{url}/issues/{iid}", meter)
        if response.status_code == 404:
            raise NoSuchIssue(f"{path} has no issue #{iid} (or the token cannot see it)")
        _expect(response, 200, f"reading issue #{iid} of {path}")
        data = response.json()
        comments: tuple[IssueComment, ...] = ()
        if data.get("user_notes_count") != 0:
            comments = tuple(
                IssueComment(author=username(n.get("author")), body=str(n.get("body") or ""), at=str(n.get("created_at") or ""))
                for n in await self._notes(f"{url}/issues/{iid}/notes", meter, missing=f"{path} has no issue #{iid}")
                if not n.get("system")
            )
        return issue_of(data, comments)

    async def _notes(self, url: str, meter: _Meter, *, missing: str) -> list[Mapping[str, Any]]:
        notes: list[Mapping[str, Any]] = []
        page: str | None = "1"
        for _ in range(NOTE_PAGES):
            if not page:
                break
            response = await self._call("GET", url, meter, params={"sort": "asc", "order_by": "created_at", "per_page": 100, "page": page})
            if response.status_code == 404:
                raise NoSuchIssue(missing)
            _expect(response, 200, "reading notes")
            notes.extend(n for n in response.json() if isinstance(n, Mapping))
            page = response.headers.get("x-next-page") or None
        return notes

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
        path, url = self._project_url(repo)
        meter = _Meter()
        params: dict[str, Any] = {
            "state": {"open": "opened", "closed": "closed"}.get(state, "all"),
            "order_by": "created_at", "sort": "desc", "per_page": max(1, min(100, limit)),
        }
        if labels:
            params["labels"] = ",".join(labels)
        if assignee:
            params["assignee_username"] = assignee
        if milestone:
            params["milestone"] = milestone
        issues: list[Issue] = []
        page: str | None = "1"
        while page and len(issues) < limit:
            response = await self._call("GET", f"{url}/issues", meter, params={**params, "page": page})
            if response.status_code == 404:
                raise ForgeError(f"GitLab has no project {path} (or the token cannot see it)")
            _expect(response, 200, f"listing the issues of {path}")
            issues.extend(issue_of(i, ()) for i in response.json() if isinstance(i, Mapping))
            page = response.headers.get("x-next-page") or None
        return issues[:limit]

    async def move_issue(self, repo: RepoTarget, issue_id: str, state: str) -> str:
        """GitLab issues are `opened` or `closed` (`open`, `close`, `reopened` are understood)."""
        path, url = self._project_url(repo)
        iid = _issue_iid(issue_id)
        wanted = {"closed": "closed", "close": "closed", "opened": "opened", "open": "opened", "reopened": "opened", "reopen": "opened"}.get(state.strip().lower())
        if wanted is None:
            raise NoSuchState(f"GitLab issues have the states opened and closed, not {state!r}")
        meter = _Meter()
        response = await self._call("GET", f"{url}/issues/{iid}", meter)
        if response.status_code == 404:
            raise NoSuchIssue(f"{path} has no issue #{iid} (or the token cannot see it)")
        _expect(response, 200, f"reading issue #{iid} of {path}")
        if response.json().get("state") == wanted:
            return wanted
        event = "close" if wanted == "closed" else "reopen"
        response = await self._call("PUT", f"{url}/issues/{iid}", meter, json={"state_event": event}, retry=False)
        _expect(response, 200, f"moving issue #{iid} of {path} to {wanted}")
        return str(response.json().get("state") or wanted)

    async def link_pr(self, repo: RepoTarget, issue_id: str, *, url: str, title: str) -> None:
        """A note on the issue naming the MR; none when a note already names that URL."""
        path, base = self._project_url(repo)
        iid = _issue_iid(issue_id)
        notes_url = f"{base}/issues/{iid}/notes"
        missing = f"{path} has no issue #{iid} (or the token cannot see it)"
        if any(url in str(n.get("body") or "") for n in await self._notes(notes_url, _Meter(), missing=missing)):
            return
        await self._note(notes_url, f"{' '.join(title.split())[:MAX_TITLE_CHARS]}\n\n{url}", f"issue #{iid} of {path}")

    # -- status -------------------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        out: dict[str, object] = {**self._http.status(), "token_source": self.token_source()}
        if self._budget is not None:
            remaining, limit, reset_at = self._budget
            out["rate_limit"] = {"core": {"remaining": remaining, "limit": limit, "reset_in_s": round(max(0.0, reset_at - self._clock()), 1)}}
        if self._optional != list(OPTIONAL_FIELDS):
            out["without_fields"] = [f for f in OPTIONAL_FIELDS if f not in self._optional]
        return out


# ---------------------------------------------------------------------------------------------
# Helpers


def _message(response: httpx.Response) -> str:
    """GitLab's `message` (a string, a list, or a dict of field → problems) or `error`."""
    try:
        data = response.json()
    except ValueError:
        return (response.text or response.reason_phrase or "")[:300]
    if isinstance(data, Mapping):
        said = data.get("message", data.get("error", ""))
        if isinstance(said, list):
            return "; ".join(map(str, said))[:500]
        if isinstance(said, Mapping):
            return "; ".join(f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in said.items())[:500]
        return str(said)[:500]
    return str(data)[:300]


def _expect(response: httpx.Response, status: int, doing: str) -> None:
    if response.status_code != status:
        raise ForgeError(f"{doing}: GitLab answered {response.status_code} ({_message(response)})")


def _issue_iid(issue_id: str) -> int:
    text = str(issue_id).strip().lstrip("#")
    if not text.isdigit() or int(text) <= 0:
        raise NoSuchIssue(f"GitLab issues are numbered: {issue_id!r} is not a number like 42")
    return int(text)


def _iid(number: str) -> int:
    text = str(number).strip().lstrip("!")
    if not text.isdigit() or int(text) <= 0:
        raise ForgeError(f"{number!r} is not a merge request number")
    return int(text)


__all__ = ["GitlabForge", "api_base", "clean_trace", "graphql_url", "parse_remote", "web_host"]
