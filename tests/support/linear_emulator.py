"""A stateful Linear on loopback: the GraphQL subset the Linear tracker uses.

The tracker plugin runs unmodified against it with `linear.api_url` pointed at `api_url`. It
keeps teams (each with its workflow states), users, projects, issues (identifier `KEY-N`,
labels, assignee, comments, attachments, "blocks" relations) and answers in Linear's
documented shapes (https://linear.app/developers, the public schema):

- One endpoint, POST /graphql, a JSON body `{"query", "variables"}`; the query text is run by
  the shared executor (tests/support/graphql.py), so the answer has exactly the fields asked
  for and a field the schema lacks is a validation error (HTTP 400, as Linear's gateway).
- Queries: `issue(id:)` (the identifier `ENG-123` or the UUID; unknown: "Entity not found:
  Issue", INPUT_ERROR, HTTP 200 with `data: null`), `issues(filter:, first:, after:,
  orderBy:)` with an `IssueFilter` subset (below), `workflowStates(filter:, first:)`,
  `viewer`. Connections default to 50 nodes (at most 250), Relay cursors (`after`),
  `pageInfo { hasNextPage endCursor }`; issues newest first by `createdAt` (or `updatedAt`).
- Mutations: `issueUpdate(id:, input: {stateId})`, `commentCreate(input: {issueId, body})`,
  `attachmentLinkURL(issueId:, url:, title:)` (one attachment per URL and issue, as Linear).
- IssueFilter: `and`/`or`; `team {key id name}`, `project {name id null}`, `projectMilestone
  {name null}`, `labels` (a collection: `name` or `some`/`every {name}`), `state {type name
  id}`, `assignee {name displayName email isMe null or and}`, `number`, `title`; comparators
  eq neq in nin eqIgnoreCase neqIgnoreCase contains containsIgnoreCase startsWith. Anything
  else is a validation error, so a plugin using a filter Linear lacks fails here too.
- Auth: `Authorization: <personal API key>` exactly (no "Bearer"); anything else is HTTP 401
  with AUTHENTICATION_ERROR.
- Rate limits: per key, a request budget and a complexity budget, answered on every reply as
  `X-RateLimit-Requests-Limit/-Remaining/-Reset`, `X-Complexity` (the query's cost, counted
  from the answer: 1 per object, 0.1 per scalar, rounded up) and
  `X-RateLimit-Complexity-Limit/-Remaining/-Reset` (resets in epoch milliseconds). A spent
  budget answers HTTP 400 with a RATELIMITED error until its reset.
- Faults on demand: a 5xx, a RATELIMITED answer, slow answers; a log of every request.

Time is the emulator's own (`now()`, `advance()`), used for timestamps, resets and the `Date`
header, so a test can let an hour pass in an instant.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.support.loopback_http import serve
from tests.support.graphql import GraphqlFailure, Obj, execute

WINDOW = 3600.0
DEFAULT_STATES: tuple[tuple[str, str], ...] = (
    ("Backlog", "backlog"),
    ("Todo", "unstarted"),
    ("In Progress", "started"),
    ("In Review", "started"),
    ("Done", "completed"),
    ("Canceled", "canceled"),
    ("Duplicate", "canceled"),
)
STATE_TYPES = ("triage", "backlog", "unstarted", "started", "completed", "canceled")
MAX_PAGE = 250


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


def _uuid() -> str:
    return str(uuid.uuid4())


# =============================================================================================
# The state


@dataclass
class User:
    id: str
    name: str
    display_name: str
    email: str


@dataclass
class State:
    id: str
    name: str
    type: str
    position: float


@dataclass
class Team:
    id: str
    key: str
    name: str
    states: list[State]
    next_number: int = 1


@dataclass
class Comment:
    id: str
    body: str
    created_at: str
    user: User | None


@dataclass
class Attachment:
    id: str
    url: str
    title: str
    created_at: str


@dataclass
class IssueRec:
    id: str
    team: Team
    number: int
    title: str
    description: str | None
    state: State
    created: float
    updated: float
    labels: list[str] = field(default_factory=list)
    assignee: User | None = None
    creator: User | None = None
    project: str | None = None
    milestone: str | None = None
    comments: list[Comment] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    blocked_by: list[str] = field(default_factory=list)
    """Identifiers of the issues that block this one (Linear: a "blocks" relation)."""

    @property
    def identifier(self) -> str:
        return f"{self.team.key}-{self.number}"


@dataclass
class Logged:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float
    status: int = 0

    @property
    def query(self) -> str:
        return str(self.body.get("query", "")) if isinstance(self.body, dict) else ""

    @property
    def variables(self) -> dict[str, Any]:
        found = self.body.get("variables") if isinstance(self.body, dict) else None
        return found if isinstance(found, dict) else {}

    @property
    def mutation(self) -> bool:
        return self.query.lstrip().startswith("mutation")


@dataclass
class _Fault:
    status: int | None
    delay: float
    ratelimited: str | None = None
    """`requests` or `complexity`: answer RATELIMITED for that budget."""
    error: dict[str, Any] | None = None
    """A GraphQL error to answer with (HTTP `status`, default 400)."""


@dataclass
class Budget:
    limit: int
    remaining: float
    reset: float


class LinearEmulator:
    def __init__(
        self, *, token: str = "lin_api_emulator0123456789", request_limit: int = 5000, complexity_limit: int = 3_000_000,
        viewer: str = "aod-bot",
    ) -> None:
        self.token = token
        self._lock = threading.RLock()
        self._offset = 0.0
        self._clock_ticks = itertools.count()
        self._teams: dict[str, Team] = {}
        self._users: dict[str, User] = {}
        self._issues: list[IssueRec] = []
        self._log: list[Logged] = []
        self._faults: list[_Fault] = []
        self._closing = threading.Event()
        start = self.now()
        self.budgets = {
            "requests": Budget(request_limit, request_limit, start + WINDOW),
            "complexity": Budget(complexity_limit, complexity_limit, start + WINDOW),
        }
        self.viewer = self.create_user(viewer)
        self._server, self._thread = serve(self, "linear-emulator")

    # -- addresses ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        """Like https://api.linear.app/graphql."""
        return self.base_url + "/graphql"

    def issue_url(self, identifier: str) -> str:
        return f"{self.base_url}/acme/issue/{identifier}"

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- time, budgets, faults --------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def _stamp(self) -> float:
        # Strictly increasing, so "newest first" is well defined for issues made in one go.
        return self.now() + next(self._clock_ticks) * 0.001

    def budget(self, name: str) -> Budget:
        with self._lock:
            budget = self.budgets[name]
            if self.now() >= budget.reset:
                budget.remaining, budget.reset = budget.limit, self.now() + WINDOW
            return budget

    def exhaust(self, name: str = "requests", *, reset_in: float = 60.0) -> None:
        """The `requests` or `complexity` budget is spent until `reset_in` seconds from now."""
        with self._lock:
            budget = self.budget(name)
            budget.remaining, budget.reset = 0, self.now() + reset_in

    def fail(self, status: int | None = 502, *, times: int = 1, delay: float = 0.0) -> None:
        """The next `times` requests wait `delay` seconds, then get `status` (None: answered
        normally after the delay)."""
        with self._lock:
            self._faults.extend(_Fault(status, delay) for _ in range(times))

    def slow(self, seconds: float, *, times: int = 1) -> None:
        self.fail(None, times=times, delay=seconds)

    def ratelimit_once(self, budget: str = "requests", *, times: int = 1) -> None:
        """The next `times` requests are answered RATELIMITED (the budget itself is untouched)."""
        with self._lock:
            self._faults.extend(_Fault(None, 0.0, ratelimited=budget) for _ in range(times))

    def error_once(self, message: str, *, code: str = "INVALID_INPUT", status: int = 400, times: int = 1) -> None:
        """The next `times` requests are answered with this GraphQL error (as Linear answers a
        query it refuses: `errors` with `extensions.code`, no data)."""
        error = {"message": message, "extensions": {"type": "invalid input", "code": code, "userError": True}}
        with self._lock:
            self._faults.extend(_Fault(status, 0.0, error=error) for _ in range(times))

    # -- the request log --------------------------------------------------------------------------

    def requests(self, since: int = 0, *, status: int | None = None) -> list[Logged]:
        with self._lock:
            return [r for r in self._log[since:] if status is None or r.status == status]

    def mark(self) -> int:
        with self._lock:
            return len(self._log)

    # -- building state ---------------------------------------------------------------------------

    def create_user(self, name: str, *, display_name: str | None = None, email: str | None = None) -> User:
        with self._lock:
            handle = display_name or name.split()[0].lower()
            user = User(_uuid(), name, handle, email or f"{handle}@example.com")
            self._users[name] = user
            return user

    def user(self, who: str | User | None) -> User | None:
        if who is None or isinstance(who, User):
            return who
        with self._lock:
            return self._users.get(who) or self.create_user(who)

    def create_team(self, key: str, states: Iterable[str | tuple[str, str]] | None = None, *, name: str | None = None) -> Team:
        """A team with workflow states: (name, type) pairs, or names whose type is guessed
        (Done → completed, Canceled → canceled, In … → started, Backlog → backlog, else unstarted)."""
        made: list[State] = []
        for position, state in enumerate(states if states is not None else DEFAULT_STATES):
            state_name, kind = state if isinstance(state, tuple) else (state, _guess_type(state))
            assert kind in STATE_TYPES, kind
            made.append(State(_uuid(), state_name, kind, float(position)))
        with self._lock:
            team = Team(_uuid(), key, name or f"Team {key}", made)
            self._teams[key] = team
            return team

    def team(self, key: str) -> Team:
        return self._teams[key]

    def create_issue(
        self, team: str, title: str, *, description: str | None = None, labels: Iterable[str] = (), state: str | None = None,
        assignee: str | User | None = None, creator: str | User | None = "Mona Lisa", project: str | None = None,
        milestone: str | None = None, blocked_by: Iterable[str] = (),
    ) -> str:
        """A new issue; returns its identifier (`ENG-1`). `state`: a state name (default: the
        team's first `unstarted` state)."""
        with self._lock:
            found = self._teams[team]
            wanted = state or next(s.name for s in found.states if s.type == "unstarted")
            the_state = next(s for s in found.states if s.name == wanted)
            stamp = self._stamp()
            issue = IssueRec(
                _uuid(), found, found.next_number, title, description, the_state, stamp, stamp,
                labels=list(labels), assignee=self.user(assignee), creator=self.user(creator), project=project,
                milestone=milestone, blocked_by=list(blocked_by),
            )
            found.next_number += 1
            self._issues.append(issue)
            return issue.identifier

    def comment(self, identifier: str, body: str, *, user: str | User | None = "Mona Lisa") -> str:
        with self._lock:
            issue = self.issue(identifier)
            stamp = self._stamp()
            made = Comment(_uuid(), body, _iso(stamp), self.user(user))
            issue.comments.append(made)
            issue.updated = stamp
            return made.id

    def attach(self, identifier: str, url: str, title: str = "") -> None:
        """An attachment, as Linear's own GitHub integration adds for a linked PR."""
        with self._lock:
            issue = self.issue(identifier)
            issue.attachments.append(Attachment(_uuid(), url, title or url, _iso(self.now())))

    def issue(self, identifier: str) -> IssueRec:
        """The issue as Linear has it now (to read back what the plugin wrote)."""
        with self._lock:
            found = self._find_issue(identifier)
            if found is None:
                raise KeyError(identifier)
            return found

    def _find_issue(self, key: str) -> IssueRec | None:
        key = str(key)
        for issue in self._issues:
            if issue.id == key or issue.identifier.lower() == key.lower():
                return issue
        return None

    # -- the schema: objects --------------------------------------------------------------------------

    def _user_obj(self, user: User | None) -> Obj | None:
        if user is None:
            return None
        return Obj("User", {
            "id": user.id, "name": user.name, "displayName": user.display_name, "email": user.email,
            "active": True, "isMe": user is self.viewer,
        })

    def _state_obj(self, state: State) -> Obj:
        return Obj("WorkflowState", {
            "id": state.id, "name": state.name, "type": state.type, "position": state.position, "color": "#bec2c8",
            "team": lambda _args: self._team_obj(self._team_of(state)),
        })

    def _team_of(self, state: State) -> Team:
        return next(t for t in self._teams.values() if state in t.states)

    def _team_obj(self, team: Team) -> Obj:
        return Obj("Team", {
            "id": team.id, "key": team.key, "name": team.name,
            "states": lambda args: _connection("WorkflowState", [self._state_obj(s) for s in team.states], args, lambda o: o.fields["id"]),
        })

    def _issue_obj(self, issue: IssueRec) -> Obj:
        def labels(args: dict[str, Any]) -> Obj:
            nodes = [Obj("IssueLabel", {"id": f"label-{name}", "name": name, "color": "#5e6ad2"}) for name in issue.labels]
            return _connection("IssueLabel", nodes, args, lambda o: o.fields["id"])

        def comments(args: dict[str, Any]) -> Obj:
            nodes = [
                Obj("Comment", {"id": c.id, "body": c.body, "createdAt": c.created_at, "updatedAt": c.created_at,
                                "url": f"{self.issue_url(issue.identifier)}#comment-{c.id[:8]}",
                                "user": self._user_obj(c.user)})
                for c in issue.comments
            ]
            return _connection("Comment", nodes, args, lambda o: o.fields["id"])

        def attachments(args: dict[str, Any]) -> Obj:
            nodes = [Obj("Attachment", {"id": a.id, "url": a.url, "title": a.title, "createdAt": a.created_at}) for a in issue.attachments]
            return _connection("Attachment", nodes, args, lambda o: o.fields["id"])

        def relation(rel_id: str, blocker: IssueRec) -> Obj:
            return Obj("IssueRelation", {
                "id": rel_id, "type": "blocks",
                "issue": lambda _args: self._issue_obj(blocker), "relatedIssue": lambda _args: self._issue_obj(issue),
            })

        def inverse_relations(args: dict[str, Any]) -> Obj:
            blockers = [b for b in (self._find_issue(i) for i in issue.blocked_by) if b is not None]
            nodes = [relation(f"rel-{b.id[:8]}-{issue.id[:8]}", b) for b in blockers]
            return _connection("IssueRelation", nodes, args, lambda o: o.fields["id"])

        def relations(args: dict[str, Any]) -> Obj:
            blocked = [other for other in self._issues if issue.identifier in other.blocked_by]
            nodes = [Obj("IssueRelation", {"id": f"rel-{issue.id[:8]}-{o.id[:8]}", "type": "blocks",
                                           "issue": lambda _a: self._issue_obj(issue),
                                           "relatedIssue": (lambda other: lambda _a: self._issue_obj(other))(o)}) for o in blocked]
            return _connection("IssueRelation", nodes, args, lambda o: o.fields["id"])

        return Obj("Issue", {
            "id": issue.id, "identifier": issue.identifier, "number": float(issue.number), "title": issue.title,
            "description": issue.description, "priority": 0.0, "url": self.issue_url(issue.identifier),
            "branchName": f"{issue.team.key.lower()}-{issue.number}", "createdAt": _iso(issue.created),
            "updatedAt": _iso(issue.updated), "archivedAt": None,
            "completedAt": _iso(issue.updated) if issue.state.type == "completed" else None,
            "canceledAt": _iso(issue.updated) if issue.state.type == "canceled" else None,
            "state": self._state_obj(issue.state), "team": self._team_obj(issue.team),
            "assignee": self._user_obj(issue.assignee), "creator": self._user_obj(issue.creator),
            "project": Obj("Project", {"id": f"project-{issue.project}", "name": issue.project}) if issue.project else None,
            "projectMilestone": Obj("ProjectMilestone", {"id": f"milestone-{issue.milestone}", "name": issue.milestone}) if issue.milestone else None,
            "labels": labels, "comments": comments, "attachments": attachments,
            "relations": relations, "inverseRelations": inverse_relations,
        })

    # -- the schema: roots ------------------------------------------------------------------------------

    def _root(self) -> Obj:
        return Obj("Query", {
            "issue": self._q_issue, "issues": self._q_issues, "workflowStates": self._q_states,
            "viewer": self._user_obj(self.viewer),
            "teams": lambda args: _connection("Team", [self._team_obj(t) for t in self._teams.values()], args, lambda o: o.fields["id"]),
        })

    def _mutation_root(self) -> Obj:
        return Obj("Mutation", {
            "issueUpdate": self._m_issue_update, "commentCreate": self._m_comment_create,
            "attachmentLinkURL": self._m_attachment_link,
        })

    def _q_issue(self, args: dict[str, Any]) -> Obj:
        issue = self._find_issue(str(args.get("id", "")))
        if issue is None:
            raise GraphqlFailure("Entity not found: Issue", path=["issue"], extensions={
                "type": "invalid input", "code": "INPUT_ERROR", "statusCode": 400, "userError": True,
                "userPresentableMessage": "Could not find referenced Issue.",
            })
        return self._issue_obj(issue)

    def _q_issues(self, args: dict[str, Any]) -> Obj:
        _known_args("issues", args, {"filter", "first", "after", "orderBy", "includeArchived", "last", "before"})
        order = str(args.get("orderBy") or "createdAt")
        if order not in ("createdAt", "updatedAt"):
            raise GraphqlFailure(f'Value "{order}" does not exist in "PaginationOrderBy" enum.', extensions={"code": "GRAPHQL_VALIDATION_FAILED"})
        matcher = args.get("filter") or {}
        found = [i for i in self._issues if _issue_matches(self, i, matcher, "IssueFilter")]
        found.sort(key=lambda i: i.created if order == "createdAt" else i.updated, reverse=True)
        return _connection("Issue", [self._issue_obj(i) for i in found], args, lambda o: o.fields["id"])

    def _q_states(self, args: dict[str, Any]) -> Obj:
        _known_args("workflowStates", args, {"filter", "first", "after", "orderBy", "includeArchived"})
        matcher = args.get("filter") or {}
        states = [
            s for team in self._teams.values() for s in team.states
            if _state_matches(s, matcher, team)
        ]
        return _connection("WorkflowState", [self._state_obj(s) for s in states], args, lambda o: o.fields["id"])

    def _m_issue_update(self, args: dict[str, Any]) -> Obj:
        issue = self._find_issue(str(args.get("id", "")))
        if issue is None:
            raise GraphqlFailure("Entity not found: Issue", path=["issueUpdate"], extensions={"type": "invalid input", "code": "INPUT_ERROR", "userError": True})
        data = args.get("input") or {}
        unknown = set(data) - {"stateId", "title", "description"}
        if unknown:
            raise GraphqlFailure(f'Field "{sorted(unknown)[0]}" is not defined by type "IssueUpdateInput".', extensions={"code": "GRAPHQL_VALIDATION_FAILED"})
        if "stateId" in data:
            state = next((s for s in issue.team.states if s.id == data["stateId"]), None)
            if state is None:
                raise GraphqlFailure("Entity not found: WorkflowState", path=["issueUpdate"], extensions={
                    "type": "invalid input", "code": "INPUT_ERROR", "userError": True,
                    "userPresentableMessage": "Could not find referenced WorkflowState."})
            issue.state = state
        if "title" in data:
            issue.title = str(data["title"])
        if "description" in data:
            issue.description = data["description"]
        issue.updated = self._stamp()
        return Obj("IssuePayload", {"success": True, "lastSyncId": float(len(self._log)), "issue": self._issue_obj(issue)})

    def _m_comment_create(self, args: dict[str, Any]) -> Obj:
        data = args.get("input") or {}
        issue = self._find_issue(str(data.get("issueId", "")))
        if issue is None:
            raise GraphqlFailure("Entity not found: Issue", path=["commentCreate"], extensions={"type": "invalid input", "code": "INPUT_ERROR", "userError": True})
        body = data.get("body")
        if not isinstance(body, str) or not body.strip():
            raise GraphqlFailure("Argument Validation Error", path=["commentCreate"], extensions={"code": "INVALID_INPUT", "userError": True,
                                 "userPresentableMessage": "body must not be empty"})
        stamp = self._stamp()
        made = Comment(_uuid(), body, _iso(stamp), self.viewer)
        issue.comments.append(made)
        issue.updated = stamp
        return Obj("CommentPayload", {"success": True, "lastSyncId": float(len(self._log)), "comment": Obj("Comment", {
            "id": made.id, "body": made.body, "createdAt": made.created_at, "url": f"{self.issue_url(issue.identifier)}#comment-{made.id[:8]}",
            "user": self._user_obj(made.user),
        })})

    def _m_attachment_link(self, args: dict[str, Any]) -> Obj:
        issue = self._find_issue(str(args.get("issueId", "")))
        if issue is None:
            raise GraphqlFailure("Entity not found: Issue", path=["attachmentLinkURL"], extensions={"type": "invalid input", "code": "INPUT_ERROR", "userError": True})
        url = str(args.get("url", ""))
        found = next((a for a in issue.attachments if a.url == url), None)
        if found is None:  # one attachment per URL and issue: linking again updates it
            found = Attachment(_uuid(), url, str(args.get("title") or url), _iso(self.now()))
            issue.attachments.append(found)
        elif args.get("title"):
            found.title = str(args["title"])
        return Obj("AttachmentPayload", {"success": True, "lastSyncId": float(len(self._log)), "attachment": Obj("Attachment", {
            "id": found.id, "url": found.url, "title": found.title, "createdAt": found.created_at})})

    # -- serving ----------------------------------------------------------------------------------------

    def _rate_headers(self, cost: int) -> dict[str, str]:
        requests, complexity = self.budget("requests"), self.budget("complexity")
        return {
            "X-RateLimit-Requests-Limit": str(requests.limit),
            "X-RateLimit-Requests-Remaining": str(max(0, int(requests.remaining))),
            "X-RateLimit-Requests-Reset": str(int(requests.reset * 1000)),
            "X-Complexity": str(cost),
            "X-RateLimit-Complexity-Limit": str(complexity.limit),
            "X-RateLimit-Complexity-Remaining": str(max(0, int(complexity.remaining))),
            "X-RateLimit-Complexity-Reset": str(int(complexity.reset * 1000)),
        }

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes, dict[str, str]]:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        entry = Logged(method, path, headers, body, self.now())
        with self._lock:
            self._log.append(entry)
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None and fault.delay:
            self._closing.wait(fault.delay)
        status, payload, extra = self._answer(entry, fault)
        entry.status = status
        if isinstance(payload, (dict, list)):
            data = json.dumps(payload).encode()
            extra.setdefault("Content-Type", "application/json; charset=utf-8")
        else:
            data = str(payload).encode()
            extra.setdefault("Content-Type", "text/html; charset=utf-8")
        return status, data, extra

    def _answer(self, entry: Logged, fault: _Fault | None) -> tuple[int, Any, dict[str, str]]:
        if fault is not None and fault.error is not None:
            return fault.status or 400, {"errors": [fault.error], "data": None}, self._rate_headers(0)
        if fault is not None and fault.status is not None:
            return fault.status, f"<html><body><h1>{fault.status} Server Error</h1></body></html>", {}
        if entry.path.split("?")[0] != "/graphql":
            return 404, f"Cannot {entry.method} {entry.path}", {"Content-Type": "text/html; charset=utf-8"}
        if entry.headers.get("authorization") != self.token:
            return 401, {"errors": [{
                "message": "Authentication required, not authenticated",
                "extensions": {"type": "authentication error", "code": "AUTHENTICATION_ERROR", "statusCode": 401, "userError": True,
                               "userPresentableMessage": "You need to authenticate to access this operation."},
            }]}, {}
        if entry.method != "POST" or not isinstance(entry.body, dict) or not isinstance(entry.body.get("query"), str):
            return 400, {"errors": [{"message": "Must provide query string.", "extensions": {"code": "BAD_REQUEST"}}]}, {}
        with self._lock:
            limited = fault.ratelimited if fault is not None else None
            for name in ("requests", "complexity"):
                if self.budget(name).remaining <= 0:
                    limited = name
            if limited is not None:
                return 400, {"errors": [{
                    "message": "Rate limit exceeded",
                    "extensions": {"code": "RATELIMITED", "type": "ratelimited", "statusCode": 429, "userError": True,
                                   "userPresentableMessage": f"You have exceeded the {limited} rate limit. Please try again later."},
                }]}, self._rate_headers(0)
            variables = entry.body.get("variables") or {}
            try:
                answer = execute(entry.body["query"], variables if isinstance(variables, dict) else {}, self._root(),
                                 mutation_root=self._mutation_root())
            except GraphqlFailure as exc:
                code = (exc.error.get("extensions") or {}).get("code")
                self.budget("requests").remaining -= 1
                if code in (None, "GRAPHQL_VALIDATION_FAILED", "undefinedField"):
                    return 400, {"errors": [exc.error]}, self._rate_headers(0)
                return 200, {"errors": [exc.error], "data": None}, self._rate_headers(1)
            cost = _complexity(answer.get("data"))
            self.budget("requests").remaining -= 1
            self.budget("complexity").remaining -= cost
            return 200, answer, self._rate_headers(cost)


