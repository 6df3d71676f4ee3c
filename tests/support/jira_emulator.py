"""A stateful Jira on loopback: the REST subset the Jira tracker uses, Cloud and Server.

The tracker plugin runs unmodified against it with `jira.base_url` pointed at `base_url`. It
keeps projects (each with a workflow: statuses with a status category, and transitions),
users, issues, comments and remote links, and answers in Jira's documented JSON shapes:

- `deployment="cloud"`: REST v3 (`/rest/api/3/...`: descriptions and comment bodies are
  Atlassian Document Format) and v2 (`/rest/api/2/...`: the same as strings). Search is
  `GET /search/jql` (nextPageToken paging; without `fields` only ids come back, as on
  Cloud); the removed `GET /search` answers 410 Gone with Atlassian's migration message.
  Auth: basic with the account's email and API token only.
- `deployment="server"`: REST v2 only (v3 is 404), `GET /rest/api/2/search` (startAt paging).
  Auth: a personal access token as `Bearer`, or basic with username and password.
- Issues: `GET /issue/{key}` (`fields=`, `expand=transitions`; the `comment` field carries
  the comments), `GET|POST /issue/{key}/transitions` (204; a transition not available from
  the issue's status is a 400), `GET|POST /issue/{key}/comment`, `GET|POST
  /issue/{key}/remotelink` (a `globalId` already there updates that link: 200, not a second
  link), `GET /myself`.
- JQL: a real parser for a subset (AND, OR, NOT, parentheses; `= != IN NOT IN IS EMPTY ~
  !~ > < >= <=`; quoted strings with Jira's escapes; `currentUser()`; ORDER BY). It rejects
  what Jira rejects, with Jira's kind of message (400 `errorMessages`): syntax errors, a
  reserved character or word used unquoted, unknown fields, operators a field does not
  support, values that do not exist (a project, a status, a user, an issue key). So a value
  the plugin forgot to quote shows up as a failing request, not a silent wrong answer.
- Faults: `fail(429, retry_after=...)` (with Jira Cloud's rate-limit headers), 5xx, slow
  answers; an optional request budget (`rate_limit=`) with `X-RateLimit-*` headers.
- A log of every request (method, path, api version, query, headers, body, status).

Time is the emulator's own (`now()`, `advance()`), used for timestamps and `Date`.
"""

from __future__ import annotations

import base64
import calendar
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from tests.support.loopback_http import serve

# =============================================================================================
# Workflows

CATEGORIES = {
    # key: (id, name, colorName)
    "new": (2, "To Do", "blue-gray"),
    "indeterminate": (4, "In Progress", "yellow"),
    "done": (3, "Done", "green"),
}


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    to: str
    sources: tuple[str, ...] | None = None
    """The statuses it starts from; None: a global transition (from any other status)."""
    required: tuple[str, ...] = ()
    """Fields its screen requires (`resolution`): the POST must set them in `fields`."""


@dataclass(frozen=True)
class Workflow:
    statuses: dict[str, str]
    """Status name → status category key (new, indeterminate, done)."""
    transitions: tuple[Transition, ...]
    initial: str


SIMPLE = Workflow(
    # A team-managed project's default: one global transition into each status, named after it.
    statuses={"To Do": "new", "In Progress": "indeterminate", "Done": "done"},
    transitions=(Transition("11", "To Do", "To Do"), Transition("21", "In Progress", "In Progress"), Transition("31", "Done", "Done")),
    initial="To Do",
)

CLASSIC = Workflow(
    # Jira's classic default workflow: transitions named by what they do, not where they go.
    statuses={"Open": "new", "In Progress": "indeterminate", "Reopened": "new", "Resolved": "done", "Closed": "done"},
    transitions=(
        Transition("4", "Start Progress", "In Progress", ("Open", "Reopened")),
        Transition("301", "Stop Progress", "Open", ("In Progress",)),
        Transition("5", "Resolve Issue", "Resolved", ("Open", "In Progress", "Reopened")),
        Transition("2", "Close Issue", "Closed", ("Open", "In Progress", "Resolved", "Reopened")),
        Transition("3", "Reopen Issue", "Reopened", ("Resolved", "Closed")),
    ),
    initial="Open",
)


# =============================================================================================
# State


@dataclass
class User:
    account_id: str
    name: str
    display_name: str
    email: str

    def ids(self) -> list[str]:
        return [self.account_id, self.name, self.display_name, self.email]


@dataclass
class Comment:
    id: str
    author: User
    body: Any
    """A string or an ADF document, as it was written."""
    created: float


@dataclass
class RemoteLink:
    id: int
    global_id: str | None
    object: dict[str, Any]
    relationship: str | None = None


@dataclass
class Issue:
    id: str
    key: str
    project: str
    summary: str
    description: Any
    status: str
    reporter: User
    created: float
    updated: float
    assignee: User | None = None
    labels: list[str] = field(default_factory=list)
    fix_versions: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    links: list[RemoteLink] = field(default_factory=list)


@dataclass
class Project:
    key: str
    id: str
    name: str
    workflow: Workflow
    versions: list[str] = field(default_factory=list)
    counter: int = 0


@dataclass
class Logged:
    method: str
    path: str
    """After /rest/api/N (`/search/jql`, `/issue/PROJ-1`), or the whole path otherwise."""
    version: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float
    status: int = 0


