"""The `linear` tracker: a project's issues in Linear (GraphQL, https://api.linear.app/graphql).

What each call costs (docs/trackers-and-scm.md, "Linear"): one request per `list_issues` page
(up to 100 issues, newest first; `limit` above 100 follows `pageInfo`, bounded), one per
`get_issue` (its comments in the same query), one read and at most one write per
`move_issue` (the team's workflow states are read in that same first query and then kept for
the plugin's life) and per `link_pr`. Nothing is asked by the tick.

An issue's id is its identifier as the user types it (`ENG-123`); it is checked (TEAM-NUMBER)
before anything is sent, and sent only as a GraphQL variable. Titles, descriptions, comments
and labels are data: they come back as strings and go nowhere else.

Rate limits (Linear counts requests and query complexity per key, leaky buckets, and answers
HTTP 400 with a RATELIMITED error when one is spent) go through ServiceHttp's hook: the call
fails with ForgeUnavailable(retry_after = until the bucket's reset, read against the answer's
own `Date`) and nothing more is sent until then. The budgets left are in `status()`.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from random import Random
from typing import Any, Literal

import httpx

from aod.config import Config
from aod.config.trackers import LinearConfig, LinearProjectConfig
from aod.plugins.forge import ForgeError, Issue, IssueComment, NoSuchIssue, RepoTarget
from aod.plugins.service_http import ServiceHttp, configured_token, int_or, retry_after, server_now, wait_from_headers
from aod.plugins.tracker import NoSuchState

TokenSource = Literal["linear.token", "LINEAR_API_KEY"]

PAGE = 100
"""Issues per list request. A page of 100 costs about 6,000 complexity points (labels and
relations are connections of their own), well inside Linear's 10,000 per query."""
MAX_LIST = 1000
"""The most issues one `list_issues` returns: at most 10 requests."""
CLOSED_TYPES = ("completed", "canceled")
TOKEN_FIX = (
    "set LINEAR_API_KEY in aod's environment (systemd: ~/.config/ao/aod.env) to a personal API key "
    "(Linear: Settings → Security & access → Personal API keys), or `linear.token` in config"
)
REFUSED = f"the Linear API key was refused: {TOKEN_FIX}"
RATE_WAIT_DEFAULT = 60.0

_IDENTIFIER = re.compile(r"^([A-Za-z0-9]{1,10})-([1-9][0-9]{0,8})$")
_URL_IDENTIFIER = re.compile(r"^https://linear\.app/[A-Za-z0-9_-]+/issue/([A-Za-z0-9]{1,10}-[1-9][0-9]{0,8})(?:/[^\s]*)?$")
_PR_URL = re.compile(r"^https?://[^\s<>\"'()\[\]]+$")

_ISSUE_FIELDS = """
fragment AodIssue on Issue {
  identifier
  title
  description
  url
  createdAt
  state { name type }
  labels(first: %(labels)d) { nodes { name } }
  assignee { name displayName email }
  creator { name displayName }
  team { key }
  project { name }
  projectMilestone { name }
  inverseRelations(first: %(relations)d) { nodes { type issue { identifier } } }
}
"""

GET_QUERY = """
query AodGetIssue($id: String!) {
  issue(id: $id) {
    ...AodIssue
    comments(first: 100) { nodes { body createdAt user { name displayName } } }
  }
}
""" + _ISSUE_FIELDS % {"labels": 50, "relations": 50}

LIST_QUERY = """
query AodListIssues($filter: IssueFilter, $first: Int!, $after: String) {
  issues(filter: $filter, first: $first, after: $after, orderBy: createdAt) {
    nodes { ...AodIssue }
    pageInfo { hasNextPage endCursor }
  }
}
""" + _ISSUE_FIELDS % {"labels": 20, "relations": 10}

_STATE_OF = "issue(id: $id) { id identifier state { id name type } team { key } }"
_STATES_OF = "workflowStates(filter: {team: {key: {eq: $team}}}, first: 100) { nodes { id name type position } }"
STATE_QUERY = "query AodIssueState($id: String!) { %s }" % _STATE_OF
STATE_AND_STATES_QUERY = "query AodIssueStateAndStates($id: String!, $team: String!) { %s %s }" % (_STATE_OF, _STATES_OF)
STATES_QUERY = "query AodTeamStates($team: String!) { %s }" % _STATES_OF
MOVE_MUTATION = """
mutation AodMoveIssue($id: String!, $stateId: String!) {
  issueUpdate(id: $id, input: {stateId: $stateId}) { success issue { state { name } } }
}
"""
LINKS_QUERY = """
query AodIssueLinks($id: String!) {
  issue(id: $id) {
    id
    comments(first: 100) { nodes { body } }
    attachments(first: 100) { nodes { url } }
  }
}
"""
COMMENT_MUTATION = """
mutation AodLinkPr($issueId: String!, $body: String!) {
  commentCreate(input: {issueId: $issueId, body: $body}) { success }
}
"""