# =============================================================================================
# Filters and connections


def _guess_type(name: str) -> str:
    lowered = name.lower()
    if lowered in ("done", "completed", "shipped", "closed"):
        return "completed"
    if lowered in ("canceled", "cancelled", "duplicate", "won't do"):
        return "canceled"
    if lowered == "backlog":
        return "backlog"
    if lowered == "triage":
        return "triage"
    if lowered.startswith("in ") or lowered in ("started", "doing", "review"):
        return "started"
    return "unstarted"


def _known_args(where: str, args: dict[str, Any], allowed: set[str]) -> None:
    for name in args:
        if name not in allowed:
            raise GraphqlFailure(f'Unknown argument "{name}" on field "Query.{where}".', extensions={"code": "GRAPHQL_VALIDATION_FAILED"})


def _invalid(field_name: str, typename: str) -> GraphqlFailure:
    return GraphqlFailure(f'Field "{field_name}" is not defined by type "{typename}".', extensions={"code": "GRAPHQL_VALIDATION_FAILED"})


def _compare(value: Any, comparator: Any, typename: str = "StringComparator") -> bool:
    if not isinstance(comparator, dict):
        raise GraphqlFailure(f'Expected value of type "{typename}", found {json.dumps(comparator)}.', extensions={"code": "GRAPHQL_VALIDATION_FAILED"})
    text = None if value is None else str(value)
    for op, want in comparator.items():
        if op == "eq":
            ok = text == (None if want is None else str(want)) if not isinstance(value, float) else value == want
        elif op == "neq":
            ok = text != str(want)
        elif op == "in":
            ok = text in [str(w) for w in want] if not isinstance(value, float) else value in want
        elif op == "nin":
            ok = text not in [str(w) for w in want] if not isinstance(value, float) else value not in want
        elif op == "eqIgnoreCase":
            ok = text is not None and text.lower() == str(want).lower()
        elif op == "neqIgnoreCase":
            ok = text is None or text.lower() != str(want).lower()
        elif op == "contains":
            ok = text is not None and str(want) in text
        elif op == "containsIgnoreCase":
            ok = text is not None and str(want).lower() in text.lower()
        elif op == "startsWith":
            ok = text is not None and text.startswith(str(want))
        elif op in ("gt", "gte", "lt", "lte") and isinstance(value, float):
            ok = {"gt": value > want, "gte": value >= want, "lt": value < want, "lte": value <= want}[op]
        elif op == "null":
            ok = (value is None) == bool(want)
        else:
            raise _invalid(op, typename)
        if not ok:
            return False
    return True


