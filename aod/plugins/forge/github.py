"""The `github` forge: issues, PRs, CI and reviews on GitHub or GitHub Enterprise.

What a tick costs (docs/trackers-and-scm.md has the long version). Per repository, ONE conditional REST
request first: `GET /repos/{o}/{r}/pulls?state=all&sort=updated&direction=desc` with the ETag
of the last answer. GitHub answers 304 when no PR changed (a 304 does not count against the
rate limit), and then aod already knows every tracked PR's facts. Only PRs that changed,
that are new to aod, or whose state GitHub changes without touching the PR (checks still
running, mergeability being computed) are read with GraphQL: one query for all of them (50 per
query). So a quiet repository costs one request per tick, or two while checks run, whatever
the number of PRs; every PR is also re-read once per `github.refresh` (spread so that a tick
never needs an extra query for it), because a resolved thread or a moved base branch does
not change `updated_at`.

When the budget runs low, PR polling spreads out and then stops (github_api.may_poll); the
report then leaves sessions out, which the tick reads as "not known this time" — never as
"no PR". A failing GitHub Actions check brings an excerpt of its job log (fetched once per
head SHA and job).
"""

from __future__ import annotations

import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec
import structlog
import trio

from aod import redact
from aod.ci_logs import excerpt
from aod.redact import Redactor
from aod.config import Config, GithubConfig
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
from aod.plugins.tracker import NoSuchState
from aod.plugins.forge.github_api import GithubApi, GraphqlError, Meter, NotSent, RateLimited, message_of
from aod.plugins.forge.github_prs import (
    CHUNK,
    ActionsJob,
    ReadPR,
    needs_watching,
    pr_query,
    pr_variables,
    read_repository,
)
from aod.proc import ToolMissing, ToolTimeout, child_env, run

log = structlog.get_logger()

LISTING_PAGE = 50
"""PRs per page of the change-detection listing. Every PR changed since the last look is on
it unless more than this many changed in one tick (then every tracked PR is read again); a
page of full PR objects is large, so it is not GitHub's maximum of 100."""
NEW_HEAD_GRACE = 120.0
"""A new head with no checks yet is watched this long: CI takes a moment to register its runs."""
TOKEN_RETRY = 300.0
"""After `gh auth token` failed, it is run again no sooner than this."""
MAX_COMMENT_CHARS = 65_000
"""GitHub refuses comment bodies over 65536 characters."""
LOG_CACHE = 512
FORGET_AFTER = 3600.0
"""A branch no call asked about for this long is dropped from the cache."""
RECENT = 2.0
"""Seconds: a PR updated this close to the moment it was read is read once more."""
LOG_WAIT = 60.0
"""A failing check waits at most this long (a backoff) for its log before it is reported without."""
TokenSource = Literal["GH_TOKEN", "GITHUB_TOKEN", "gh auth token"]


# ---------------------------------------------------------------------------------------------
# Where GitHub is, and which repository a remote names


def api_base(settings: GithubConfig) -> str:
    return settings.api_url.rstrip("/")


def graphql_url(settings: GithubConfig) -> str:
    """`github.graphql_url`, or derived: api.github.com → /graphql, HOST/api/v3 → HOST/api/graphql."""
    if settings.graphql_url:
        return settings.graphql_url.rstrip("/")
    base = api_base(settings)
    if base.endswith("/api/v3"):
        return base[: -len("/v3")] + "/graphql"
    return base + "/graphql"


def web_host(settings: GithubConfig) -> str:
    """The host remotes name: github.com for api.github.com, octo.ghe.com for api.octo.ghe.com,
    and the API's own host for GitHub Enterprise Server (HOST/api/v3)."""
    host = (urlsplit(api_base(settings)).hostname or "").lower()
    return host[len("api."):] if host.startswith("api.") else host