@dataclass(frozen=True)
class _State:
    id: str
    name: str
    type: str


class _NotFound(ForgeError):
    """Linear said "Entity not found" (the caller says what was not found)."""


def linear_rate_limit(response: httpx.Response) -> float | None:
    """ServiceHttp's hook: seconds to wait when `response` says a Linear budget is spent (a
    RATELIMITED error, HTTP 400; a 429 from in front of the API), else None. The wait runs to the
    reset of the spent bucket (`X-RateLimit-Requests-Reset` / `-Complexity-Reset`, epoch ms)."""
    if response.status_code == 429:
        return wait_from_headers(response, default=RATE_WAIT_DEFAULT)
    if b"RATELIMITED" not in response.content:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not any(
        isinstance(e, dict) and isinstance(e.get("extensions"), dict) and e["extensions"].get("code") == "RATELIMITED" for e in errors
    ):
        return None
    headers = response.headers
    after = retry_after(headers.get("retry-after"))
    if after is not None:
        return max(after, 1.0)
    resets = [
        _epoch(headers.get(f"x-ratelimit-{bucket}-reset"))
        for bucket in ("requests", "complexity")
        if headers.get(f"x-ratelimit-{bucket}-remaining") == "0"
    ]
    known = [r for r in resets if r > 0]
    if not known:  # another limit (an endpoint's, say) with no reset told: a minute, then ask again
        return RATE_WAIT_DEFAULT
    return max(1.0, max(known) - server_now(response))


def _epoch(value: str | None) -> float:
    try:
        number = float(value) if value is not None else 0.0
    except ValueError:
        return 0.0
    if not math.isfinite(number):
        return 0.0
    return number / 1000.0 if number > 1e11 else number