def _combine(items: Any, one: Callable[[Any], bool], how: str) -> bool:
    if not isinstance(items, list):
        raise GraphqlFailure(f'"{how}" expects a list of filters.', extensions={"code": "GRAPHQL_VALIDATION_FAILED"})
    results = [one(item) for item in items]
    return all(results) if how == "and" else any(results)


def _issue_matches(emulator: LinearEmulator, issue: IssueRec, matcher: dict[str, Any], typename: str) -> bool:
    for key, value in matcher.items():
        if key == "and" or key == "or":
            ok = _combine(value, lambda m: _issue_matches(emulator, issue, m, typename), key)
        elif key == "team":
            ok = _object_matches({"key": issue.team.key, "id": issue.team.id, "name": issue.team.name}, value, "TeamFilter")
        elif key == "project":
            ok = _nullable_matches(issue.project and {"name": issue.project, "id": f"project-{issue.project}"}, value, "NullableProjectFilter")
        elif key == "projectMilestone":
            ok = _nullable_matches(issue.milestone and {"name": issue.milestone, "id": f"milestone-{issue.milestone}"}, value, "NullableProjectMilestoneFilter")
        elif key == "labels":
            ok = _labels_match(issue.labels, value)
        elif key == "state":
            ok = _object_matches({"type": issue.state.type, "name": issue.state.name, "id": issue.state.id}, value, "WorkflowStateFilter")
        elif key == "assignee":
            ok = _user_matches(emulator, issue.assignee, value)
        elif key == "creator":
            ok = _user_matches(emulator, issue.creator, value)
        elif key == "number":
            ok = _compare(float(issue.number), value, "NumberComparator")
        elif key == "title":
            ok = _compare(issue.title, value)
        elif key == "id":
            ok = _compare(issue.id, value, "IDComparator")
        else:
            raise _invalid(key, typename)
        if not ok:
            return False
    return True