@dataclass
class _Fault:
    status: int | None
    retry_after: float | None
    delay: float
    path: str | None


class JqlError(Exception):
    """A JQL query Jira would refuse (400)."""


# =============================================================================================
# The emulator


class JiraEmulator:
    def __init__(
        self,
        *,
        deployment: str = "cloud",
        email: str = "bot@example.com",
        token: str = "jira-api-token",
        pat: str = "jira-personal-access-token",
        password: str = "hunter2",
        rate_limit: int | None = None,
    ) -> None:
        if deployment not in ("cloud", "server"):
            raise ValueError("deployment: cloud or server")
        self.deployment = deployment
        self.email, self.token, self.pat, self.password = email, token, pat, password
        self._lock = threading.RLock()
        self._offset = 0.0
        self._ids = itertools.count(10000)
        self._status_ids: dict[str, str] = {}
        self._projects: dict[str, Project] = {}
        self._issues: dict[str, Issue] = {}
        self._users: dict[str, User] = {}
        self._log: list[Logged] = []
        self._faults: list[_Fault] = []
        self._closing = threading.Event()
        self._seq = 0
        self.bot = self.create_user("bot", "Aod Bot", email=email)
        self._budget = rate_limit
        self._remaining = rate_limit
        self.comments_in_issue = 5000
        """How many comments the issue's `comment` field carries (the rest: GET /comment)."""
        self._server, self._thread = serve(self, "jira-emulator")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- time, faults, log ----------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def fail(self, status: int | None = 502, *, times: int = 1, retry_after: float | None = None, delay: float = 0.0, path: str | None = None) -> None:
        """The next `times` requests whose path contains `path` wait `delay` seconds, then get
        `status` (None: answered normally after the delay). A 429 carries Jira Cloud's
        rate-limit headers; `retry_after`: a Retry-After header."""
        with self._lock:
            self._faults.extend(_Fault(status, retry_after, delay, path) for _ in range(times))

    def slow(self, seconds: float, *, times: int = 1) -> None:
        self.fail(None, times=times, delay=seconds)

    def set_budget(self, remaining: int) -> None:
        with self._lock:
            self._remaining = remaining

    def requests(self, since: int = 0, *, method: str | None = None) -> list[Logged]:
        with self._lock:
            return [r for r in self._log[since:] if method is None or r.method == method]

    def mark(self) -> int:
        with self._lock:
            return len(self._log)

    def writes(self, since: int = 0) -> list[Logged]:
        return [r for r in self.requests(since) if r.method != "GET"]

    # -- building state ---------------------------------------------------------------------------

    def create_user(self, name: str, display_name: str | None = None, *, email: str | None = None) -> User:
        with self._lock:
            user = User(
                account_id=f"5b10a2844c20165700ede{len(self._users):03d}",
                name=name,
                display_name=display_name or name.title(),
                email=email or f"{name}@example.com",
            )
            self._users[name] = user
            return user

    def user(self, name: str) -> User:
        return self._users[name]

    def create_project(self, key: str, *, name: str | None = None, workflow: Workflow = SIMPLE, versions: tuple[str, ...] = ()) -> Project:
        with self._lock:
            for status in workflow.statuses:
                self._status_ids.setdefault(status, str(next(self._ids)))
            project = Project(key=key, id=str(next(self._ids)), name=name or key.title(), workflow=workflow, versions=list(versions))
            self._projects[key] = project
            return project

    def create_issue(
        self,
        project: str,
        summary: str,
        *,
        description: Any = None,
        labels: tuple[str, ...] | list[str] = (),
        assignee: str | None = None,
        reporter: str = "bot",
        status: str | None = None,
        fix_versions: tuple[str, ...] = (),
    ) -> str:
        """A new issue; returns its key. `description`: a string or an ADF document.
        Each issue is created a second after the one before (ORDER BY created is stable)."""
        with self._lock:
            proj = self._projects[project]
            proj.counter += 1
            self._seq += 1
            key = f"{project}-{proj.counter}"
            at = self.now() + self._seq
            issue = Issue(
                id=str(next(self._ids)), key=key, project=project, summary=summary, description=description,
                status=status or proj.workflow.initial, reporter=self._users[reporter], created=at, updated=at,
                assignee=self._users[assignee] if assignee else None, labels=list(labels), fix_versions=list(fix_versions),
            )
            if issue.status not in proj.workflow.statuses:
                raise ValueError(f"{project}'s workflow has no status {issue.status!r}")
            self._issues[key] = issue
            return key

    def comment(self, key: str, body: Any, *, author: str = "bot") -> str:
        with self._lock:
            issue = self._issues[key]
            self._seq += 1
            comment = Comment(id=str(next(self._ids)), author=self._users[author], body=body, created=self.now() + self._seq)
            issue.comments.append(comment)
            return comment.id

    def issue(self, key: str) -> Issue:
        return self._issues[key]

    def status_of(self, key: str) -> str:
        with self._lock:
            return self._issues[key].status

    def set_status(self, key: str, status: str) -> None:
        with self._lock:
            self._issues[key].status = status

    def remote_links(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            return [{"id": link.id, "globalId": link.global_id, "object": dict(link.object)} for link in self._issues[key].links]

    # -- answering ----------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes, dict[str, str]]:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        match = re.fullmatch(r"/rest/api/(2|3|latest)(/.*)", parts.path)
        version, path = (match.group(1), match.group(2)) if match else ("", parts.path)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = ValueError
        entry = Logged(method, path, version, query, headers, body, self.now())
        with self._lock:
            self._log.append(entry)
        status, payload, extra = self._answer(entry)
        entry.status = status
        if status == 204:
            return status, b"", extra
        if isinstance(payload, (dict, list)):
            extra.setdefault("Content-Type", "application/json;charset=UTF-8")
            return status, json.dumps(payload).encode(), extra
        extra.setdefault("Content-Type", "text/html;charset=UTF-8")
        return status, str(payload).encode(), extra

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.path is None or fault.path in path:
                    return self._faults.pop(index)
        return None

    def _rate_headers(self) -> dict[str, str]:
        if self._budget is None:
            return {}
        return {"X-RateLimit-Limit": str(self._budget), "X-RateLimit-Remaining": str(max(self._remaining or 0, 0))}

    def _limited(self, retry_after: float | None) -> tuple[int, Any, dict[str, str]]:
        wait = 30.0 if retry_after is None else retry_after
        reset = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(self.now() + wait))
        headers = {
            "Retry-After": f"{wait:g}", "X-RateLimit-Reset": reset, "X-RateLimit-Limit": str(self._budget or 100),
            "X-RateLimit-Remaining": "0", "X-RateLimit-NearLimit": "true", "RateLimit-Reason": "jira-burst-based",
        }
        return 429, {"errorMessages": ["Rate limit exceeded."], "errors": {}}, headers

    def _answer(self, entry: Logged) -> tuple[int, Any, dict[str, str]]:
        fault = self._take_fault(entry.path)
        if fault is not None and fault.delay:
            self._closing.wait(fault.delay)
        if fault is not None and fault.status is not None:
            if fault.status == 429:
                return self._limited(fault.retry_after)
            extra = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            return fault.status, f"<html><body><h1>{fault.status} Server Error</h1></body></html>", extra
        if not entry.version or (self.deployment == "server" and entry.version == "3"):
            return 404, "<html><body>Not Found</body></html>", {}
        user = self._authenticate(entry.headers.get("authorization", ""))
        if user is None:
            return 401, "Client must be authenticated to access this resource.", {"WWW-Authenticate": 'Basic realm="protected-area"'}
        with self._lock:
            if self._remaining is not None:
                if self._remaining <= 0:
                    return self._limited(30.0)
                self._remaining -= 1
            if entry.body is ValueError:
                return 400, _errors("Unexpected character in the request body: it is not JSON."), self._rate_headers()
            status, payload = self._route(entry, user)
            return status, payload, self._rate_headers()

    def _authenticate(self, header: str) -> User | None:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer":
            return self.bot if self.deployment == "server" and credentials == self.pat else None
        if scheme.lower() != "basic":
            return None
        try:
            name, _, secret = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if self.deployment == "cloud":
            return self.bot if (name, secret) == (self.email, self.token) else None
        return self.bot if (name, secret) == (self.bot.name, self.password) else None

    def _route(self, entry: Logged, user: User) -> tuple[int, Any]:
        method, path, version = entry.method, entry.path, entry.version
        if path == "/myself" and method == "GET":
            return 200, self._user_json(user, version)
        if path == "/search/jql" and method == "GET":
            if self.deployment != "cloud":
                return 404, "<html><body>Not Found</body></html>"
            return self._search(entry, user, paging="token")
        if path == "/search" and method in ("GET", "POST"):
            if self.deployment == "cloud":
                return 410, _errors(
                    f"The requested API has been removed. Please migrate to the /rest/api/{version}/search/jql API. "
                    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
                )
            return self._search(entry, user, paging="offset")
        match = re.fullmatch(r"/issue/([^/]+)(/transitions|/comment|/remotelink)?", path)
        if not match:
            return 404, "<html><body>Not Found</body></html>"
        issue = self._find(unquote(match.group(1)))
        if issue is None:
            return 404, _errors("Issue does not exist or you do not have permission to see it.")
        sub = match.group(2)
        if sub is None and method == "GET":
            fields = _field_list(entry.query.get("fields"), default="*all")
            data = self._issue_json(issue, fields, version)
            if "transitions" in (entry.query.get("expand") or "").split(","):
                data["transitions"] = self._transitions_json(issue, version)
            return 200, data
        if sub == "/transitions" and method == "GET":
            return 200, {"expand": "transitions", "transitions": self._transitions_json(issue, version)}
        if sub == "/transitions" and method == "POST":
            return self._transition(issue, entry.body)
        if sub == "/comment" and method == "GET":
            comments = [self._comment_json(issue, c, version) for c in issue.comments]
            try:
                start, size = int(entry.query.get("startAt", "0")), min(int(entry.query.get("maxResults", "5000")), 5000)
            except ValueError:
                return 400, _errors("startAt and maxResults are numbers")
            page = comments[start:start + size]
            return 200, {"startAt": start, "maxResults": size, "total": len(comments), "comments": page}
        if sub == "/comment" and method == "POST":
            return self._add_comment(issue, entry.body, user, version)
        if sub == "/remotelink" and method == "GET":
            links = [self._link_json(issue, link, version) for link in issue.links]
            wanted = entry.query.get("globalId")
            return 200, [link for link in links if wanted is None or link.get("globalId") == wanted]
        if sub == "/remotelink" and method == "POST":
            return self._add_link(issue, entry.body, version)
        return 405, _errors("Method not allowed")

    def _find(self, ident: str) -> Issue | None:
        issue = self._issues.get(ident.upper())
        if issue is None and ident.isdigit():
            issue = next((i for i in self._issues.values() if i.id == ident), None)
        return issue

    # -- search -------------------------------------------------------------------------------------

    def _search(self, entry: Logged, user: User, *, paging: str) -> tuple[int, Any]:
        jql = entry.query.get("jql", "")
        try:
            expr, order = parse_jql(jql)
            if paging == "token" and expr is None:
                raise JqlError("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
            if expr is not None:
                self._validate(expr)
            matched = [i for i in self._issues.values() if expr is None or self._matches(expr, i, user)]
            matched = self._sort(matched, order)
        except JqlError as exc:
            return 400, _errors(str(exc))
        try:
            size = int(entry.query.get("maxResults", "50"))
        except ValueError:
            return 400, _errors("maxResults: not a number")
        size = max(0, min(size, 100 if paging == "token" else 1000))
        fields = _field_list(entry.query.get("fields"), default="id" if paging == "token" else "*navigable")
        version = entry.version
        if paging == "token":
            token = entry.query.get("nextPageToken")
            start = _decode_token(token) if token else 0
            if start is None:
                return 400, _errors("The provided next page token is invalid or expired.")
            page = matched[start:start + size]
            data: dict[str, Any] = {"issues": [self._issue_json(i, fields, version) for i in page], "isLast": start + size >= len(matched)}
            if start + size < len(matched):
                data["nextPageToken"] = base64.urlsafe_b64encode(f"offset:{start + size}".encode()).decode()
            return 200, data
        try:
            start = int(entry.query.get("startAt", "0"))
        except ValueError:
            return 400, _errors("startAt: not a number")
        page = matched[start:start + size]
        return 200, {
            "expand": "names,schema", "startAt": start, "maxResults": size, "total": len(matched),
            "issues": [self._issue_json(i, fields, version) for i in page],
        }

    def _sort(self, issues: list[Issue], order: list[tuple[str, bool]]) -> list[Issue]:
        keys = {
            "created": lambda i: i.created, "updated": lambda i: i.updated,
            "key": lambda i: (i.project, int(i.key.rsplit("-", 1)[1])), "issuekey": lambda i: (i.project, int(i.key.rsplit("-", 1)[1])),
            "summary": lambda i: i.summary.lower(), "status": lambda i: i.status.lower(),
        }
        result = sorted(issues, key=lambda i: int(i.id), reverse=True)  # Jira's default: newest first
        for name, descending in reversed(order):
            if name.lower() not in keys:
                raise JqlError(f"Not able to sort using field '{name}'.")
            result.sort(key=keys[name.lower()], reverse=descending)
        return result

    # -- JQL validation and matching -----------------------------------------------------------------

    FIELDS = {
        "project": "project", "key": "key", "issuekey": "key", "id": "key", "status": "status",
        "statuscategory": "statusCategory", "labels": "labels", "label": "labels", "assignee": "assignee",
        "reporter": "reporter", "fixversion": "fixVersion", "summary": "summary", "description": "description",
        "text": "text", "created": "created", "createddate": "created", "updated": "updated",
    }
    TEXT_FIELDS = ("summary", "description", "text")
    DATE_FIELDS = ("created", "updated")

    def _validate(self, expr: tuple[Any, ...]) -> None:
        kind = expr[0]
        if kind in ("and", "or"):
            for part in expr[1]:
                self._validate(part)
            return
        if kind == "not":
            self._validate(expr[1])
            return
        _, name, op, value = expr
        canonical = self.FIELDS.get(name.lower())
        if canonical is None:
            raise JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")
        text_ops, list_ops = ("~", "!~", "is", "is not"), ("=", "!=", "in", "not in", "is", "is not")
        allowed = text_ops if canonical in self.TEXT_FIELDS else (*list_ops, ">", "<", ">=", "<=") if canonical in self.DATE_FIELDS else list_ops
        if op not in allowed:
            raise JqlError(f"The operator '{op.upper()}' is not supported by the '{name}' field.")
        values = value[1] if value[0] == "list" else [value]
        for item in values:
            if item[0] == "empty":
                if op not in ("is", "is not", "=", "!=", "in", "not in"):
                    raise JqlError(f"The operator '{op.upper()}' does not support the EMPTY value.")
                continue
            if item[0] == "func":
                if item[1].lower() != "currentuser" or canonical not in ("assignee", "reporter"):
                    raise JqlError(f"Unable to find JQL function '{item[1]}()'.")
                continue
            self._validate_value(name, canonical, item[1])

    def _validate_value(self, name: str, canonical: str, text: str) -> None:
        low = text.lower()
        missing = f"The value '{text}' does not exist for the field '{name}'."
        if canonical == "project":
            if not any(low in (p.key.lower(), p.name.lower(), p.id) for p in self._projects.values()):
                raise JqlError(missing)
        elif canonical == "key":
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*-\d+|\d+", text):
                raise JqlError(f"The issue key '{text}' for field '{name}' is invalid.")
            if self._find(text) is None:
                raise JqlError(f"An issue with key '{text}' does not exist for field '{name}'.")
        elif canonical == "status":
            if not any(low == s.lower() or low == i for s, i in self._status_ids.items()):
                raise JqlError(missing)
        elif canonical == "statusCategory":
            if not any(low in (key, str(cid), cname.lower()) for key, (cid, cname, _) in CATEGORIES.items()):
                raise JqlError(missing)
        elif canonical in ("assignee", "reporter"):
            if not any(low in [v.lower() for v in u.ids()] for u in self._users.values()):
                raise JqlError(missing)
        elif canonical == "fixVersion":
            if not any(low in [v.lower() for v in p.versions] for p in self._projects.values()):
                raise JqlError(missing)
        elif canonical in self.DATE_FIELDS:
            if _date(text) is None:
                raise JqlError(
                    f"Date value '{text}' for field '{name}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
                    "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
                )

    def _values(self, canonical: str, issue: Issue) -> list[list[str]]:
        """Each value the field has on `issue`, as the strings a JQL value may name it by."""
        if canonical == "project":
            project = self._projects[issue.project]
            return [[project.key, project.name, project.id]]
        if canonical == "key":
            return [[issue.key, issue.id]]
        if canonical == "status":
            return [[issue.status, self._status_ids[issue.status]]]
        if canonical == "statusCategory":
            key = self._projects[issue.project].workflow.statuses[issue.status]
            cid, cname, _ = CATEGORIES[key]
            return [[key, str(cid), cname]]
        if canonical == "labels":
            return [[label] for label in issue.labels]
        if canonical in ("assignee", "reporter"):
            person = issue.assignee if canonical == "assignee" else issue.reporter
            return [person.ids()] if person is not None else []
        if canonical == "fixVersion":
            return [[v] for v in issue.fix_versions]
        return []

    def _matches(self, expr: tuple[Any, ...], issue: Issue, user: User) -> bool:
        kind = expr[0]
        if kind == "and":
            return all(self._matches(part, issue, user) for part in expr[1])
        if kind == "or":
            return any(self._matches(part, issue, user) for part in expr[1])
        if kind == "not":
            return not self._matches(expr[1], issue, user)
        _, name, op, value = expr
        canonical = self.FIELDS[name.lower()]
        if canonical in self.TEXT_FIELDS:
            haystack = {
                "summary": issue.summary, "description": _plain(issue.description),
                "text": " ".join([issue.summary, _plain(issue.description), *(_plain(c.body) for c in issue.comments)]),
            }[canonical].lower()
            if op in ("is", "is not"):
                return (not haystack) == (op == "is")
            found = all(word in haystack for word in value[1].lower().split())
            return found if op == "~" else not found
        if canonical in self.DATE_FIELDS:
            stamp = issue.created if canonical == "created" else issue.updated
            if value[0] == "empty":
                return op == "is not"
            limit = _date(value[1]) or 0.0
            return {"=": stamp == limit, "!=": stamp != limit, ">": stamp > limit, "<": stamp < limit, ">=": stamp >= limit, "<=": stamp <= limit}.get(op, False)
        have = self._values(canonical, issue)
        if op in ("is", "is not"):
            return (not have) == (op == "is")
        wanted = value[1] if value[0] == "list" else [value]
        names: list[str] = []
        empty = False
        for item in wanted:
            if item[0] == "empty":
                empty = True
            elif item[0] == "func":
                names += user.ids()
            else:
                names.append(item[1])
        lowered = {n.lower() for n in names}
        hit = any(any(v.lower() in lowered for v in value_names) for value_names in have)
        if op in ("=", "in"):
            return hit or (empty and not have)
        # != and NOT IN: only issues that have a value, none of them the named ones (Jira's rule).
        if empty:
            return bool(have) and not hit
        return bool(have) and not hit

    # -- writes -------------------------------------------------------------------------------------

    def _available(self, issue: Issue) -> list[Transition]:
        workflow = self._projects[issue.project].workflow
        return [
            t for t in workflow.transitions
            if (t.sources is None and t.to != issue.status) or (t.sources is not None and issue.status in t.sources)
        ]

    def _transition(self, issue: Issue, body: Any) -> tuple[int, Any]:
        wanted = body.get("transition") if isinstance(body, dict) else None
        ident = str(wanted.get("id")) if isinstance(wanted, dict) and wanted.get("id") is not None else None
        if ident is None:
            return 400, _errors("Missing 'transition' identifier")
        transition = next((t for t in self._available(issue) if t.id == ident), None)
        if transition is None:
            return 400, _errors(f"Transition id '{ident}' is not valid for this issue.")
        given = body.get("fields") if isinstance(body.get("fields"), dict) else {}
        missing = {name: f"{name.title()} is required." for name in transition.required if name not in given}
        if missing:
            return 400, {"errorMessages": [], "errors": missing}
        issue.status = transition.to
        issue.updated = self.now()
        return 204, ""

    def _add_comment(self, issue: Issue, body: Any, user: User, version: str) -> tuple[int, Any]:
        text = body.get("body") if isinstance(body, dict) else None
        if version == "3" and not (isinstance(text, dict) and text.get("type") == "doc"):
            return 400, {"errorMessages": [], "errors": {"comment": "Comment body is not valid!"}}
        if version != "3" and not isinstance(text, str):
            return 400, {"errorMessages": [], "errors": {"comment": "Comment body can not be empty!"}}
        comment = Comment(id=str(next(self._ids)), author=user, body=text, created=self.now())
        issue.comments.append(comment)
        return 201, self._comment_json(issue, comment, version)

    def _add_link(self, issue: Issue, body: Any, version: str) -> tuple[int, Any]:
        obj = body.get("object") if isinstance(body, dict) else None
        errors: dict[str, str] = {}
        if not isinstance(obj, dict) or not obj.get("url"):
            errors["url"] = "'url' is required."
        if not isinstance(obj, dict) or not obj.get("title"):
            errors["title"] = "'title' is required."
        global_id = body.get("globalId") if isinstance(body, dict) else None
        if global_id is not None and (not isinstance(global_id, str) or len(global_id) > 255):
            errors["globalId"] = "'globalId' must be a string of at most 255 characters."
        if errors:
            return 400, {"errorMessages": [], "errors": errors}
        assert isinstance(obj, dict) and isinstance(body, dict)
        for link in issue.links:
            if global_id is not None and link.global_id == global_id:
                link.object, link.relationship = dict(obj), body.get("relationship")
                return 200, {"id": link.id, "self": self._link_self(issue, link, version)}
        link = RemoteLink(id=int(next(self._ids)), global_id=global_id, object=dict(obj), relationship=body.get("relationship"))
        issue.links.append(link)
        return 201, {"id": link.id, "self": self._link_self(issue, link, version)}

    # -- shapes --------------------------------------------------------------------------------------

    def _api(self, version: str) -> str:
        return f"{self.base_url}/rest/api/{version}"

    def _user_json(self, user: User | None, version: str) -> dict[str, Any] | None:
        if user is None:
            return None
        data: dict[str, Any] = {
            "self": f"{self._api(version)}/user?accountId={user.account_id}", "displayName": user.display_name,
            "emailAddress": user.email, "active": True, "timeZone": "UTC",
        }
        if self.deployment == "cloud":
            data.update(accountId=user.account_id, accountType="atlassian")
        else:
            data.update(name=user.name, key=f"JIRAUSER{user.account_id[-5:]}")
        return data

    def _status_json(self, name: str, workflow: Workflow, version: str) -> dict[str, Any]:
        category = workflow.statuses[name]
        cid, cname, color = CATEGORIES[category]
        sid = self._status_ids[name]
        return {
            "self": f"{self._api(version)}/status/{sid}", "description": "", "iconUrl": f"{self.base_url}/images/icons/statuses/generic.png",
            "name": name, "id": sid,
            "statusCategory": {"self": f"{self._api(version)}/statuscategory/{cid}", "id": cid, "key": category, "colorName": color, "name": cname},
        }

    def _text(self, value: Any, version: str) -> Any:
        if value is None:
            return None
        if version == "3":
            return value if isinstance(value, dict) else _adf(str(value))
        return value if isinstance(value, str) else _plain(value)

    def _comment_json(self, issue: Issue, comment: Comment, version: str) -> dict[str, Any]:
        author = self._user_json(comment.author, version)
        return {
            "self": f"{self._api(version)}/issue/{issue.id}/comment/{comment.id}", "id": comment.id, "author": author,
            "body": self._text(comment.body, version), "updateAuthor": author,
            "created": _jira_time(comment.created), "updated": _jira_time(comment.created), "jsdPublic": True,
        }

    def _transitions_json(self, issue: Issue, version: str) -> list[dict[str, Any]]:
        workflow = self._projects[issue.project].workflow
        return [
            {
                "id": t.id, "name": t.name, "to": self._status_json(t.to, workflow, version), "hasScreen": bool(t.required),
                "isGlobal": t.sources is None, "isInitial": False, "isAvailable": True, "isConditional": False, "isLooped": False,
            }
            for t in self._available(issue)
        ]

    def _link_self(self, issue: Issue, link: RemoteLink, version: str) -> str:
        return f"{self._api(version)}/issue/{issue.key}/remotelink/{link.id}"

    def _link_json(self, issue: Issue, link: RemoteLink, version: str) -> dict[str, Any]:
        data: dict[str, Any] = {"id": link.id, "self": self._link_self(issue, link, version), "object": link.object}
        if link.global_id is not None:
            data["globalId"] = link.global_id
        if link.relationship:
            data["relationship"] = link.relationship
        return data

    def _issue_json(self, issue: Issue, fields: set[str], version: str) -> dict[str, Any]:
        project = self._projects[issue.project]
        every = "*all" in fields or "*navigable" in fields

        def want(name: str) -> bool:
            return every or name in fields

        out: dict[str, Any] = {}
        if want("summary"):
            out["summary"] = issue.summary
        if want("description"):
            out["description"] = self._text(issue.description, version)
        if want("status"):
            out["status"] = self._status_json(issue.status, project.workflow, version)
        if want("labels"):
            out["labels"] = list(issue.labels)
        if want("assignee"):
            out["assignee"] = self._user_json(issue.assignee, version)
        if want("reporter"):
            out["reporter"] = self._user_json(issue.reporter, version)
        if want("created"):
            out["created"] = _jira_time(issue.created)
        if want("updated"):
            out["updated"] = _jira_time(issue.updated)
        if want("fixVersions"):
            out["fixVersions"] = [{"self": f"{self._api(version)}/version/{n}", "id": str(10 + n), "name": name, "archived": False, "released": False} for n, name in enumerate(issue.fix_versions)]
        if want("project"):
            out["project"] = {"self": f"{self._api(version)}/project/{project.id}", "id": project.id, "key": project.key, "name": project.name}
        if want("issuetype"):
            out["issuetype"] = {"id": "10001", "name": "Task", "subtask": False}
        if want("comment"):
            comments = [self._comment_json(issue, c, version) for c in issue.comments[:self.comments_in_issue]]
            out["comment"] = {
                "comments": comments, "self": f"{self._api(version)}/issue/{issue.id}/comment",
                "maxResults": len(comments), "total": len(issue.comments), "startAt": 0,
            }
        data: dict[str, Any] = {"expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations", "id": issue.id, "self": f"{self._api(version)}/issue/{issue.id}", "key": issue.key}
        if fields - {"id", "key"}:
            data["fields"] = out
        return data


# =============================================================================================
# JQL: tokens, parser

KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc", "was", "changed", "from", "to", "on", "during", "before", "after"}
OPERATORS = ("!=", "!~", ">=", "<=", "=", "~", ">", "<")
RESERVED = set("+;?|*/%^$#@[]")
ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t", "r": "\r", " ": " "}


@dataclass
class _Tok:
    kind: str
    """str (a value or field name), op, lp, rp, comma, eof."""
    value: str
    quoted: bool
    pos: int

    def word(self, *words: str) -> bool:
        return self.kind == "str" and not self.quoted and self.value.lower() in words


def _where(pos: int) -> str:
    return f"(line 1, character {pos + 1})"


def tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "\"'":
            start, i, out = i, i + 1, []
            while True:
                if i >= len(text):
                    raise JqlError(f"Error in the JQL Query: The quoted string '{text[start + 1:]}' has not been completed. {_where(start)}")
                ch = text[i]
                if ch == c:
                    i += 1
                    break
                if ch == "\\":
                    nxt = text[i + 1:i + 2]
                    if nxt in ESCAPES:
                        out.append(ESCAPES[nxt])
                        i += 2
                        continue
                    if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2:i + 6]):
                        out.append(chr(int(text[i + 2:i + 6], 16)))
                        i += 6
                        continue
                    raise JqlError(f"Error in the JQL Query: The escape sequence '\\{nxt}' in the string is illegal. {_where(i)}")
                if ch in "\n\r":
                    raise JqlError(f"Error in the JQL Query: The quoted string has not been completed. {_where(start)}")
                out.append(ch)
                i += 1
            tokens.append(_Tok("str", "".join(out), True, start))
            continue
        if c == "(":
            tokens.append(_Tok("lp", c, False, i))
            i += 1
            continue
        if c == ")":
            tokens.append(_Tok("rp", c, False, i))
            i += 1
            continue
        if c == ",":
            tokens.append(_Tok("comma", c, False, i))
            i += 1
            continue
        op = next((o for o in OPERATORS if text.startswith(o, i)), None)
        if op is not None:
            tokens.append(_Tok("op", op, False, i))
            i += len(op)
            continue
        if c == "!":
            raise JqlError(f"Error in the JQL Query: The character '!' is a reserved JQL character. {_where(i)}")
        start = i
        while i < len(text) and not text[i].isspace() and text[i] not in "\"'(),=!<>~":
            if text[i] in RESERVED:
                raise JqlError(
                    f"Error in the JQL Query: The character '{text[i]}' is a reserved JQL character. You must enclose it in a "
                    f"string or use the escape '\\u{ord(text[i]):04x}' instead. {_where(i)}"
                )
            i += 1
        tokens.append(_Tok("str", text[start:i], False, start))
    tokens.append(_Tok("eof", "", False, len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    def fail(self, expected: str, tok: _Tok) -> JqlError:
        got = "the end of the query" if tok.kind == "eof" else f"'{tok.value}'"
        hint = ""
        if tok.kind == "str" and not tok.quoted and tok.value.lower() in KEYWORDS:
            hint = f" You must surround '{tok.value}' in quotation marks to use it as a value."
        return JqlError(f"Error in the JQL Query: Expecting {expected} but got {got}.{hint} {_where(tok.pos)}")

    def query(self) -> tuple[tuple[Any, ...] | None, list[tuple[str, bool]]]:
        expr = None
        if not self.peek().word("order") and self.peek().kind != "eof":
            expr = self.or_expr()
        order: list[tuple[str, bool]] = []
        if self.peek().word("order"):
            self.take()
            if not self.take().word("by"):
                raise self.fail("'by'", self.tokens[self.i - 1])
            while True:
                tok = self.take()
                if tok.kind != "str" or (not tok.quoted and tok.value.lower() in KEYWORDS):
                    raise self.fail("a field name", tok)
                descending = False
                if self.peek().word("asc", "desc"):
                    descending = self.take().value.lower() == "desc"
                order.append((tok.value, descending))
                if self.peek().kind != "comma":
                    break
                self.take()
        if self.peek().kind != "eof":
            raise self.fail("either 'OR' or 'AND'" if expr is not None else "a field name", self.peek())
        return expr, order

    def or_expr(self) -> tuple[Any, ...]:
        parts = [self.and_expr()]
        while self.peek().word("or"):
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def and_expr(self) -> tuple[Any, ...]:
        parts = [self.not_expr()]
        while self.peek().word("and"):
            self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def not_expr(self) -> tuple[Any, ...]:
        if self.peek().word("not"):
            self.take()
            return ("not", self.not_expr())
        if self.peek().kind == "lp":
            self.take()
            inner = self.or_expr()
            tok = self.take()
            if tok.kind != "rp":
                raise self.fail("')'", tok)
            return inner
        return self.clause()

    def clause(self) -> tuple[Any, ...]:
        tok = self.take()
        if tok.kind != "str" or (not tok.quoted and tok.value.lower() in KEYWORDS):
            raise self.fail("a field name", tok)
        name = tok.value
        nxt = self.take()
        if nxt.kind == "op":
            op = nxt.value
        elif nxt.word("in"):
            op = "in"
        elif nxt.word("not") and self.peek().word("in"):
            self.take()
            op = "not in"
        elif nxt.word("is"):
            op = "is"
            if self.peek().word("not"):
                self.take()
                op = "is not"
        elif nxt.word("was", "changed"):
            raise JqlError(f"Error in the JQL Query: History searches ('{nxt.value}') are not supported here. {_where(nxt.pos)}")
        else:
            raise self.fail("an operator", nxt)
        if op in ("is", "is not"):
            value = self.take()
            if not value.word("empty", "null"):
                raise self.fail("EMPTY or NULL", value)
            return ("clause", name, op, ("empty",))
        if op in ("in", "not in"):
            tok = self.take()
            if tok.kind != "lp":
                raise self.fail("'('", tok)
            items = [self.value()]
            while self.peek().kind == "comma":
                self.take()
                items.append(self.value())
            tok = self.take()
            if tok.kind != "rp":
                raise self.fail("')' or ','", tok)
            return ("clause", name, op, ("list", items))
        return ("clause", name, op, self.value())

    def value(self) -> tuple[Any, ...]:
        tok = self.take()
        if tok.kind != "str":
            raise self.fail("either a value, list or function", tok)
        if not tok.quoted and tok.value.lower() in ("empty", "null"):
            return ("empty",)
        if not tok.quoted and tok.value.lower() in KEYWORDS:
            raise self.fail("either a value, list or function", tok)
        if not tok.quoted and self.peek().kind == "lp":
            self.take()
            args: list[str] = []
            while self.peek().kind != "rp":
                arg = self.take()
                if arg.kind != "str":
                    raise self.fail("a function argument", arg)
                args.append(arg.value)
                if self.peek().kind == "comma":
                    self.take()
            self.take()
            return ("func", tok.value, args)
        return ("str", tok.value)


def parse_jql(text: str) -> tuple[tuple[Any, ...] | None, list[tuple[str, bool]]]:
    """(expression or None, [(order field, descending)]). Raises JqlError."""
    return _Parser(text).query()


# =============================================================================================
# Helpers


def _errors(*messages: str) -> dict[str, Any]:
    return {"errorMessages": list(messages), "errors": {}}


def _field_list(value: str | None, *, default: str) -> set[str]:
    names = {part.strip() for part in (value if value is not None else default).split(",") if part.strip()}
    return names or {"id"}


def _decode_token(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return int(text[7:]) if text.startswith("offset:") and text[7:].isdigit() else None


def _jira_time(epoch: float) -> str:
    millis = int((epoch % 1) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{millis:03d}+0000"


def _date(text: str) -> float | None:
    for fmt in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            return float(calendar.timegm(time.strptime(text, fmt)))
        except ValueError:
            continue
    return None


def _adf(text: str) -> dict[str, Any]:
    """A string as Jira Cloud's v3 would show it: paragraphs, with hard breaks."""
    content = []
    for block in re.split(r"\n\s*\n", text.strip()):
        inline: list[dict[str, Any]] = []
        for n, line in enumerate(block.split("\n")):
            if n:
                inline.append({"type": "hardBreak"})
            if line:
                inline.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": inline})
    return {"version": 1, "type": "doc", "content": content if text.strip() else []}


def _plain(value: Any) -> str:
    """An ADF document's text, as Jira's v2 API renders it (roughly: blocks on lines)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    out: list[str] = []

    def walk(node: Any) -> None:
        if not isinstance(node, dict):
            return
        if node.get("type") == "text":
            out.append(str(node.get("text") or ""))
        elif node.get("type") == "hardBreak":
            out.append("\n")
        elif node.get("type") == "mention":
            out.append(str((node.get("attrs") or {}).get("text") or ""))
        for child in node.get("content") or []:
            walk(child)
        if node.get("type") in ("paragraph", "heading", "listItem", "codeBlock"):
            out.append("\n")

    walk(value)
    return "".join(out).strip()


__all__ = ["CLASSIC", "SIMPLE", "JiraEmulator", "JqlError", "Transition", "Workflow", "parse_jql", "tokenize"]