class LinearTracker:
    kind = "linear"

    def __init__(
        self,
        config: Callable[[], Config],
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: Random | None = None,
    ) -> None:
        self._config = config
        self._env: Mapping[str, str] = os.environ if env is None else env
        self._http = ServiceHttp("Linear", self._settings, rate_limit=linear_rate_limit, clock=clock, rng=rng)
        self._states: dict[str, list[_State]] = {}
        """Each team's workflow states (by team key), read once for the plugin's life (again
        only when a name is not among them: a state added or renamed since)."""

    def _settings(self) -> LinearConfig:
        return self._config().linear

    def _project(self, repo: RepoTarget) -> LinearProjectConfig:
        found = self._config().projects.get(repo.project)
        return found.linear if found is not None else LinearProjectConfig()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- token ------------------------------------------------------------------------------------

    def _find_token(self) -> tuple[str, TokenSource] | None:
        return configured_token(self._settings().token, "linear.token", self._env, "LINEAR_API_KEY")  # type: ignore[return-value]

    def token_source(self) -> TokenSource | None:
        """Where the API key comes from (never the key): `linear.token`, else LINEAR_API_KEY."""
        found = self._find_token()
        return found[1] if found else None

    async def token_problem(self) -> str | None:
        """None when an API key is set (it is not tried: that costs a request), else what to do."""
        try:
            self._token()
        except ForgeError as exc:
            return str(exc)
        return None

    def _token(self) -> str:
        found = self._find_token()
        if found is None:
            raise ForgeError(f"no Linear API key: {TOKEN_FIX}")
        token, source = found
        # A personal key is sent as is; an OAuth access token as `Bearer TOKEN` (one space).
        bare = token[len("Bearer "):] if token.startswith("Bearer ") else token
        if not bare or not bare.isascii() or not bare.isprintable() or any(c.isspace() for c in bare):
            raise ForgeError(f"{source} is not a Linear API key (it has spaces or unprintable characters); {TOKEN_FIX}")
        return token

    # -- one GraphQL request ------------------------------------------------------------------------

    async def _graphql(self, query: str, variables: dict[str, Any], *, what: str, write: bool = False) -> dict[str, Any]:
        token = self._token()
        response = await self._http.request(
            "POST", self._settings().api_url,
            headers={"Authorization": token, "Content-Type": "application/json", "Accept": "application/json"},
            json={"query": query, "variables": variables},
            retry=not write,  # a query is safe to send again; a write whose answer was lost is not
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        errors = body.get("errors") if isinstance(body, dict) else None
        codes = [_code(e) for e in errors] if isinstance(errors, list) else []
        if response.status_code == 401 or "AUTHENTICATION_ERROR" in codes:
            raise ForgeError(REFUSED)
        if response.status_code == 403 or "FORBIDDEN" in codes:
            raise ForgeError(f"the Linear API key may not do this ({what}): {_messages(errors) or 'forbidden'}")
        if errors:
            messages = _messages(errors)
            if any(str(e.get("message", "")).startswith("Entity not found") for e in errors if isinstance(e, dict)):
                raise _NotFound(messages)
            raise ForgeError(f"Linear refused {what}: {messages}")
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            hint = f" (is linear.api_url, {self._settings().api_url}, Linear's GraphQL endpoint?)" if response.status_code in (404, 405) else ""
            raise ForgeError(f"Linear answered {what} with {response.status_code} and no data{hint}")
        if response.status_code != 200:
            raise ForgeError(f"Linear answered {what} with {response.status_code}")
        return body["data"]  # type: ignore[no-any-return]

    # -- ids ------------------------------------------------------------------------------------------

    def _identifier(self, repo: RepoTarget, issue_id: str) -> str:
        """`ENG-123` (a Linear issue URL is read for its identifier); checked before sending."""
        text = str(issue_id).strip()
        from_url = _URL_IDENTIFIER.match(text)
        if from_url:
            text = from_url.group(1)
        match = _IDENTIFIER.match(text)
        if match is None:
            shown = text if len(text) <= 60 else text[:60] + "…"
            raise NoSuchIssue(f"{shown!r} is not a Linear issue id: use its identifier, like ENG-123")
        identifier = f"{match.group(1).upper()}-{match.group(2)}"
        team = self._project(repo).team
        if team and match.group(1).upper() != team.upper():
            raise NoSuchIssue(
                f"{identifier} is not an issue of team {team.upper()} (projects.{repo.project}.linear.team); "
                f"this project's issues are {team.upper()}-N"
            )
        return identifier

    # -- issues ---------------------------------------------------------------------------------------

    async def get_issue(self, repo: RepoTarget, issue_id: str) -> Issue:
        identifier = self._identifier(repo, issue_id)
        try:
            data = await self._graphql(GET_QUERY, {"id": identifier}, what=f"reading {identifier}")
        except _NotFound:
            raise NoSuchIssue(f"Linear has no issue {identifier} (or the API key cannot see it)") from None
        node = data.get("issue")
        if not isinstance(node, dict):
            raise NoSuchIssue(f"Linear has no issue {identifier} (or the API key cannot see it)")
        comments = sorted(
            (
                IssueComment(author=_person(c.get("user")), body=str(c.get("body") or ""), at=str(c.get("createdAt") or ""))
                for c in _nodes(node.get("comments"))
            ),
            key=lambda c: c.at,
        )
        return _issue(node, tuple(comments))

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
        issue_filter = self._filter(repo, state=state, labels=labels, assignee=assignee, milestone=milestone)
        wanted = min(max(int(limit), 0), MAX_LIST)
        issues: list[Issue] = []
        after: str | None = None
        pages = 0
        while len(issues) < wanted and pages < math.ceil(wanted / PAGE):
            pages += 1
            variables: dict[str, Any] = {"filter": issue_filter, "first": min(PAGE, wanted - len(issues)), "after": after}
            data = await self._graphql(LIST_QUERY, variables, what=f"listing the issues of project {repo.project}")
            connection = data.get("issues") if isinstance(data.get("issues"), dict) else {}
            issues.extend(_issue(node, ()) for node in _nodes(connection))
            info = connection.get("pageInfo") if isinstance(connection.get("pageInfo"), dict) else {}
            after = info.get("endCursor") if info.get("hasNextPage") else None
            if not after:
                break
        return issues[:wanted]

    def _filter(
        self, repo: RepoTarget, *, state: str, labels: Sequence[str], assignee: str | None, milestone: str | None
    ) -> dict[str, Any]:
        """The project's team, Linear project and labels (config), and the call's own filters: an
        IssueFilter, every clause of which must hold."""
        project = self._project(repo)
        clauses: list[dict[str, Any]] = []
        if project.team:
            clauses.append({"team": {"key": {"eq": project.team.upper()}}})
        if project.project:
            clauses.append({"project": {"name": {"eq": project.project}}})
        seen: set[str] = set()
        for label in [*project.labels, *labels]:
            name = str(label).strip()
            if name and name.lower() not in seen:
                seen.add(name.lower())
                clauses.append({"labels": {"some": {"name": {"eqIgnoreCase": name}}}})
        if assignee is not None and assignee.strip():
            who = assignee.strip()
            if who.lower() in ("@me", "me"):
                clauses.append({"assignee": {"isMe": {"eq": True}}})
            else:
                clauses.append({"assignee": {"or": [
                    {"name": {"eqIgnoreCase": who}}, {"displayName": {"eqIgnoreCase": who}}, {"email": {"eqIgnoreCase": who}},
                ]}})
        if milestone is not None and milestone.strip():
            clauses.append({"projectMilestone": {"name": {"eqIgnoreCase": milestone.strip()}}})
        if state == "open":
            clauses.append({"state": {"type": {"nin": list(CLOSED_TYPES)}}})
        elif state == "closed":
            clauses.append({"state": {"type": {"in": list(CLOSED_TYPES)}}})
        elif state != "all":
            raise ForgeError(f"unknown issue state {state!r}: use open, closed or all")
        return {"and": clauses} if clauses else {}

    # -- writing: states, PR links ----------------------------------------------------------------------

    async def move_issue(self, repo: RepoTarget, issue_id: str, state: str) -> str:
        identifier = self._identifier(repo, issue_id)
        wanted = str(state).strip()
        if not wanted:
            raise NoSuchState("which state? Give a workflow state's name, like In Progress")
        team = identifier.split("-")[0]
        what = f"reading the state of {identifier}"
        read_now = team not in self._states
        try:
            if not read_now:
                data = await self._graphql(STATE_QUERY, {"id": identifier}, what=what)
            else:
                data = await self._graphql(STATE_AND_STATES_QUERY, {"id": identifier, "team": team}, what=what)
                self._states[team] = _states(data.get("workflowStates"))
        except _NotFound:
            raise NoSuchIssue(f"Linear has no issue {identifier} (or the API key cannot see it)") from None
        node = data.get("issue") if isinstance(data.get("issue"), dict) else {}
        current = node.get("state") if isinstance(node.get("state"), dict) else {}
        issue_team = str((node.get("team") or {}).get("key") or team)
        if str(current.get("name", "")).casefold() == wanted.casefold():
            return str(current.get("name"))  # already there: nothing is written
        target = await self._state_named(issue_team, wanted, read_now=read_now and issue_team == team)
        if target.id == current.get("id"):
            return target.name
        try:
            done = await self._graphql(
                MOVE_MUTATION, {"id": str(node.get("id") or identifier), "stateId": target.id},
                what=f"moving {identifier} to {target.name}", write=True,
            )
        except _NotFound as exc:
            self._states.pop(issue_team, None)  # a state deleted since: read them again next time
            raise ForgeError(f"Linear could not move {identifier} to {target.name}: {exc}") from None
        payload = done.get("issueUpdate") if isinstance(done.get("issueUpdate"), dict) else {}
        if not payload.get("success"):
            raise ForgeError(f"Linear did not move {identifier} to {target.name}")
        after = ((payload.get("issue") or {}).get("state") or {}).get("name")
        return str(after or target.name)

    async def _state_named(self, team: str, wanted: str, *, read_now: bool) -> _State:
        """The team's state named `wanted` (case-insensitive). `read_now`: this call read the
        states already; otherwise an unknown name reads them once more (added or renamed since)."""
        if team not in self._states:
            await self._read_states(team)
            read_now = True
        found = _named(self._states[team], wanted)
        if found is None and not read_now:
            await self._read_states(team)
            found = _named(self._states[team], wanted)
        if found is None:
            names = ", ".join(s.name for s in self._states[team]) or "none"
            raise NoSuchState(f"team {team} has no workflow state {wanted!r}; its states: {names}")
        return found

    async def _read_states(self, team: str) -> None:
        data = await self._graphql(STATES_QUERY, {"team": team}, what=f"reading the workflow states of team {team}")
        self._states[team] = _states(data.get("workflowStates"))

    async def link_pr(self, repo: RepoTarget, issue_id: str, *, url: str, title: str) -> None:
        identifier = self._identifier(repo, issue_id)
        link = str(url).strip()
        if not _PR_URL.match(link):
            raise ForgeError(f"{link[:100]!r} is not a PR URL aod links from an issue")
        try:
            data = await self._graphql(LINKS_QUERY, {"id": identifier}, what=f"reading the links of {identifier}")
        except _NotFound:
            raise NoSuchIssue(f"Linear has no issue {identifier} (or the API key cannot see it)") from None
        node = data.get("issue") if isinstance(data.get("issue"), dict) else {}
        mentioned = re.compile(re.escape(link) + r"(?![\w/.-])")
        if any(str(a.get("url") or "").rstrip("/") == link.rstrip("/") for a in _nodes(node.get("attachments"))):
            return  # Linear's own GitHub integration (or aod before) attached it already
        if any(mentioned.search(str(c.get("body") or "")) for c in _nodes(node.get("comments"))):
            return
        done = await self._graphql(
            COMMENT_MUTATION, {"issueId": str(node.get("id") or identifier), "body": f"PR: {link}"},
            what=f"commenting on {identifier}", write=True,
        )
        payload = done.get("commentCreate") if isinstance(done.get("commentCreate"), dict) else {}
        if not payload.get("success"):
            raise ForgeError(f"Linear did not add the PR comment to {identifier}")

    # -- status ---------------------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        out: dict[str, object] = {"token_source": self.token_source(), **self._http.status()}
        rate = self._http.rate
        budgets: dict[str, dict[str, int]] = {}
        if "x-ratelimit-requests-remaining" in rate:
            budgets["core"] = {
                "remaining": int_or(rate.get("x-ratelimit-requests-remaining"), 0),
                "limit": int_or(rate.get("x-ratelimit-requests-limit"), 0),
            }
        if "x-ratelimit-complexity-remaining" in rate:
            budgets["complexity"] = {
                "remaining": int_or(rate.get("x-ratelimit-complexity-remaining"), 0),
                "limit": int_or(rate.get("x-ratelimit-complexity-limit"), 0),
            }
        if budgets:
            out["rate_limit"] = budgets
        if self._states:
            out["teams_known"] = sorted(self._states)
        return out


# ---------------------------------------------------------------------------------------------
# Linear's answers → aod's types


def _code(error: Any) -> str | None:
    if isinstance(error, dict) and isinstance(error.get("extensions"), dict):
        code = error["extensions"].get("code")
        return str(code) if code is not None else None
    return None


def _messages(errors: Any) -> str:
    out: list[str] = []
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict):
            continue
        text = str(error.get("message") or "").strip()
        extra = error.get("extensions", {}).get("userPresentableMessage") if isinstance(error.get("extensions"), dict) else None
        if extra and str(extra) not in text:
            text = f"{text} ({extra})" if text else str(extra)
        if text and text not in out:
            out.append(text[:500])
    return "; ".join(out)