def _object_matches(fields: dict[str, Any], matcher: Any, typename: str) -> bool:
    if not isinstance(matcher, dict):
        raise GraphqlFailure(f'Expected value of type "{typename}".', extensions={"code": "GRAPHQL_VALIDATION_FAILED"})
    for key, value in matcher.items():
        if key in ("and", "or"):
            ok = _combine(value, lambda m: _object_matches(fields, m, typename), key)
        elif key in fields:
            ok = _compare(fields[key], value)
        else:
            raise _invalid(key, typename)
        if not ok:
            return False
    return True


def _nullable_matches(fields: dict[str, Any] | None, matcher: Any, typename: str) -> bool:
    if isinstance(matcher, dict) and "null" in matcher:
        rest = {k: v for k, v in matcher.items() if k != "null"}
        if (fields is None) != bool(matcher["null"]):
            return False
        return not rest or (fields is not None and _object_matches(fields, rest, typename))
    return fields is not None and _object_matches(fields, matcher, typename)


def _labels_match(labels: list[str], matcher: Any) -> bool:
    if not isinstance(matcher, dict):
        raise GraphqlFailure('Expected value of type "IssueLabelCollectionFilter".', extensions={"code": "GRAPHQL_VALIDATION_FAILED"})
    for key, value in matcher.items():
        if key in ("and", "or"):
            ok = _combine(value, lambda m: _labels_match(labels, m), key)
        elif key == "name":  # a collection filter on a field: some label matches
            ok = any(_compare(name, value) for name in labels)
        elif key == "some":
            ok = any(_object_matches({"name": name}, value, "IssueLabelFilter") for name in labels)
        elif key == "every":
            ok = all(_object_matches({"name": name}, value, "IssueLabelFilter") for name in labels)
        elif key == "length":
            ok = _compare(float(len(labels)), value, "NumberComparator")
        else:
            raise _invalid(key, "IssueLabelCollectionFilter")
        if not ok:
            return False
    return True


