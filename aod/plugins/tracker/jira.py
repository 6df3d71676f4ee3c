"""The `jira` tracker: a project's issues in Jira Cloud (REST v3) or Server / Data Center (v2).

Which issues: `projects.NAME.jira.jql`, else `project = KEY` from `projects.NAME.jira.project`;
listing adds its filters (state by status category, labels, assignee, fixVersion) and sorts
newest first. Every value that goes into JQL is a quoted, escaped JQL string (or a constant
aod writes itself), so issue text, a label or an assignee can never change the query.

One request per `list_issues` (up to 100 issues) and per `get_issue` (the `comment` field
brings the comments along); `move_issue` reads the issue's status and its transitions in one
request and writes only when the issue is not in that state already; `link_pr` writes a remote
link whose `globalId` is the PR's URL, so linking twice leaves one link. Nothing is asked by
the tick.

HTTP goes through aod.plugins.service_http (5xx retried, rate limits waited out without
sending anything). Jira Cloud's 429s carry `Retry-After` (seconds) and `X-RateLimit-Reset`
(an ISO 8601 time); a 503 with `Retry-After` is a resource limit and is waited out the same way.

Auth: with `jira.email`, basic auth with the email and an API token (Jira Cloud); without it,
the token as a bearer personal access token (Server / Data Center). The token: `jira.token`,
else JIRA_API_TOKEN in aod's environment.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

import httpx

from aod.plugins.forge import ForgeError, Issue, IssueComment, NoSuchIssue, RepoTarget
from aod.plugins.service_http import ServiceHttp, configured_token, retry_after, server_now, wait_from_headers
from aod.plugins.tracker import NoSuchState
from aod.plugins.tracker.adf import to_text

if TYPE_CHECKING:
    from aod.config import Config
    from aod.config.trackers import JiraConfig, JiraProjectConfig

TokenSource = Literal["jira.token", "JIRA_API_TOKEN"]

ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,49}-[1-9][0-9]{0,17}", re.ASCII)
FIELDS = "summary,description,status,labels,assignee,created,reporter,fixVersions"
PAGE = 100
"""Issues per search request (Jira Cloud's most with fields)."""
MAX_PAGES = 20
MAX_GLOBAL_ID = 255
MAX_TITLE = 255


def jql_string(value: str) -> str:
    """`value` as a JQL string literal: double-quoted, with `"` and `\\` escaped and control
    characters written as escapes. Whatever it contains, it stays one value."""
    out: list[str] = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ch in "\x7f\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def split_order_by(jql: str) -> tuple[str, str]:
    """(`jql` without its ORDER BY clause, the clause): the clause is found outside quoted
    strings only, so a value containing the words is left alone."""
    quote: str | None = None
    index = 0
    found = -1
    while index < len(jql):
        ch = jql[index]
        if quote is not None:
            if ch == "\\":
                index += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "oO" and (index == 0 or not (jql[index - 1].isalnum() or jql[index - 1] == "_")):
            if re.match(r"order\s+by\b", jql[index:], re.IGNORECASE):
                found = index
        index += 1
    if found < 0:
        return jql.strip(), ""
    return jql[:found].strip(), jql[found:].strip()


def jira_rate_limit(response: httpx.Response) -> float | None:
    """Seconds to wait when `response` is Jira saying "slow down": a 429 (or a 503 that comes
    with Retry-After: a resource limit). `Retry-After` first, else `X-RateLimit-Reset` (an ISO
    8601 time on Jira Cloud, read against the answer's `Date`), else a minute."""
    headers = response.headers
    status = response.status_code
    if status != 429 and not (status == 503 and "retry-after" in headers):
        return None
    after = retry_after(headers.get("retry-after"))
    if after is not None:
        return after
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            when = datetime.fromisoformat(reset.strip().replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return max(when.timestamp() - server_now(response), 1.0)
    return wait_from_headers(response, default=60.0)


class JiraTracker:
    kind = "jira"

    def __init__(
        self,
        config: Callable[[], Config],
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._env: Mapping[str, str] = os.environ if env is None else env
        self._http = ServiceHttp("Jira", self._settings, rate_limit=jira_rate_limit, clock=clock)
        self._search_jql_on_v2 = False
        """Jira Cloud removed /rest/api/2/search (410); then v2 searches use /search/jql too."""

    def _settings(self) -> JiraConfig:
        return self._config().jira

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- token -------------------------------------------------------------------------------------

    def _token(self) -> tuple[str, TokenSource] | None:
        return configured_token(self._settings().token, "jira.token", self._env, "JIRA_API_TOKEN")  # type: ignore[return-value]

    def token_source(self) -> TokenSource | None:
        """Where the token comes from (never the token)."""
        found = self._token()
        return found[1] if found else None

    def _problem(self) -> str | None:
        settings = self._settings()
        if not settings.base_url:
            return "no Jira site configured: set jira.base_url (https://YOUR-SITE.atlassian.net, or your Jira server's URL)"
        if self._token() is None:
            return (
                "no Jira token: set JIRA_API_TOKEN in aod's environment or jira.token in config "
                "(Jira Cloud: an API token from id.atlassian.com, with jira.email; Server / Data Center: a personal access token)"
            )
        if settings.email is None and _is_cloud(settings.base_url):
            return (
                "Jira Cloud takes an API token together with the account's email: set jira.email "
                "(without it the token is sent as a Server / Data Center personal access token)"
            )
        return None

    async def token_problem(self) -> str | None:
        """None when the site and a token are configured, else what to set. No request."""
        return self._problem()

    def _auth(self) -> dict[str, str]:
        problem = self._problem()
        found = self._token()
        if problem or found is None:
            raise ForgeError(problem or "no Jira token")
        email = self._settings().email
        if email:
            pair = base64.b64encode(f"{email}:{found[0]}".encode()).decode()
            return {"Authorization": f"Basic {pair}", "Accept": "application/json"}
        return {"Authorization": f"Bearer {found[0]}", "Accept": "application/json"}

    # -- addresses --------------------------------------------------------------------------------

    def _site(self) -> str:
        base = str(self._settings().base_url or "").rstrip("/")
        return re.sub(r"/rest/api/(2|3|latest)$", "", base)

    def _api(self, path: str) -> str:
        return f"{self._site()}/rest/api/{self._settings().api_version}{path}"

    def _project(self, repo: RepoTarget) -> JiraProjectConfig | None:
        project = self._config().projects.get(repo.project)
        return project.jira if project is not None else None

    def _key(self, repo: RepoTarget, issue_id: str) -> str:
        """The issue key, checked before anything is sent: `PROJ-42` (any case), or `42` when
        the project's Jira project key is configured."""
        text = str(issue_id).strip()
        project = self._project(repo)
        if re.fullmatch(r"[0-9]{1,18}", text) and project is not None and project.project:
            text = f"{project.project}-{int(text)}"
        text = text.upper()
        if not ISSUE_KEY.fullmatch(text):
            raise NoSuchIssue(f"{issue_id!r} is not a Jira issue key like PROJ-42")
        return text

    # -- requests ------------------------------------------------------------------------------------

    async def _request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None, retry: bool | None = None) -> httpx.Response:
        headers = self._auth()
        return await self._http.request(method, self._api(path), headers=headers, params=params, json=json, retry=retry)

    def _refused(self, response: httpx.Response, doing: str) -> ForgeError:
        status = response.status_code
        source = self.token_source() or "the token"
        email = self._settings().email
        if status == 401:
            if email:
                return ForgeError(
                    f"Jira refused the credentials {doing} (401): check jira.email ({email}) and the API token "
                    f"from {source} (Jira Cloud: an API token from id.atlassian.com for that account)"
                )
            return ForgeError(
                f"Jira refused the token {doing} (401): check the personal access token from {source}; "
                "for Jira Cloud set jira.email too (Cloud takes basic auth with the email and an API token)"
            )
        if status == 403:
            if response.headers.get("x-authentication-denied-reason"):
                return ForgeError(
                    f"Jira refused the credentials {doing} (403, {response.headers['x-authentication-denied-reason']}): "
                    "log in to Jira once in a browser to clear the CAPTCHA, then check the token and jira.email"
                )
            return ForgeError(f"Jira refused {doing} (403): the token (and jira.email) were refused or lack the permission: {_messages(response)}")
        return ForgeError(f"{doing}: Jira answered {status} ({_messages(response)})")

    def _json(self, response: httpx.Response, doing: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ForgeError(f"{doing}: Jira answered {response.status_code} with something that is not JSON") from None

    # -- issues ----------------------------------------------------------------------------------------

    async def get_issue(self, repo: RepoTarget, issue_id: str) -> Issue:
        key = self._key(repo, issue_id)
        doing = f"reading {key}"
        response = await self._request("GET", f"/issue/{key}", params={"fields": FIELDS + ",comment"})
        if response.status_code == 404:
            raise NoSuchIssue(f"Jira has no issue {key} (or the token's account cannot see it)")
        if response.status_code != 200:
            raise self._refused(response, doing)
        data = self._json(response, doing)
        if not isinstance(data, dict):
            raise ForgeError(f"{doing}: Jira answered something that is not an issue")
        await self._more_comments(key, data)
        return self._issue(data, comments=True)

    async def _more_comments(self, key: str, data: dict[str, Any]) -> None:
        """The `comment` field may hold only the first comments of a long thread (`total` says
        how many there are): the rest, a page of 100 at a time, at most MAX_PAGES pages."""
        fields = data.get("fields")
        block = fields.get("comment") if isinstance(fields, dict) else None
        if not isinstance(block, dict) or not isinstance(block.get("comments"), list):
            return
        comments: list[Any] = block["comments"]
        total = block.get("total")
        for _ in range(MAX_PAGES):
            if not isinstance(total, int) or len(comments) >= total:
                return
            response = await self._request("GET", f"/issue/{key}/comment", params={"startAt": len(comments), "maxResults": PAGE})
            if response.status_code != 200:
                raise self._refused(response, f"reading {key}'s comments")
            page = self._json(response, f"reading {key}'s comments")
            more = page.get("comments") if isinstance(page, dict) else None
            if not isinstance(more, list) or not more:
                return
            comments += more

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
        jql = self.jql(repo, state=state, labels=labels, assignee=assignee, milestone=milestone)
        self._auth()  # a missing token is the user's to fix, before anything else
        if limit <= 0:
            return []
        doing = f"searching Jira for {repo.project}'s issues"
        issues: list[Issue] = []
        token: str | None = None
        start = 0
        for _ in range(MAX_PAGES):
            size = min(PAGE, limit - len(issues))
            by_token = self._settings().api_version == 3 or self._search_jql_on_v2
            params: dict[str, Any] = {"jql": jql, "fields": FIELDS, "maxResults": size}
            if by_token and token:
                params["nextPageToken"] = token
            if not by_token:
                params["startAt"] = start
            response = await self._request("GET", "/search/jql" if by_token else "/search", params=params)
            if response.status_code == 410 and not by_token:
                # Jira Cloud with api_version 2: the old search is gone; /rest/api/2/search/jql remains.
                self._search_jql_on_v2 = True
                continue
            if response.status_code == 400:
                own = self._project(repo)
                hint = f" (check projects.{repo.project}.jira.jql)" if own is not None and own.jql else ""
                raise ForgeError(f"Jira refused the JQL `{jql}`: {_messages(response)}{hint}")
            if response.status_code != 200:
                raise self._refused(response, doing)
            data = self._json(response, doing)
            page = data.get("issues") if isinstance(data, dict) else None
            if not isinstance(page, list):
                raise ForgeError(f"{doing}: Jira's answer has no issues list")
            issues += [self._issue(item, comments=False) for item in page if isinstance(item, dict) and item.get("key")]
            if len(issues) >= limit or not page:
                break
            if by_token:
                token = data.get("nextPageToken")
                if not token or data.get("isLast") is True:
                    break
            else:
                start += len(page)
                total = data.get("total")
                if not isinstance(total, int) or start >= total:
                    break
        return issues[:limit]

    def jql(
        self,
        repo: RepoTarget,
        *,
        state: Literal["open", "closed", "all"] = "open",
        labels: Sequence[str] = (),
        assignee: str | None = None,
        milestone: str | None = None,
    ) -> str:
        """The JQL `list_issues` sends: the project's own, ANDed with the filters."""
        project = self._project(repo)
        if project is not None and project.jql and project.jql.strip():
            base, _order = split_order_by(project.jql)
        elif project is not None and project.project:
            base = f"project = {jql_string(project.project)}"
        else:
            raise ForgeError(
                f"project {repo.project} has no Jira project: set projects.{repo.project}.jira.project "
                f"(the key, PROJ in PROJ-42) or projects.{repo.project}.jira.jql"
            )
        clauses = [f"({base})"] if base else []
        if state == "open":
            clauses.append("statusCategory != Done")
        elif state == "closed":
            clauses.append("statusCategory = Done")
        clauses += [f"labels = {jql_string(label)}" for label in labels if label]
        if assignee:
            who = assignee.strip()
            if who.lower() in ("me", "@me", "currentuser()"):
                clauses.append("assignee = currentUser()")
            elif who.lower() in ("none", "unassigned"):
                clauses.append("assignee is EMPTY")
            else:
                clauses.append(f"assignee = {jql_string(who)}")
        if milestone:
            clauses.append(f"fixVersion = {jql_string(milestone)}")
        return " AND ".join(clauses) + " ORDER BY created DESC"

    def _issue(self, data: Mapping[str, Any], *, comments: bool) -> Issue:
        raw = data.get("fields")
        fields: dict[str, Any] = raw if isinstance(raw, dict) else {}
        key = str(data.get("key") or "")
        status = fields.get("status") if isinstance(fields.get("status"), dict) else {}
        category = status.get("statusCategory") if isinstance(status.get("statusCategory"), dict) else {}
        versions = [v.get("name") for v in fields.get("fixVersions") or () if isinstance(v, dict) and v.get("name")]
        assignee = fields.get("assignee")
        found: tuple[IssueComment, ...] = ()
        if comments:
            block = fields.get("comment")
            items = block.get("comments") if isinstance(block, dict) else None
            found = tuple(
                IssueComment(author=_person(c.get("author")), body=to_text(c.get("body")), at=_iso(c.get("created")))
                for c in items or () if isinstance(c, dict)
            )
        return Issue(
            id=key,
            title=str(fields.get("summary") or ""),
            body=to_text(fields.get("description")),
            state="closed" if category.get("key") == "done" else "open",
            labels=tuple(str(label) for label in fields.get("labels") or () if isinstance(label, str)),
            assignees=(_person(assignee),) if isinstance(assignee, dict) else (),
            milestone=str(versions[0]) if versions else "",
            author=_person(fields.get("reporter")) if isinstance(fields.get("reporter"), dict) else "",
            url=f"{self._site()}/browse/{key}",
            created_at=_iso(fields.get("created")),
            comments=found,
        )

    # -- commands ----------------------------------------------------------------------------------------

    async def move_issue(self, repo: RepoTarget, issue_id: str, state: str) -> str:
        key = self._key(repo, issue_id)
        wanted = state.strip().casefold()
        if not wanted:
            raise ForgeError("move_issue needs the name of a Jira status or transition")
        doing = f"reading {key}'s transitions"
        response = await self._request("GET", f"/issue/{key}", params={"fields": "status", "expand": "transitions"})
        if response.status_code == 404:
            raise NoSuchIssue(f"Jira has no issue {key} (or the token's account cannot see it)")
        if response.status_code != 200:
            raise self._refused(response, doing)
        data = self._json(response, doing)
        fields = data.get("fields") if isinstance(data, dict) and isinstance(data.get("fields"), dict) else {}
        status = fields.get("status") if isinstance(fields.get("status"), dict) else {}
        current = str(status.get("name") or "")
        current_category = _category(status)
        transitions = [t for t in (data.get("transitions") or []) if isinstance(t, dict) and t.get("id") is not None] if isinstance(data, dict) else []
        if current.casefold() == wanted:
            return current
        chosen = next((t for t in transitions if str(t.get("name") or "").casefold() == wanted), None)
        chosen = chosen or next((t for t in transitions if _target(t).casefold() == wanted), None)
        if chosen is None:
            # `Done` on a workflow whose done status is called Resolved: the status category.
            if wanted in current_category:
                return current
            chosen = next((t for t in transitions if wanted in _category(t.get("to"))), None)
        if chosen is None:
            offered = ", ".join(f"{t.get('name')!r} (to {_target(t)})" for t in transitions) or "none"
            raise NoSuchState(f"{key} is in {current!r} and Jira has no transition to {state.strip()!r} from there; its transitions: {offered}")
        target = _target(chosen) or str(chosen.get("name") or "")
        if target.casefold() == current.casefold():
            return current
        doing = f"moving {key} to {target!r}"
        answer = await self._request("POST", f"/issue/{key}/transitions", json={"transition": {"id": str(chosen["id"])}}, retry=False)
        if answer.status_code in (200, 204):
            return target
        if answer.status_code == 404:
            raise NoSuchIssue(f"Jira has no issue {key} (or the token's account cannot see it)")
        if answer.status_code == 400:
            raise ForgeError(f"Jira refused the transition {chosen.get('name')!r} of {key}: {_messages(answer)}")
        raise self._refused(answer, doing)

    async def link_pr(self, repo: RepoTarget, issue_id: str, *, url: str, title: str) -> None:
        key = self._key(repo, issue_id)
        if not re.match(r"https?://[^\s/]+", url) or any(ch.isspace() for ch in url):
            raise ForgeError(f"{url!r} is not a PR's web address")
        global_id = url if len(url) <= MAX_GLOBAL_ID else "aod-pr:" + hashlib.sha256(url.encode()).hexdigest()
        title = " ".join(title.split())
        label = title if re.match(r"pr\b", title, re.IGNORECASE) else f"PR: {title}"  # `PR #7: ...` as it is
        body = {"globalId": global_id, "object": {"url": url, "title": label[:MAX_TITLE]}}
        # Safe to retry: the same globalId updates the link Jira already has.
        response = await self._request("POST", f"/issue/{key}/remotelink", json=body, retry=True)
        if response.status_code in (200, 201):
            return
        if response.status_code == 404:
            raise NoSuchIssue(f"Jira has no issue {key} (or the token's account cannot see it)")
        if response.status_code == 400:
            raise ForgeError(f"Jira refused the link from {key} to {url}: {_messages(response)}")
        raise self._refused(response, f"linking {key} to {url}")

    def status(self) -> dict[str, object]:
        out = self._http.status()
        out["token_source"] = self.token_source()
        out["api_version"] = self._settings().api_version
        return out


# ---------------------------------------------------------------------------------------------
# Helpers


def _is_cloud(base_url: str) -> bool:
    host = re.sub(r"^https?://", "", str(base_url)).split("/")[0].split(":")[0].lower()
    return host.endswith((".atlassian.net", ".jira.com"))


def _person(user: Any) -> str:
    if not isinstance(user, dict):
        return ""
    for name in ("displayName", "name", "emailAddress", "accountId"):
        value = user.get(name)
        if isinstance(value, str) and value:
            return value
    return "someone"


def _target(transition: Any) -> str:
    to = transition.get("to") if isinstance(transition, dict) else None
    return str(to.get("name") or "") if isinstance(to, dict) else ""


def _category(status: Any) -> set[str]:
    """The status category's name and key, folded (`done`, `to do`, `new`, ...)."""
    category = status.get("statusCategory") if isinstance(status, dict) else None
    if not isinstance(category, dict):
        return set()
    return {str(category[k]).casefold() for k in ("name", "key") if category.get(k)}


def _iso(value: Any) -> str:
    """Jira's `2024-01-15T10:30:00.000+0000` as UTC `2024-01-15T10:30:00Z` (as it came when unreadable)."""
    if not isinstance(value, str) or not value:
        return ""
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(value, fmt).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            continue
    return value


def _messages(response: httpx.Response) -> str:
    """Jira's `errorMessages` and `errors` of an answer, else the start of its text."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        parts = [str(m) for m in data.get("errorMessages") or () if m]
        errors = data.get("errors")
        if isinstance(errors, dict):
            parts += [f"{k}: {v}" for k, v in errors.items()]
        if parts:
            return "; ".join(parts)[:500]
    text = " ".join(response.text.split())
    return text[:200] or response.reason_phrase or str(response.status_code)


__all__ = ["JiraTracker", "jira_rate_limit", "jql_string", "split_order_by"]