def _nodes(connection: Any) -> list[dict[str, Any]]:
    nodes = connection.get("nodes") if isinstance(connection, dict) else None
    return [n for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else []


def _person(user: Any) -> str:
    if not isinstance(user, dict):
        return ""
    return str(user.get("displayName") or user.get("name") or user.get("email") or "")


def _named(states: list[_State], wanted: str) -> _State | None:
    return next((s for s in states if s.name.casefold() == wanted.casefold()), None)


def _states(connection: Any) -> list[_State]:
    found = [n for n in _nodes(connection) if n.get("id") and n.get("name")]
    found.sort(key=lambda n: float(n.get("position") or 0))
    return [_State(str(n["id"]), str(n["name"]), str(n.get("type") or "")) for n in found]


def _issue(node: dict[str, Any], comments: tuple[IssueComment, ...]) -> Issue:
    state = node.get("state") if isinstance(node.get("state"), dict) else {}
    blockers = [
        str((rel.get("issue") or {}).get("identifier") or "")
        for rel in _nodes(node.get("inverseRelations"))
        if rel.get("type") == "blocks"
    ]
    assignee = _person(node.get("assignee"))
    return Issue(
        id=str(node.get("identifier") or ""),
        title=str(node.get("title") or ""),
        body=str(node.get("description") or ""),
        state="closed" if state.get("type") in CLOSED_TYPES else "open",
        labels=tuple(str(label.get("name")) for label in _nodes(node.get("labels")) if label.get("name")),
        assignees=(assignee,) if assignee else (),
        milestone=str((node.get("projectMilestone") or {}).get("name") or ""),
        author=_person(node.get("creator")),
        url=str(node.get("url") or ""),
        created_at=str(node.get("createdAt") or ""),
        comments=comments,
        depends_on=tuple(b for b in blockers if b),
    )