def _user_matches(emulator: LinearEmulator, user: User | None, matcher: Any) -> bool:
    if not isinstance(matcher, dict):
        raise GraphqlFailure('Expected value of type "NullableUserFilter".', extensions={"code": "GRAPHQL_VALIDATION_FAILED"})
    for key, value in matcher.items():
        if key in ("and", "or"):
            ok = _combine(value, lambda m: _user_matches(emulator, user, m), key)
        elif key == "null":
            ok = (user is None) == bool(value)
        elif key == "isMe":
            ok = _compare(user is emulator.viewer, value, "BooleanComparator") if user is not None else False
        elif key in ("name", "displayName", "email", "id"):
            attr = {"name": "name", "displayName": "display_name", "email": "email", "id": "id"}[key]
            ok = user is not None and _compare(getattr(user, attr), value)
        else:
            raise _invalid(key, "NullableUserFilter")
        if not ok:
            return False
    return True


def _state_matches(state: State, matcher: dict[str, Any], team: Team) -> bool:
    for key, value in matcher.items():
        if key in ("and", "or"):
            ok = _combine(value, lambda m: _state_matches(state, m, team), key)
        elif key == "team":
            ok = _object_matches({"key": team.key, "id": team.id, "name": team.name}, value, "TeamFilter")
        elif key in ("name", "type", "id"):
            ok = _compare(getattr(state, key), value)
        else:
            raise _invalid(key, "WorkflowStateFilter")
        if not ok:
            return False
    return True