_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[^:/\s]+):(?!//)(?P<path>[^\s]+)$")
_NAME_PART = re.compile(r"^[A-Za-z0-9_.-]+$")


def parse_remote(remote_url: str | None, host: str) -> tuple[str, str]:
    """(owner, name) of a GitHub remote on `host`: https://HOST/o/r(.git), git@HOST:o/r.git,
    ssh://git@HOST[:port]/o/r.git. Raises ForgeError saying what was expected."""
    expected = f"https://{host}/OWNER/REPO or git@{host}:OWNER/REPO.git"
    if not remote_url:
        raise ForgeError(f"the project has no remote URL; add one (`git remote add origin https://{host}/OWNER/REPO`)")
    text = remote_url.strip()
    shown = _redacted(text)
    if "://" in text:
        try:
            parts = urlsplit(text)
            found_host, path = (parts.hostname or "").lower(), parts.path
        except ValueError:
            raise ForgeError(f"{shown} is not a URL aod can read; expected {expected}") from None
        if parts.scheme not in ("https", "http", "ssh", "git", "git+ssh", "ssh+git"):
            raise ForgeError(f"{shown} is not a GitHub remote ({parts.scheme}:// URLs are not); expected {expected}")
    else:
        match = _SCP_LIKE.match(text)
        if match is None:
            raise ForgeError(f"{shown} is not a GitHub remote; expected {expected}")
        found_host, path = match["host"].lower(), match["path"]
    allowed = {host, f"www.{host}"} | ({"ssh.github.com"} if host == "github.com" else set())
    if found_host not in allowed:
        raise ForgeError(
            f"{shown} is not a repository on {host}; expected {expected} "
            "(for GitHub Enterprise, set github.api_url to https://HOST/api/v3)"
        )
    segments = [s for s in path.strip("/").split("/") if s]
    if len(segments) != 2:
        raise ForgeError(f"{shown} does not name one repository (OWNER/REPO); expected {expected}")
    owner, name = segments[0], segments[1].removesuffix(".git")
    if not (_NAME_PART.match(owner) and _NAME_PART.match(name)):
        raise ForgeError(f"{shown}: {owner}/{name} is not a GitHub owner/repository name")
    return owner, name


def _redacted(url: str) -> str:
    # A remote may carry a credential (https://user:token@github.com/...): never echoed.
    return re.sub(r"(://)[^/@\s]+@", r"\1***@", url)


# ---------------------------------------------------------------------------------------------
# What aod remembers about a repository between ticks (a cache: rebuilt by asking again)


@dataclass
class _Known:
    read: ReadPR | None
    fetched_at: float
    head_seen_at: float
    wanted_at: float
    """When a call last asked about this branch."""
    stale: bool = False
    recent: bool = False
    """Changed within a second or so of being read: `updated_at` has one-second resolution, so a
    second change in that same second would look like none. Read once more on the next tick."""
    logs_settled: bool = True
    """False while a failing Actions check still waits for its log excerpt."""


@dataclass
class _RepoState:
    etag: str | None = None
    listing_top: str = ""
    """The newest `updated_at` seen in the listing: every PR changed since is above it."""
    signatures: dict[str, tuple[int, str, str, str]] = field(default_factory=dict)
    """Branch → (number, updated_at, head sha, state) of its newest PR, from the listing."""
    known: dict[str, _Known] = field(default_factory=dict)


class GithubForge:
    kind = "github"

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
        self._api = GithubApi(self._settings, self._token, clock=clock, on_unauthorized=self._forget_token)
        self._gh_token: str | None = None
        self._gh_failed_at: float | None = None
        self._gh_problem = ""
        self._token_lock = trio.Lock()
        self._repos: dict[str, _RepoState] = {}
        self._logs: OrderedDict[tuple[str, int], str] = OrderedDict()
        # Takes secrets out of CI logs before they are excerpted (the app sets the config's).
        self.redactor: Callable[[], Redactor] = lambda: redact.DEFAULT
        self._merge_state = True  # GitHub Enterprise may lack mergeStateStatus; then False

    def _settings(self) -> GithubConfig:
        return self._config().github

    async def aclose(self) -> None:
        await self._api.aclose()

    # -- token ------------------------------------------------------------------------------------

    def token_source(self) -> TokenSource | None:
        """Where the token comes from (never the token): for `aoctl doctor` and daemon.status.
        None: no token found yet (`gh auth token` runs on the first call, or failed)."""
        for name in ("GH_TOKEN", "GITHUB_TOKEN"):
            if self._env.get(name, "").strip():
                return name  # type: ignore[return-value]
        return "gh auth token" if self._gh_token is not None else None

    async def token_problem(self) -> str | None:
        """None when a token can be found (then token_source() says where), else what to do."""
        try:
            await self._token()
        except ForgeError as exc:
            return str(exc)
        return None

    async def _token(self) -> str:
        for name in ("GH_TOKEN", "GITHUB_TOKEN"):
            value = self._env.get(name, "").strip()
            if value:
                return value
        async with self._token_lock:
            if self._gh_token is not None:
                return self._gh_token
            if self._gh_failed_at is not None and self._clock() - self._gh_failed_at < TOKEN_RETRY:
                raise ForgeError(self._gh_problem)
            try:
                self._gh_token = await self._run_token_command()
            except ForgeError as exc:
                self._gh_failed_at, self._gh_problem = self._clock(), str(exc)
                raise
            return self._gh_token

    async def _run_token_command(self) -> str:
        settings = self._settings()
        argv = list(settings.token_command)
        host = web_host(settings)
        if argv == ["gh", "auth", "token"] and host != "github.com":
            argv += ["--hostname", host]
        env = child_env(dict(self._env) if self._env_given else None)
        fix = "set GH_TOKEN in aod's environment (~/.config/ao/aod.env), or run `gh auth login`"
        try:
            result = await run(argv, timeout=settings.timeout, env=env)
        except ToolMissing:
            raise ForgeError(f"no GitHub token: GH_TOKEN and GITHUB_TOKEN are unset and {argv[0]} is not installed; {fix}") from None
        except ToolTimeout:
            raise ForgeError(f"no GitHub token: `{' '.join(argv)}` did not answer within {settings.timeout:g}s; {fix}") from None
        token = result.out.strip()
        if not result.ok or not token:
            said = result.err.splitlines()[0] if result.err else f"exit status {result.returncode}"
            raise ForgeError(f"no GitHub token: GH_TOKEN and GITHUB_TOKEN are unset and `{' '.join(argv)}` failed ({said}); {fix}")
        if not token.isascii() or not token.isprintable() or " " in token:
            raise ForgeError(f"`{' '.join(argv)}` printed something that is not a token; {fix}")
        return token

    def _forget_token(self) -> None:
        # A 401 with gh's token: gh may have a fresh one by now (the next call asks it again).
        self._gh_token = None

    # -- issues -----------------------------------------------------------------------------------

    async def get_issue(self, repo: RepoTarget, issue_id: str) -> Issue:
        owner, name = self._slug(repo)
        number = _issue_number(issue_id)
        meter = Meter()
        base = f"{api_base(self._settings())}/repos/{owner}/{name}"
        response = await self._api.request("GET", f"{base}/issues/{number}", resource="core", meter=meter)
        if response.status_code in (404, 410):
            raise NoSuchIssue(f"{owner}/{name} has no issue #{number} (or the token cannot see it)")
        _expect(response, 200, f"reading issue #{number} of {owner}/{name}")
        data = response.json()
        if "pull_request" in data:
            raise NoSuchIssue(f"#{number} in {owner}/{name} is a pull request, not an issue")
        comments: list[IssueComment] = []
        if data.get("comments"):
            answer = await self._api.request(
                "GET", f"{base}/issues/{number}/comments", resource="core", meter=meter, params={"per_page": 100}
            )
            _expect(answer, 200, f"reading the comments of issue #{number}")
            comments = [
                IssueComment(author=_login(c.get("user")), body=str(c.get("body") or ""), at=str(c.get("created_at") or ""))
                for c in answer.json()
            ]
        return _issue(data, tuple(comments))

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
        owner, name = self._slug(repo)
        meter = Meter()
        base = f"{api_base(self._settings())}/repos/{owner}/{name}"
        params: dict[str, str | int] = {"state": state, "sort": "created", "direction": "asc", "per_page": 100}
        if labels:
            params["labels"] = ",".join(labels)
        if assignee:
            params["assignee"] = assignee
        if milestone:
            params["milestone"] = await self._milestone_number(base, owner, name, milestone, meter)
        issues: list[Issue] = []
        url: str | None = f"{base}/issues"
        pages = 0
        # The issues endpoint lists PRs too (they are issues to GitHub); they are skipped, so a
        # page may give fewer than 100. Bounded: at most 10 pages beyond what `limit` needs.
        while url and len(issues) < limit and pages < limit // 100 + 10:
            response = await self._api.request("GET", url, resource="core", meter=meter, params=params if pages == 0 else None)
            if response.status_code == 404:
                raise ForgeError(f"GitHub has no repository {owner}/{name} (or the token cannot see it)")
            _expect(response, 200, f"listing the issues of {owner}/{name}")
            issues += [_issue(item, ()) for item in response.json() if "pull_request" not in item]
            url = response.links.get("next", {}).get("url")
            if url and not url.startswith(api_base(self._settings()) + "/"):
                url = None  # the token goes only to the configured API, whatever a header says
            pages += 1
        return issues[:limit]

    async def _milestone_number(self, base: str, owner: str, name: str, milestone: str, meter: Meter) -> str:
        # GitHub filters by milestone *number* (or `*`, `none`); a title is looked up first.
        if milestone.isdigit() or milestone in ("*", "none"):
            return milestone
        response = await self._api.request(
            "GET", f"{base}/milestones", resource="core", meter=meter, params={"state": "all", "per_page": 100}
        )
        _expect(response, 200, f"listing the milestones of {owner}/{name}")
        titles = {str(m.get("title")): str(m.get("number")) for m in response.json()}
        if milestone not in titles:
            known = ", ".join(sorted(titles)) or "none"
            raise ForgeError(f"{owner}/{name} has no milestone {milestone!r} (its milestones: {known})")
        return titles[milestone]

    # -- PRs --------------------------------------------------------------------------------------

    async def pull_requests(self, repo: RepoTarget, branches: Sequence[TrackedBranch]) -> ForgeReport:
        meter = Meter()
        if not branches:
            return ForgeReport(prs={}, requests=0)
        owner, name = self._slug(repo)
        state = self._repos.setdefault(f"{owner}/{name}".lower(), _RepoState())
        wanted = list(dict.fromkeys(b.branch for b in branches))
        self._forget_untracked(state, wanted)
        self._api.ready("core")  # rate limited: ForgeUnavailable, and nothing is sent
        if not self._api.may_poll("core"):
            log.info("github budget low: PR look skipped this tick", repo=f"{owner}/{name}")
            return ForgeReport(prs={}, requests=0)
        self._api.polled("core")
        await self._listing(owner, name, state, meter)
        due = self._due(state, wanted)
        unknown: set[str] = set()
        if due and not self._api.may_poll("graphql"):
            log.info("github budget low: PR query skipped this tick", repo=f"{owner}/{name}", prs=len(due))
            unknown = set(due)
        elif due:
            self._api.polled("graphql")
            self._remember(state, await self._query(owner, name, due, meter))
        await self._fill_logs(owner, name, state, wanted, meter)
        prs: dict[str, PRFacts | None] = {}
        for tracked in branches:
            known = state.known.get(tracked.branch)
            if known is None or known.stale or not known.logs_settled or tracked.branch in unknown:
                continue  # not known this time: the tick keeps what it knew
            prs[tracked.session] = known.read.facts if known.read is not None else None
        return ForgeReport(prs=prs, requests=meter.requests)

    def _remember(self, state: _RepoState, found: dict[str, ReadPR | None]) -> None:
        now = self._clock()
        server_time = self._api.graphql_server_time
        recent_since = _iso(server_time - RECENT) if server_time else "~"  # "~" sorts after any date
        for branch, read in found.items():
            previous = state.known.get(branch)
            same_head = (
                previous is not None and previous.read is not None and read is not None
                and previous.read.facts.head_sha == read.facts.head_sha
            )
            state.known[branch] = _Known(
                read=read,
                fetched_at=now,
                wanted_at=now,
                head_seen_at=previous.head_seen_at if previous is not None and same_head else now,
                recent=read is not None and read.updated_at >= recent_since,
                logs_settled=not (read and read.actions_jobs),
            )

    async def _listing(self, owner: str, name: str, state: _RepoState, meter: Meter) -> None:
        """The conditional look at the repository's PRs: marks the known branches whose PR
        changed as stale. A 304 (nothing changed) is free of rate limit."""
        settings = self._settings()
        headers = {"If-None-Match": state.etag} if state.etag else {}
        response = await self._api.request(
            "GET",
            f"{api_base(settings)}/repos/{owner}/{name}/pulls",
            resource="core",
            meter=meter,
            params={"state": "all", "sort": "updated", "direction": "desc", "per_page": LISTING_PAGE},
            headers=headers,
        )
        if response.status_code == 304:
            return
        if response.status_code == 404:
            raise ForgeError(f"GitHub has no repository {owner}/{name} (or the token cannot see it: it needs repo read access)")
        _expect(response, 200, f"listing the PRs of {owner}/{name}")
        page = [p for p in response.json() if isinstance(p, dict)]
        full = f"{owner}/{name}".lower()
        newest: dict[str, dict[str, Any]] = {}
        for pr in page:
            head = pr.get("head") or {}
            if str((head.get("repo") or {}).get("full_name") or "").lower() != full:
                continue  # a fork's branch of the same name is not ours
            ref = str(head.get("ref") or "")
            if ref not in newest or int(pr["number"]) > int(newest[ref]["number"]):
                newest[ref] = pr
        previous_top = state.listing_top
        oldest = str(page[-1].get("updated_at") or "") if page else ""
        # The page holds every PR changed since the last look when it is not full, or when its
        # oldest entry is older than the newest one seen last time.
        covers = bool(previous_top) and (len(page) < LISTING_PAGE or oldest < previous_top)
        merged_into = {
            str((pr.get("base") or {}).get("ref") or "")
            for pr in page
            if pr.get("merged_at") and previous_top and str(pr.get("updated_at") or "") >= previous_top
        }
        for branch, known in state.known.items():
            signature = _signature(newest[branch]) if branch in newest else None
            base = known.read.facts.base if known.read is not None else ""
            if (
                not covers
                or (signature is not None and signature != state.signatures.get(branch))
                or (base and base in merged_into)  # a merge moved the base: conflicts may be new
            ):
                known.stale = True
        state.signatures.update({branch: _signature(pr) for branch, pr in newest.items()})
        state.listing_top = max([previous_top, *(str(p.get("updated_at") or "") for p in page)])
        # Only now: had anything above failed, the next look must see the change again.
        state.etag = response.headers.get("etag")

    def _forget_untracked(self, state: _RepoState, wanted: list[str]) -> None:
        # A call may ask about a few branches only (one session's `aoctl pr`): the others stay
        # known, and are forgotten once nobody asked about them for a while.
        now = self._clock()
        for branch in wanted:
            if branch in state.known:
                state.known[branch].wanted_at = now
        for branch in [b for b, k in state.known.items() if now - k.wanted_at > FORGET_AFTER]:
            del state.known[branch]

    def _due(self, state: _RepoState, wanted: list[str]) -> list[str]:
        """The branches to read with GraphQL this tick: new, changed, watched; then the oldest
        reads are refreshed, but only to fill the last query (never an extra one for that)."""
        now = self._clock()
        refresh = self._settings().refresh
        must: list[str] = []
        stale_by_age: list[tuple[float, str]] = []
        for branch in wanted:
            known = state.known.get(branch)
            facts = known.read.facts if known is not None and known.read is not None else None
            if known is None or known.stale or known.recent or needs_watching(facts):
                must.append(branch)
            elif facts is not None and facts.state == "open" and facts.checks == "none" and now - known.head_seen_at < NEW_HEAD_GRACE:
                must.append(branch)  # CI may not have registered its checks on this head yet
            elif now - known.fetched_at >= refresh:
                stale_by_age.append((known.fetched_at, branch))
        room = (-len(must)) % CHUNK if must else CHUNK
        return must + [branch for _, branch in sorted(stale_by_age)[:room]]

    async def _query(self, owner: str, name: str, branches: list[str], meter: Meter) -> dict[str, ReadPR | None]:
        url = graphql_url(self._settings())
        found: dict[str, ReadPR | None] = {}
        for start in range(0, len(branches), CHUNK):
            chunk = branches[start : start + CHUNK]
            variables = pr_variables(owner, name, chunk)
            try:
                data = await self._api.graphql(url, pr_query(len(chunk), merge_state=self._merge_state), variables, meter=meter)
            except GraphqlError as exc:
                if self._merge_state and any("mergeStateStatus" in m for m in exc.messages):
                    # An Enterprise version without the field: ask without it from now on.
                    self._merge_state = False
                    log.info("github: mergeStateStatus not available; asking without it")
                    data = await self._api.graphql(url, pr_query(len(chunk), merge_state=False), variables, meter=meter)
                elif any("Could not resolve to a Repository" in m for m in exc.messages):
                    raise ForgeError(f"GitHub has no repository {owner}/{name} (or the token cannot see it)") from None
                else:
                    raise
            repository = data.get("repository") if isinstance(data, Mapping) else None
            try:
                found.update(read_repository(repository, chunk))
            except ValueError as exc:
                raise ForgeError(f"unexpected GraphQL answer for {owner}/{name}: {exc}") from None
        return found

    # -- CI logs ------------------------------------------------------------------------------------

    async def _fill_logs(self, owner: str, name: str, state: _RepoState, wanted: list[str], meter: Meter) -> None:
        """Put the log excerpt into each failing Actions check that lacks one: one download per
        (head SHA, job), ever. A log that cannot be had is given up on (the check keeps its URL)."""
        for branch in wanted:
            known = state.known.get(branch)
            if known is None or known.logs_settled or known.read is None:
                continue
            facts = known.read.facts
            excerpts: dict[str, str] = {}
            settled = True
            for job in known.read.actions_jobs:
                text = await self._job_excerpt(owner, name, facts.head_sha, job, meter)
                if text is None:
                    settled = False  # not asked (backing off): try again on a later tick
                else:
                    excerpts[job.check] = text
            failing = tuple(
                msgspec.structs.replace(check, log_excerpt=excerpts[check.name]) if excerpts.get(check.name) else check
                for check in facts.failing
            )
            known.read = ReadPR(
                facts=msgspec.structs.replace(facts, failing=failing),
                actions_jobs=known.read.actions_jobs if not settled else (),
                updated_at=known.read.updated_at,
            )
            known.logs_settled = settled

    async def _job_excerpt(self, owner: str, name: str, head_sha: str, job: ActionsJob, meter: Meter) -> str | None:
        """The excerpt of a job's log; "" when it cannot be had; None: ask again on a later tick."""
        key = (head_sha, job.job_id)
        if key in self._logs:
            self._logs.move_to_end(key)
            return self._logs[key]
        settings = self._settings()
        url = f"{api_base(settings)}/repos/{owner}/{name}/actions/jobs/{job.job_id}/logs"
        try:
            response = await self._api.request("GET", url, resource="core", meter=meter, retry=False)
        except (NotSent, RateLimited) as exc:
            # Nothing learned. A short wait: the failure is reported once its log is here. A long
            # one: reported now without the log (a later read of the PR asks for it again).
            return None if (exc.retry_after or 0.0) <= LOG_WAIT else ""
        except ForgeUnavailable:
            text = ""  # one try, no retries: a log is a nicety, never worth a stream of requests
        else:
            text = ""
            if response.status_code in (301, 302, 303, 307, 308) and response.headers.get("location"):
                # A pre-signed blob URL: fetched without our token (it must not leave GitHub's API).
                body = await self._api.download(response.headers["location"], meter=meter)
                text = excerpt(body, settings.log_excerpt_chars, self.redactor().text) if body else ""
            elif response.status_code == 200:
                text = excerpt(response.text, settings.log_excerpt_chars, self.redactor().text)
        self._logs[key] = text
        while len(self._logs) > LOG_CACHE:
            self._logs.popitem(last=False)
        return text

    # -- commands -----------------------------------------------------------------------------------

    async def open_pr(self, repo: RepoTarget, branch: TrackedBranch, *, title: str, body: str) -> PRFacts:
        owner, name = self._slug(repo)
        meter = Meter()
        base = f"{api_base(self._settings())}/repos/{owner}/{name}"
        response = await self._api.request(
            "POST", f"{base}/pulls", resource="core", meter=meter,
            json={"title": title, "body": body, "head": branch.branch, "base": branch.base},
        )
        self._invalidate(owner, name, branch=branch.branch)
        if response.status_code == 201:
            return _rest_pr_facts(response.json())
        said = message_of(response)
        if response.status_code == 422 and "already exists" in said:
            found = await self._query(owner, name, [branch.branch], meter)
            read = found.get(branch.branch)
            if read is not None and read.facts.state == "open":
                return read.facts
        if response.status_code == 422 and "No commits between" in said:
            raise ForgeError(f"{branch.branch} has no commits beyond {branch.base} on GitHub yet: commit and push first")
        if response.status_code == 404:
            raise ForgeError(f"GitHub has no repository {owner}/{name} (or the token may not open PRs there)")
        raise ForgeError(f"GitHub would not open a PR for {branch.branch} into {branch.base}: {said}")

    async def merge(self, repo: RepoTarget, number: str, *, expected_head: str, method: MergeMethod) -> str:
        owner, name = self._slug(repo)
        pr = _pr_number(number)
        url = f"{api_base(self._settings())}/repos/{owner}/{name}/pulls/{pr}/merge"
        # Not retried: a merge whose answer was lost may have happened; the next tick will see.
        response = await self._api.request(
            "PUT", url, resource="core", meter=Meter(), retry=False,
            json={"sha": expected_head, "merge_method": method},
        )
        self._invalidate(owner, name, number=str(pr))
        said = message_of(response)
        if response.status_code == 200:
            return str(response.json().get("sha") or "")
        if response.status_code == 409 or "Head branch was modified" in said:
            raise MergeRefused(
                f"GitHub did not merge #{pr}: its head is no longer {expected_head[:12]} ({said}); "
                "aod merges only the head it judged"
            )
        if response.status_code in (405, 422):
            raise MergeRefused(f"GitHub did not merge #{pr}: {said}")
        if response.status_code == 403:
            raise MergeRefused(f"GitHub did not let this token merge #{pr}: {said}")
        if response.status_code == 404:
            raise ForgeError(f"{owner}/{name} has no PR #{pr} (or the token cannot see it)")
        raise ForgeError(f"merging #{pr} of {owner}/{name}: GitHub answered {said}")

    async def comment(self, repo: RepoTarget, number: str, body: str) -> None:
        owner, name = self._slug(repo)
        pr = _pr_number(number)
        if len(body) > MAX_COMMENT_CHARS:
            body = body[: MAX_COMMENT_CHARS - 40] + "\n\n… (cut by aod: too long for GitHub)"
        response = await self._api.request(
            "POST", f"{api_base(self._settings())}/repos/{owner}/{name}/issues/{pr}/comments",
            resource="core", meter=Meter(), retry=False, json={"body": body},
        )
        if response.status_code == 404:
            raise ForgeError(f"{owner}/{name} has no issue or PR #{pr} (or the token cannot comment there)")
        _expect(response, 201, f"commenting on #{pr} of {owner}/{name}")

    # -- the tracker's commands (issue 20, issue_sync) ----------------------------------------

    async def move_issue(self, repo: RepoTarget, issue_id: str, state: str) -> str:
        """GitHub issues are `open` or `closed`: only those two states exist."""
        wanted = state.strip().lower()
        if wanted not in ("open", "closed"):
            raise NoSuchState(f"GitHub issues are open or closed; there is no state {state!r} (use closed or open)")
        issue = await self.get_issue(repo, issue_id)
        if issue.state == wanted:
            return wanted
        owner, name = self._slug(repo)
        number = _issue_number(issue_id)
        response = await self._api.request(
            "PATCH", f"{api_base(self._settings())}/repos/{owner}/{name}/issues/{number}",
            resource="core", meter=Meter(), retry=False, json={"state": wanted},
        )
        _expect(response, 200, f"moving issue #{number} of {owner}/{name} to {wanted}")
        return wanted

    async def link_pr(self, repo: RepoTarget, issue_id: str, *, url: str, title: str) -> None:
        """A comment naming the PR, unless one of the issue's comments names it already."""
        issue = await self.get_issue(repo, issue_id)
        if any(url in c.body for c in issue.comments):
            return
        await self.comment(repo, str(_issue_number(issue_id)), f"{title}\n\n{url}")

    async def retarget_pr(self, repo: RepoTarget, number: str, base: str) -> None:
        owner, name = self._slug(repo)
        pr = _pr_number(number)
        response = await self._api.request(
            "PATCH", f"{api_base(self._settings())}/repos/{owner}/{name}/pulls/{pr}",
            resource="core", meter=Meter(), retry=False, json={"base": base},
        )
        self._invalidate(owner, name, number=str(pr))
        if response.status_code == 404:
            raise ForgeError(f"{owner}/{name} has no PR #{pr} (or the token cannot change it)")
        if response.status_code == 422:
            raise ForgeError(f"GitHub refused to retarget #{pr} of {owner}/{name} to {base}: {message_of(response)}")
        _expect(response, 200, f"retargeting #{pr} of {owner}/{name} to {base}")

    async def close_pr(self, repo: RepoTarget, number: str) -> str:
        owner, name = self._slug(repo)
        pr = _pr_number(number)
        response = await self._api.request(
            "PATCH", f"{api_base(self._settings())}/repos/{owner}/{name}/pulls/{pr}",
            resource="core", meter=Meter(), retry=False, json={"state": "closed"},
        )
        self._invalidate(owner, name, number=str(pr))
        if response.status_code == 404:
            raise ForgeError(f"{owner}/{name} has no PR #{pr} (or the token cannot close it)")
        _expect(response, 200, f"closing #{pr} of {owner}/{name}")
        data = response.json()
        return "merged" if data.get("merged_at") else str(data.get("state") or "closed")
    async def review(
        self, repo: RepoTarget, number: str, *, event: str, body: str, comments: Sequence[tuple[str, int, str]] = (),
    ) -> None:
        """Submit a review (`COMMENT`, `APPROVE`, `REQUEST_CHANGES`) with inline `comments`
        ((path, line, text), each a review thread on the PR head's line). Never retried."""
        owner, name = self._slug(repo)
        pr = _pr_number(number)
        payload: dict[str, object] = {"event": event, "body": body[:MAX_COMMENT_CHARS]}
        if comments:
            payload["comments"] = [{"path": p, "line": n, "side": "RIGHT", "body": t[:MAX_COMMENT_CHARS]} for p, n, t in comments]
        response = await self._api.request(
            "POST", f"{api_base(self._settings())}/repos/{owner}/{name}/pulls/{pr}/reviews",
            resource="core", meter=Meter(), retry=False, json=payload,
        )
        if response.status_code == 422:
            raise ForgeError(f"GitHub refused the review on #{pr} of {owner}/{name}: {message_of(response)}")
        _expect(response, 200, f"reviewing #{pr} of {owner}/{name}")

    def status(self) -> dict[str, object]:
        limits = {
            resource: {"limit": limit.limit, "remaining": limit.remaining, "reset": limit.reset}
            for resource, limit in sorted(self._api.limits.items())
        }
        return {
            "rate_limit": limits,
            "backing_off_until": self._api.backing_off_until(),
            "requests": self._api.totals.requests,
            "not_modified": self._api.totals.not_modified,
            "token_source": self.token_source(),
        }

    # -- helpers ------------------------------------------------------------------------------------

    def _slug(self, repo: RepoTarget) -> tuple[str, str]:
        return parse_remote(repo.remote_url, web_host(self._settings()))

    def _invalidate(self, owner: str, name: str, *, branch: str | None = None, number: str | None = None) -> None:
        """After a command, the next tick reads the PR again (its etag may not have changed yet)."""
        state = self._repos.get(f"{owner}/{name}".lower())
        if state is None:
            return
        for key, known in state.known.items():
            facts = known.read.facts if known.read is not None else None
            if key == branch or (number is not None and facts is not None and facts.number == number):
                known.stale = True


def _signature(pr: Mapping[str, Any]) -> tuple[int, str, str, str]:
    return (
        int(pr.get("number") or 0),
        str(pr.get("updated_at") or ""),
        str((pr.get("head") or {}).get("sha") or ""),
        "merged" if pr.get("merged_at") else str(pr.get("state") or ""),
    )


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _expect(response: Any, status: int, doing: str) -> None:
    if response.status_code != status:
        raise ForgeError(f"{doing}: GitHub answered {response.status_code} ({message_of(response)})")


def _issue_number(issue_id: str) -> int:
    text = issue_id.strip().lstrip("#")
    if not text.isdigit() or int(text) <= 0:
        raise NoSuchIssue(f"GitHub issues are numbered: {issue_id!r} is not a number like 42")
    return int(text)


def _pr_number(number: str) -> int:
    text = str(number).strip().lstrip("#")
    if not text.isdigit() or int(text) <= 0:
        raise ForgeError(f"{number!r} is not a PR number")
    return int(text)


def _login(user: Any) -> str:
    return str(user.get("login") or "ghost") if isinstance(user, Mapping) else "ghost"


def _names(items: Iterable[Any], key: str) -> tuple[str, ...]:
    return tuple(str(item.get(key)) for item in items or () if isinstance(item, Mapping) and item.get(key))


def _issue(data: Mapping[str, Any], comments: tuple[IssueComment, ...]) -> Issue:
    milestone = data.get("milestone")
    return Issue(
        id=str(data["number"]),
        title=str(data.get("title") or ""),
        body=str(data.get("body") or ""),
        state="closed" if data.get("state") == "closed" else "open",
        labels=_names(data.get("labels") or (), "name"),
        assignees=_names(data.get("assignees") or (), "login"),
        milestone=str(milestone.get("title") or "") if isinstance(milestone, Mapping) else "",
        author=_login(data.get("user")),
        url=str(data.get("html_url") or ""),
        created_at=str(data.get("created_at") or ""),
        comments=comments,
    )


def _rest_pr_facts(data: Mapping[str, Any]) -> PRFacts:
    """A freshly opened PR from the REST answer; checks and reviews come with the next tick."""
    head, base = data.get("head") or {}, data.get("base") or {}
    return PRFacts(
        number=str(data["number"]),
        url=str(data.get("html_url") or ""),
        state="merged" if data.get("merged_at") else ("closed" if data.get("state") == "closed" else "open"),
        draft=bool(data.get("draft")),
        head_sha=str(head.get("sha") or ""),
        base=str(base.get("ref") or ""),
        base_sha=str(base.get("sha") or ""),
    )


__all__ = ["GithubForge", "api_base", "graphql_url", "parse_remote", "web_host"]