def _connection(typename: str, items: list[Obj], args: dict[str, Any], cursor: Callable[[Obj], str]) -> Obj:
    """A Relay connection as Linear's: `first` (default 50, at most 250), `after` a cursor."""
    first = args.get("first")
    if first is None:
        first = 50
    if not isinstance(first, int) or not 0 <= first <= MAX_PAGE:
        raise GraphqlFailure(f"first must be between 0 and {MAX_PAGE}", extensions={
            "type": "invalid input", "code": "INVALID_INPUT", "userError": True})
    after = args.get("after")
    start = 0
    if after:
        ids = [cursor(o) for o in items]
        if after not in ids:
            raise GraphqlFailure("Invalid cursor", extensions={"type": "invalid input", "code": "INVALID_INPUT", "userError": True})
        start = ids.index(after) + 1
    page = items[start:start + first]
    more = start + first < len(items)
    end = cursor(page[-1]) if page else None
    edges = [Obj(f"{typename}Edge", {"node": o, "cursor": cursor(o)}) for o in page]
    info = Obj("PageInfo", {"hasNextPage": more, "hasPreviousPage": start > 0, "endCursor": end,
                            "startCursor": cursor(page[0]) if page else None})
    return Obj(f"{typename}Connection", {"nodes": page, "edges": edges, "pageInfo": info})


def _complexity(data: Any) -> int:
    """Linear's rough cost of a query: 1 per object, 0.1 per scalar, rounded up."""
    total = 0.0

    def walk(value: Any) -> None:
        nonlocal total
        if isinstance(value, dict):
            total += 1
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        else:
            total += 0.1

    walk(data)
    return max(1, math.ceil(total))
