"""The contract between aod and its clients (aoctl, editors, scripts).

Everything that crosses the socket is declared here as a msgspec Struct: the JSON-RPC 2.0
envelopes, every method's params and result, the events pushed to subscribers, the error codes,
and where the socket lives. This module imports only the standard library and msgspec, so a client
can depend on it without pulling in the daemon (trio, pydantic, yaml, structlog).

Wire format (see docs/protocol.md): one UTF-8 JSON text per line, or LSP-style
`Content-Length:` framing when a connection starts with that header.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Final, Literal

import msgspec

# The envelope and the socket rules live in aod/wire.py (a client's start-up imports only them);
# they are part of this contract and re-exported here.
from aod.wire import (  # noqa: F401 - re-exported
    DEFAULT_MAX_MESSAGE_BYTES,
    JSONRPC,
    SOCKET_ENV,
    SOCKET_NAME,
    ErrorObject,
    ErrorResponse,
    Notification,
    Request,
    RequestId,
    Response,
    default_socket_path,
    peer_uid,
    socket_dir_problem,
)

PROTOCOL_VERSION: Final = 1


Count = Annotated[int, msgspec.Meta(ge=0)]
"""How many lines or entries a caller asks for: a negative count is refused (-32602)."""

# ---------------------------------------------------------------------------------------------
# Error codes. Standard JSON-RPC codes, then aod's own in -32000..-32099.
# ---------------------------------------------------------------------------------------------


class ErrorCode:
    PARSE_ERROR: Final = -32700
    INVALID_REQUEST: Final = -32600
    METHOD_NOT_FOUND: Final = -32601
    INVALID_PARAMS: Final = -32602
    INTERNAL_ERROR: Final = -32603
    # aod's application errors.
    PERMISSION_DENIED: Final = -32001
    MESSAGE_TOO_LARGE: Final = -32002
    LIMIT_EXCEEDED: Final = -32003
    CONFIG_INVALID: Final = -32010
    NOT_FOUND: Final = -32020
    CONFLICT: Final = -32021
    UNAVAILABLE: Final = -32030
    STORAGE: Final = -32040


ERROR_DOCS: Final[dict[int, tuple[str, str]]] = {
    ErrorCode.PARSE_ERROR: ("parse_error", "The message is not valid JSON or not UTF-8."),
    ErrorCode.INVALID_REQUEST: (
        "invalid_request",
        "The JSON is not a JSON-RPC 2.0 request (or is an empty batch).",
    ),
    ErrorCode.METHOD_NOT_FOUND: ("method_not_found", "No method of that name; see rpc.discover."),
    ErrorCode.INVALID_PARAMS: (
        "invalid_params",
        "The params do not match the method; `data.path` names the offending field.",
    ),
    ErrorCode.INTERNAL_ERROR: ("internal_error", "A bug in aod; the daemon log has the details."),
    ErrorCode.PERMISSION_DENIED: (
        "permission_denied",
        "The connecting process runs as another user; the socket serves its owner only.",
    ),
    ErrorCode.MESSAGE_TOO_LARGE: (
        "message_too_large",
        "The message exceeds the size limit (`data.limit` bytes); the connection is closed.",
    ),
    ErrorCode.LIMIT_EXCEEDED: (
        "limit_exceeded",
        "A per-connection limit is reached (`data.limit`: how many, `data.setting`: the config "
        "key); end something on this connection first.",
    ),
    ErrorCode.CONFIG_INVALID: (
        "config_invalid",
        "The config file has errors (`data.errors`, one `file:line: key: message` each); "
        "the previous config stays in force.",
    ),
    ErrorCode.NOT_FOUND: ("not_found", "The named project, session or object does not exist."),
    ErrorCode.CONFLICT: (
        "conflict",
        "The object changed underneath the request (or already exists); retry after reading it.",
    ),
    ErrorCode.UNAVAILABLE: (
        "unavailable",
        "A tool or service aod needs is missing or unreachable; `message` says which.",
    ),
    ErrorCode.STORAGE: (
        "storage",
        "The disk refused a write: full (ENOSPC), over quota (EDQUOT) or read-only (EROFS); "
        "`data.errno` says which, `data.path` names the file. What aod could not record it did "
        "not do: free space (or make the disk writable) and retry.",
    ),
}



# ---------------------------------------------------------------------------------------------
# Params and results, one pair per method.
# ---------------------------------------------------------------------------------------------


class Params(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every params type: unknown fields are an error, not silently ignored."""


class NoParams(Params):
    pass


class PingResult(msgspec.Struct, kw_only=True):
    version: str
    pid: int
    protocol: int = PROTOCOL_VERSION


class TickInfo(msgspec.Struct, kw_only=True):
    count: int
    """Ticks completed since aod started."""
    started_at: str
    """ISO 8601 UTC time at which the last completed tick started."""
    duration_ms: float
    skipped: int
    """Ticks skipped because an earlier one overran its interval."""
    sessions: int = 0
    """Live sessions the last tick observed."""
    subprocesses: int = 0
    """Subprocesses the last tick started (one runtime probe per runtime, captures of changed panes)."""
    captures: int = 0
    forge_requests: int = 0
    """Requests the last tick made to forges (one batched query per repository)."""
    longest_gap_ms: float = 0.0
    """The longest time between two tick starts since aod started."""


class StatusResult(msgspec.Struct, kw_only=True):
    version: str
    pid: int
    started_at: str
    uptime_s: float
    sessions: int
    poll_interval_s: float
    last_tick: TickInfo | None
    config_path: str
    config_loaded: bool
    """False when no config file exists and the built-in defaults are in force."""
    state_dir: str
    socket_path: str
    socket_activated: bool
    subscribers: int
    protocol: int = PROTOCOL_VERSION
    forges: dict[str, Any] = {}
    """Per forge in use: its own status, e.g. GitHub's remaining rate-limit budget."""
    web: WebStatus | None = None
    """The dashboard's listener: where it listens, or why it does not."""
    load_1m: float | None = None
    """issue 21: the machine's 1-minute load average (placement `least-loaded` reads it)."""


class WebStatus(msgspec.Struct, kw_only=True):
    enabled: bool
    """`web.enabled`."""
    listen: str
    """The address asked for (`web.listen`, or `aod --web-listen`), e.g. `127.0.0.1:7433`."""
    state: Literal["listening", "disabled", "failed", "starting", "stopped"]
    address: str | None = None
    """Where it listens (the real port when `listen` asked for port 0), e.g. `127.0.0.1:7433`."""
    port: int | None = None
    url: str | None = None
    """The dashboard's address without a token, e.g. `http://127.0.0.1:7433/`."""
    reason: str | None = None
    """Why it does not listen (`failed`: the bind error and what to do; `disabled`: how to enable)."""
    connections: int = 0
    """Requests and WebSockets open right now."""


class ShutdownResult(msgspec.Struct, kw_only=True):
    stopping: bool = True


class ReloadResult(msgspec.Struct, kw_only=True):
    config_path: str
    config_loaded: bool
    changed: list[str]
    """Top-level config keys whose value changed."""


class SubscribeParams(Params):
    kinds: list[str] | None = None
    """Only events whose kind equals, or starts with `<prefix>.` for, one of these; all if null."""


class SubscribeResult(msgspec.Struct, kw_only=True):
    subscription: int
    seq: int
    """The seq of the newest event published before the subscription started."""


class UnsubscribeParams(Params):
    subscription: int


class UnsubscribeResult(msgspec.Struct, kw_only=True):
    unsubscribed: bool


# -- projects --------------------------------------------------------------------------------


class ProjectInfo(msgspec.Struct, kw_only=True):
    name: str
    path: str
    default_branch: str
    remote: str | None = None
    remote_url: str | None = None
    agent: str
    """The agent sessions of this project use unless `--agent` says otherwise."""
    forge: str
    """The code host (the `scm` slot): local, github or gitlab."""
    workspace: str
    runtime: str
    source: str
    """`registry` (aoctl project add), `config` (config.yaml only), or `both`."""
    tracker: str = "local"
    """Where its issues are (the `tracker` slot): local, github, gitlab, linear or jira."""


class ProjectAddParams(Params):
    path: str
    """The repository: its main working tree (absolute, or relative to the client's cwd)."""
    name: str | None = None
    """Default: the directory's name."""
    agent: str | None = None
    forge: Literal["local", "github", "gitlab"] | None = None
    """Both slots at once; config's `projects.NAME.scm` / `tracker` name them apart."""
    default_branch: str | None = None
    """Default: detected (origin's HEAD, else the checked-out branch)."""


class ProjectNameParams(Params):
    name: str


class ProjectListResult(msgspec.Struct, kw_only=True):
    projects: list[ProjectInfo]


class ProjectRemoveResult(msgspec.Struct, kw_only=True):
    removed: str


# -- sessions --------------------------------------------------------------------------------


class RuntimeInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    kind: str
    name: str
    pane_id: str | None = None
    pid: int | None = None


LANES: Final = ("working", "needs_you", "in_review", "ready", "done")
"""The dashboard's lanes, in the order it shows them (aod/board.py puts each state in one)."""


class SessionInfo(msgspec.Struct, kw_only=True):
    id: str
    project: str
    state: str
    lane: str = "working"
    """One of LANES: where the session stands for a person (aod/board.py decides from the state)."""
    reason: str
    activity: str
    agent: str
    issue: str | None
    task: str | None
    title: str | None
    branch: str
    workspace: str
    runtime: RuntimeInfo | None
    created_at: str
    updated_at: str
    since: str
    wip_ref: str | None = None
    pending_messages: int = 0
    journal: list[dict[str, Any]] | None = None
    """session.get only: the newest journal entries (transitions, reactions, deliveries)."""
    pr_number: str | None = None
    pr_url: str | None = None
    pr_state: str | None = None
    """As the forge said when aod last looked: `open`, `closed`, `merged` (None: no PR seen)."""
    pr_checks: str | None = None
    """`passing`, `failing`, `pending`, `none`."""
    pr_review: str | None = None
    """`approved`, `changes_requested`, `review_required`, `none`."""
    pr_mergeable: str | None = None
    """`mergeable`, `conflicting`, `blocked`, `unknown`."""
    cost_usd: float | None = None
    """session.list with `cost`, and session.get: USD so far (None: not known for this agent)."""
    tokens: int | None = None
    report: ReportInfo | None = None
    """What the agent last said of its own work (`session.report`, `human.ask`), while it stands."""
    kind: str = "worker"
    """`worker`, or `orchestrator`: the project's orchestrator agent (`orchestrator.start`)."""
    group: str | None = None
    """The group of attempts it is one of (`group.spawn`), if any."""
    group_picked: bool = False
    """A grouped session kept by `group.pick` (before the pick, aod merges no attempt)."""
    role: str | None = None
    """The role it was spawned with (`--role`)."""
    role_color: str | None = None
    """That role's color (config `roles.NAME.color`), for the dashboard."""
    role_note: str = ""
    """What the spawn could not do for its role (an allow-list its agent's CLI cannot take)."""
    overlaps: list[OverlapInfo] = []
    """issue 19: the other live sessions of the project changing some of the same files."""
    reviews: str | None = None
    """kind `reviewer` (issue 19): the worker session whose PR it reviews (read-only)."""
    review_round: int | None = None
    """kind `reviewer`: which review of that worker it is."""
    depends_on: list[str] = []
    """What the session waits for (or waited for) before it started: session or issue ids."""
    stack_parent: str | None = None
    """A stacked session: the session whose branch its own is based on."""
    host: str = ""
    """issue 21: the host (`hosts.NAME`) whose aod runs it, "" for this machine; such a session's
    id is `NAME/ID` here."""


# -- cost ---------------------------------------------------------------------------------------


class CostParams(Params):
    month: str | None = None
    """YYYY-MM; default: this month (UTC)."""
    project: str | None = None


class CostLine(msgspec.Struct, kw_only=True):
    name: str
    cost_usd: float
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    unpriced: bool = False
    """Some usage had no known price: the cost is a lower bound."""
    project: str = ""
    agent: str = ""


class BudgetLine(msgspec.Struct, kw_only=True):
    """One configured budget (`budgets`, `projects.NAME.budgets`) against the month's spending."""

    name: str
    """In words: `each project, per month`, `project web, per session`."""
    project: str = ""
    """"" for a global budget (it applies to each project that does not set its own)."""
    period: Literal["session", "day", "month"]
    limit_usd: float
    spent_usd: float
    """month: the project's spending that month; day: that day's (today's, for the current
    month; else the month's costliest day); session: the costliest session's spending that
    month. A global budget: the most any project (or session) it applies to spent."""
    exceeded: bool = False
    """spent_usd reached limit_usd (aod pauses the sessions it applies to)."""


class CostResult(msgspec.Struct, kw_only=True):
    month: str
    total_usd: float
    projects: list[CostLine]
    agents: list[CostLine]
    sessions: list[CostLine]
    models: list[CostLine]
    unpriced: bool = False
    budgets: list[BudgetLine] = []
    """Every configured budget with what was spent against it (docs/cost.md)."""


# -- issues and PRs (the forge) -------------------------------------------------------------------


class IssueCommentInfo(msgspec.Struct, kw_only=True):
    author: str
    body: str
    at: str = ""


class IssueInfo(msgspec.Struct, kw_only=True):
    project: str
    id: str
    title: str
    body: str = ""
    state: str = "open"
    labels: list[str] = []
    url: str = ""
    created_at: str = ""
    comments: list[IssueCommentInfo] = []
    depends_on: list[str] = []
    """Issues this one waits for (local issues' `depends_on:`; issue 19)."""


class IssueAddParams(Params):
    title: str
    body: str = ""
    labels: list[str] = []
    project: str | None = None
    cwd: str | None = None
    depends_on: list[str] = []
    """Issues of the project whose PR must merge before this one's session starts (issue 19)."""


class IssueListParams(Params):
    project: str | None = None
    state: Literal["open", "closed", "all"] = "open"
    labels: list[str] = []
    assignee: str | None = None
    milestone: str | None = None
    limit: Count = 100
    cwd: str | None = None


class IssueListResult(msgspec.Struct, kw_only=True):
    project: str
    issues: list[IssueInfo]


class IssueRefParams(Params):
    id: str
    project: str | None = None
    cwd: str | None = None


class CheckInfo(msgspec.Struct, kw_only=True):
    name: str
    conclusion: str
    url: str = ""
    summary: str = ""
    log_excerpt: str = ""
    """A failing check: the excerpt of its log aod made for the agent (aod/ci_logs.py: the failing
    step, its error lines, its last lines), secrets redacted; "" when there is none (yet)."""


class ReviewComment(msgspec.Struct, kw_only=True):
    """A review comment that still matters: an unresolved thread's comment, or the text of a
    review that requests changes."""

    author: str
    body: str
    """Secrets redacted."""
    path: str | None = None
    """An inline comment: the file it is on (relative to the repository)..."""
    line: int | None = None
    """...and the line."""
    url: str = ""
    created_at: str = ""
    """ISO 8601 UTC; "" when the forge gives none."""
    resolved: bool = False


class PrInfo(msgspec.Struct, kw_only=True):
    session: str
    project: str
    number: str
    url: str
    state: str
    """open, closed, merged"""
    draft: bool
    head_sha: str
    base: str
    checks: str
    """none, pending, passing, failing"""
    review: str
    """none, review_required, approved, changes_requested"""
    mergeable: str
    """unknown, mergeable, conflicting, blocked"""
    failing: list[CheckInfo] = []
    comments: int = 0
    """Review comments that still matter (unresolved)."""
    review_comments: list[ReviewComment] = []
    """Those comments themselves."""
    blockers: list[str] = []
    """Why it is not ready to merge, in plain words (`CI failing: test (3.11)`, `changes
    requested`, `review required`, `conflicts with main`, `draft`, ...); [] when it is ready:
    approved, green (or without checks) and mergeable."""


class PrShowResult(msgspec.Struct, kw_only=True):
    session: str
    pr: PrInfo | None
    """None: the session has no PR yet (as far as aod has seen)."""


class PrOpenParams(Params):
    id: str
    """The session (aoctl takes it from AO_SESSION_ID inside a session's worktree)."""
    title: str | None = None
    body: str | None = None


class ReviewParams(Params):
    id: str
    """The session whose PR is reviewed."""
    action: Literal["approve", "request_changes", "comment"]
    message: str = ""
    file: str | None = None
    line: int | None = None
    author: str | None = None
    by: str | None = None
    """The session asking ($AO_SESSION_ID); a reviewer session reviews only its worker's PR, as
    itself, and its approval counts only with `review.may_approve`."""


class MergeParams(Params):
    id: str
    method: Literal["merge", "squash", "rebase"] | None = None
    """Default: the project's merge_method."""
    by: str | None = None
    """The session asking; an orchestrator may merge only with `orchestrator.may_merge`."""


class MergeResult(msgspec.Struct, kw_only=True):
    id: str
    number: str
    sha: str
    method: str


class SpawnParams(Params):
    project: str | None = None
    """Default: the only project, or the one whose path contains the client's cwd (`cwd`)."""
    issue: str | None = None
    task: str | None = None
    agent: str | None = None
    branch: str | None = None
    cwd: str | None = None
    """The client's working directory, used to pick the project when none is named."""
    idempotency_key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    """A key unique to this request: asking again with it returns the session the first request
    started (or is starting) instead of a second one; for callers that retry (MCP tools, scripts)."""
    reuse_live: bool = False
    """With `issue`: when the issue already has a live session of this agent, return it instead of
    starting another (as `session.batch_spawn` skips it)."""
    by: str | None = None
    """The session asking (`aoctl mcp` and aoctl inside a session fill it in): when it is an
    orchestrator, its policy (`orchestrator` in the config) decides whether the spawn may happen."""
    role: Annotated[str, msgspec.Meta(max_length=63)] | None = None
    """A role (`roles` in the config, or a built-in: implementer, reviewer, tester, docs): its
    prompt goes before the task in the first prompt, and its agent is the default one."""
    after: list[str] = []
    """Wait for these (session ids, or issue ids of the project whose session must merge): the
    session is `queued` until every one's PR merged (issue 19)."""
    stack: bool = False
    """With one `after`: start at once on that session's branch, the PR based on it (a stack)."""
    host: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    """issue 21: start it on this host (`hosts.NAME`; `local`: this machine). Unset: `placement`
    decides."""


class OrchestratorStartParams(Params):
    project: str | None = None
    """Default: the only project, or the one whose path contains `cwd`."""
    agent: str | None = None
    """Default: `orchestrator.agent`, else the project's agent."""
    cwd: str | None = None


class BatchSpawnParams(Params):
    issues: list[str]
    project: str | None = None
    agent: str | None = None
    cwd: str | None = None


class SkippedIssue(msgspec.Struct, kw_only=True):
    issue: str
    reason: str
    session: str | None = None


class BatchSpawnResult(msgspec.Struct, kw_only=True):
    spawned: list[SessionInfo]
    skipped: list[SkippedIssue]
    failed: list[SkippedIssue]


class SessionListParams(Params):
    project: str | None = None
    """Only this project's sessions. Archived sessions (after cleanup) are never listed."""
    cost: bool = False
    """Fill each session's `cost_usd` (and tokens) from its usage record."""
    orchestrators: bool = False
    """Include the orchestrator sessions (listed apart by default: `aoctl status --all`)."""


class SessionListResult(msgspec.Struct, kw_only=True):
    sessions: list[SessionInfo]


class SessionIdParams(Params):
    id: str


class SendParams(Params):
    id: str
    message: str


class SendResult(msgspec.Struct, kw_only=True):
    id: str
    seq: int
    """The message's place in the session's outbox; `session.delivered` events carry it."""
    queued: int
    """Messages waiting for this session, this one included."""


ReportStatus = Literal["working", "done", "blocked", "needs_input"]
REPORT_TEXT_LIMIT: Final = 4000


class ReportInfo(msgspec.Struct, kw_only=True):
    status: str
    """`working`, `done`, `blocked` or `needs_input`."""
    message: str = ""
    """Why it is blocked, the question, or a summary of what was done (secrets redacted)."""
    at: str = ""


class ReportParams(Params):
    id: str
    """The session (aoctl and `aoctl mcp` take it from AO_SESSION_ID)."""
    status: ReportStatus
    message: Annotated[str, msgspec.Meta(max_length=REPORT_TEXT_LIMIT)] = ""


class AskParams(Params):
    id: str
    """The session asking (aoctl and `aoctl mcp` take it from AO_SESSION_ID)."""
    question: Annotated[str, msgspec.Meta(min_length=1, max_length=REPORT_TEXT_LIMIT)]


class ReportResult(msgspec.Struct, kw_only=True):
    id: str
    status: str
    activity: str
    """The activity aod now records for the session (`active`, `idle`, `blocked`, `waiting_input`)."""


class HookParams(Params):
    id: str
    """The session (aoctl takes it from AO_SESSION_ID, which every agent aod starts has)."""
    agent: str
    """The agent whose hook fired (`claude-code`, `codex`)."""
    event: str
    """The hook's event as the agent names it (`Stop`, `UserPromptSubmit`, `agent-turn-complete`)."""
    kind: str = ""
    """A sub-kind where the agent has one (Claude's `notification_type`: `permission_prompt`)."""
    message: str = ""
    """The hook's own short text (Claude's Notification message), bounded."""


class HookResult(msgspec.Struct, kw_only=True):
    id: str
    activity: str
    """What aod took the report to mean (`active`, `idle`, `waiting_input`), or "" (ignored)."""


class LogsParams(Params):
    id: str
    lines: Count = 50


class LogsResult(msgspec.Struct, kw_only=True):
    id: str
    text: str
    alive: str
    """alive / dead / unknown."""


class AttachResult(msgspec.Struct, kw_only=True):
    id: str
    argv: list[str]


_RUNTIME_NAME = r"[A-Za-z0-9._-]{1,64}"


def attach_argv_problem(argv: list[str]) -> str | None:
    """Why `argv` is not one of the attach commands aod's runtimes give, or None.

    A client runs this argv in the user's terminal, so it accepts only the two shapes aod
    makes, `tmux -L NAME attach-session -t =NAME` and `tail -n N -f /LOG`, with the program
    named bare (found on the user's PATH) or as an absolute path that only root or the user
    can change."""
    import re

    if not argv or any("\0" in a for a in argv):
        return "an empty command, or one with a NUL byte"
    if os.path.basename(argv[0]) == "ssh":
        return _ssh_attach_problem(argv)
    program = os.path.basename(argv[0])
    name = re.compile(_RUNTIME_NAME)
    if program == "tmux":
        shape_ok = (
            len(argv) == 6 and argv[1] == "-L" and name.fullmatch(argv[2]) is not None
            and argv[3] == "attach-session" and argv[4] == "-t"
            and argv[5].startswith("=") and name.fullmatch(argv[5][1:]) is not None
        )
    elif program == "tail":
        shape_ok = (
            len(argv) == 5 and argv[1] == "-n" and argv[2].isdecimal() and argv[3] == "-f"
            and os.path.isabs(argv[4])
        )
    else:
        return f"{argv[0]!r} is neither tmux nor tail"
    if not shape_ok:
        return f"{argv!r} is not the shape of {program}'s attach command"
    if argv[0] != program:
        return _program_problem(argv[0], program)
    return None


_SSH_OPTIONS: Final = frozenset({"BatchMode=yes", "ServerAliveInterval=5", "ServerAliveCountMax=3"})
_SHELL_SAFE = r"[A-Za-z0-9._/=:@%+,-]+"


def _ssh_attach_problem(argv: list[str]) -> str | None:
    """issue 21: a remote session's attach, `ssh -t [-F FILE] [-o OPT]... [-p PORT] TARGET -- <its aod's
    attach argv>`: only the options aod itself passes, a target that is no option, and after `--`
    one of the two shapes above (its program judged on that host, so by its shape only), every
    word shell-safe (ssh hands the words to the remote shell joined by spaces)."""
    import re

    if argv[0] != "ssh":
        problem = _program_problem(argv[0], "ssh")
        if problem:
            return problem
    if "--" not in argv:
        return "an ssh attach command without `--` before the remote command"
    split = argv.index("--")
    head, remote = argv[1:split], argv[split + 1 :]
    if not head or head[0] != "-t":
        return "an ssh attach command must start with `ssh -t`"
    rest = head[1:]
    while len(rest) > 1 and rest[0] in ("-o", "-p", "-F"):
        flag, value = rest[0], rest[1]
        if flag == "-F" and not (os.path.isabs(value) and re.fullmatch(_SHELL_SAFE, value)):
            return f"ssh config {value!r} is not an absolute path"
        if flag == "-o" and value not in _SSH_OPTIONS:
            return f"ssh option {value!r} is not one aod passes"
        if flag == "-p" and not value.isdecimal():
            return f"ssh port {value!r} is not a number"
        rest = rest[2:]
    if len(rest) != 1 or rest[0].startswith("-") or not re.fullmatch(r"[A-Za-z0-9._@%:+-]+", rest[0]):
        return f"{head!r} does not end with one ssh target"
    if not remote or any(re.fullmatch(_SHELL_SAFE, word) is None for word in remote):
        return f"the remote command {remote!r} is empty or has words a shell would change"
    shape = [os.path.basename(remote[0]), *remote[1:]]
    return attach_argv_problem(shape) if shape[0] in ("tmux", "tail") else f"{remote[0]!r} is neither tmux nor tail"


def _program_problem(path: str, program: str) -> str | None:
    import stat

    if not os.path.isabs(path):
        return f"{path!r}: {program} must be named bare or by an absolute path"
    for where in (path, os.path.dirname(path)):
        try:
            info = os.stat(where)
        except OSError as exc:
            return f"cannot inspect {where}: {exc.strerror or exc}"
        if info.st_uid not in (0, os.getuid()) or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return f"{where} can be changed by another user (uid {info.st_uid}, mode {stat.S_IMODE(info.st_mode):o})"
    return None


class SessionDiffParams(Params):
    id: str
    max_bytes: Annotated[int, msgspec.Meta(ge=1)] = 1024 * 1024
    """The most of the unified patch returned (capped at 16 MiB); the file list is always whole."""


class DiffFile(msgspec.Struct, kw_only=True):
    path: str
    status: Literal["added", "modified", "deleted", "renamed", "copied", "type_changed"]
    additions: int = 0
    deletions: int = 0
    old_path: str | None = None
    """renamed / copied: where it came from."""
    binary: bool = False
    """A binary file: no line counts."""


class SessionDiffResult(msgspec.Struct, kw_only=True):
    id: str
    base: str
    """The branch the session started from, as compared against (`main`, or `origin/main` when
    the remote's is further along)."""
    base_sha: str
    """The merge base: the commit of `base` the branch grew from."""
    head: str
    """The session's branch."""
    head_sha: str
    files: list[DiffFile]
    patch: str
    """`git diff` of base_sha..head_sha (committed work only), secrets redacted."""
    truncated: bool
    """The patch was cut at `max_bytes` (at a line's end); `files` still lists every file."""


class WebTokenParams(Params):
    rotate: bool = False
    """Make a new token: every browser signed in with the old one is signed out."""


class WebTokenResult(msgspec.Struct, kw_only=True):
    url: str | None
    """`http://127.0.0.1:PORT/#token=...` (None while the dashboard is not listening)."""
    token: str
    """256 bits, hex. Kept in the state dir (0600); never sent over HTTP by aod."""
    listen: str
    enabled: bool
    listening: bool
    reason: str | None = None
    """Why there is no `url`, and how to change that."""
    rotated: bool = False
    created_at: str = ""


class CleanupParams(Params):
    dry_run: bool = False
    force: bool = False
    project: str | None = None


class CleanupItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    action: str
    """`removed`, `would-remove`, `kept`."""
    reason: str = ""
    wip_ref: str | None = None
    workspace: str | None = None


class CleanupResult(msgspec.Struct, kw_only=True):
    items: list[CleanupItem]


class StopAllResult(msgspec.Struct, kw_only=True):
    killed: list[str]


class HistoryParams(Params):
    id: str
    lines: Count = 100


class HistoryResult(msgspec.Struct, kw_only=True):
    id: str
    entries: list[dict[str, Any]]
    """Journal entries, oldest first: `time`, `kind` (state.changed, reaction.intent,
    reaction.done, delivery.started, delivery.done, spawned, setup, ...) and their fields."""
    archived: bool = False
    """The session was cleaned up: this is its journal from the archive."""


class RecentEventsParams(Params):
    limit: Count = 100
    kinds: list[str] | None = None


class RecentEventsResult(msgspec.Struct, kw_only=True):
    events: list[Event]


class NotifyTestParams(Params):
    priority: Literal["urgent", "action", "warning", "info"] = "info"
    title: str = "aod test notification"
    message: str = "If you can read this, aod can reach you here."


class NotifyTestResult(msgspec.Struct, kw_only=True):
    results: dict[str, str]
    """Notifier name → `ok` or what went wrong."""


class DoctorCheck(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False
    """A failed optional check (an agent CLI you do not use) does not make doctor fail."""


class DoctorResult(msgspec.Struct, kw_only=True):
    ok: bool
    checks: list[DoctorCheck]


# ---------------------------------------------------------------------------------------------
# Events, pushed as `event` notifications on a subscribed connection.
# ---------------------------------------------------------------------------------------------

EVENT_NOTIFICATION: Final = "event"
DROPPED_NOTIFICATION: Final = "events.dropped"


class Event(msgspec.Struct, kw_only=True, omit_defaults=True):
    seq: int
    """Increases by one with every event aod publishes; a gap means events were missed."""
    time: str
    kind: str
    session: str | None = None
    data: dict[str, Any] = {}


class DroppedParams(msgspec.Struct, kw_only=True):
    """Sent once to a subscriber that fell too far behind; its subscription is then ended."""

    subscription: int
    last_seq: int
    reason: str


# ---------------------------------------------------------------------------------------------
# Best-of-N attempts (issue 19): group.spawn, group.compare, group.pick.
# ---------------------------------------------------------------------------------------------


class GroupSpawnParams(Params):
    """What `session.spawn` takes, for several attempts at once: `attempts` × `agents` sessions
    (each agent named `attempts` times; no agents: the role's, else the project's)."""

    project: str | None = None
    issue: str | None = None
    task: str | None = None
    attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] | None = None
    """How many attempts per agent (default 1 per agent named; with no agent named, give 2 or more)."""
    agents: list[str] = []
    cwd: str | None = None
    idempotency_key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    """Asking again with the same key returns the same group (with the attempts already started)."""
    by: str | None = None
    role: Annotated[str, msgspec.Meta(max_length=63)] | None = None


class GroupIdParams(Params):
    id: str


class GroupInfo(msgspec.Struct, kw_only=True):
    id: str
    project: str
    issue: str | None = None
    task: str | None = None
    role: str | None = None
    attempts: int = 0
    members: list[str] = []
    picked: str | None = None
    picked_at: str = ""
    discarded: list[str] = []
    created_at: str = ""
    sessions: list[SessionInfo] = []
    """The members' sessions as they are now (an archived one is left out)."""


class AttemptRow(msgspec.Struct, kw_only=True):
    """One attempt of a group, as `group.compare` shows it beside the others."""

    id: str
    agent: str
    state: str
    reason: str = ""
    archived: bool = False
    """The session was cleaned up (its row keeps what was last known of it)."""
    picked: bool = False
    files: int | None = None
    """Files its branch changes against its base (None: not known, e.g. no branch)."""
    additions: int | None = None
    deletions: int | None = None
    pr_number: str | None = None
    pr_state: str | None = None
    ci: str | None = None
    """The PR's checks: passing, failing, pending, none (None: no PR)."""
    review: str | None = None
    cost_usd: float | None = None
    created_at: str = ""
    wip_ref: str | None = None


class GroupCompareResult(msgspec.Struct, kw_only=True):
    group: GroupInfo
    rows: list[AttemptRow]


class GroupPickParams(Params):
    id: str
    """The group."""
    session: str
    """The attempt to keep."""


class DiscardedAttempt(msgspec.Struct, kw_only=True):
    id: str
    action: str
    """What cleanup did: `removed` (archived, work saved), `kept` (work left, see reason)."""
    reason: str = ""
    wip_ref: str | None = None
    pr_closed: str | None = None
    """The number of its PR that the pick closed."""
    problem: str = ""
    """What went wrong, if anything (the rest went on)."""


class GroupPickResult(msgspec.Struct, kw_only=True):
    group: GroupInfo
    kept: SessionInfo
    discarded: list[DiscardedAttempt]


# ---------------------------------------------------------------------------------------------
# issue 19, overlap warnings and per-turn checkpoints
# ---------------------------------------------------------------------------------------------


class OverlapInfo(msgspec.Struct, kw_only=True):
    """Another live session of the same project changing some of the same files."""

    session: str
    files: list[str] = []
    """The files both sessions change (at most 50; `file_count` is the whole count)."""
    file_count: int = 0
    since: str = ""
    """ISO 8601 UTC: when aod first saw this pair overlap."""


class CheckpointInfo(msgspec.Struct, kw_only=True):
    n: int
    """`refs/ao/checkpoints/<id>/<n>`."""
    ref: str
    commit: str
    at: str
    """ISO 8601: when it was taken."""
    head: str
    """The commit HEAD was on (the checkpoint's parent): a rollback puts the branch back there."""
    reason: str = ""
    """`turn` (a finished agent turn) or `rollback` (taken before a rollback)."""
    files_changed: int = 0
    insertions: int = 0
    deletions: int = 0
    """The diffstat against the previous checkpoint (the first: against its HEAD)."""


class CheckpointsResult(msgspec.Struct, kw_only=True):
    id: str
    checkpoints: list[CheckpointInfo] = []
    """Oldest first."""


class RollbackParams(Params):
    id: str
    n: Annotated[int, msgspec.Meta(ge=1)]
    force: bool = False
    """Roll back even while the agent is working (it may then write over the restored files)."""


class RollbackResult(msgspec.Struct, kw_only=True):
    id: str
    n: int
    """The checkpoint restored."""
    saved: int
    """The checkpoint that holds the state from just before the rollback (roll back to it to undo)."""
    head: str
    """The commit the branch is on now."""
# issue 19, dependencies and stacks: plan files (aoctl plan apply)
# ---------------------------------------------------------------------------------------------


class PlanApplyParams(Params):
    text: Annotated[str, msgspec.Meta(max_length=1_000_000)]
    """The plan file's text, as it is (the daemon reads the YAML)."""
    source: str = "plan.yaml"
    """The file's name, for `file:line` in errors and the plan's default name."""
    dry_run: bool = False
    """Check the plan and say what would happen; start nothing."""
    cwd: str | None = None


class PlanTaskResult(msgspec.Struct, kw_only=True):
    id: str
    """The task's id in the plan."""
    action: str
    """`spawned`, `queued`, `stacked`, `exists` (applied before: nothing new); with dry_run:
    `would spawn`, `would queue`, `would stack`."""
    session: str | None = None
    state: str | None = None
    depends_on: list[str] = []
    """The session ids (or, in a dry run, the task ids) it waits for."""


class PlanApplyResult(msgspec.Struct, kw_only=True):
    name: str
    project: str
    tasks: list[PlanTaskResult]
    """In the order they were started: dependencies first."""


# ---------------------------------------------------------------------------------------------
# The method table: the single list of what aod answers.
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Remote hosts (issue 21): hosts.list, hosts.bootstrap.
# ---------------------------------------------------------------------------------------------


class HostInfo(msgspec.Struct, kw_only=True):
    name: str
    target: str
    """`user@host[:port]` (ssh), or the `command` when the host is reached by one."""
    reachable: bool
    since: str
    """When it became reachable or unreachable (ISO 8601 UTC); "" before the first try."""
    last_error: str = ""
    """Why it is unreachable (or last was), and what to do."""
    sessions: int = 0
    """Its sessions as last known (the cache), live or not."""
    live: int = 0
    """Of those, the ones not ended."""
    max_sessions: int | None = None
    load_1m: float | None = None
    version: str = ""
    """The remote aod's version."""
    requests: int = 0
    """Requests sent to it since this aod started (a tick sends at most one)."""
    pid: int | None = None
    """The link's process here (`ssh`, or the `command`), while it runs."""


class HostListResult(msgspec.Struct, kw_only=True):
    hosts: list[HostInfo]


class HostNameParams(Params):
    name: str


class HostBootstrapResult(msgspec.Struct, kw_only=True):
    name: str
    venv: str
    """The venv made on the host (`~/.local/share/ao/venv`)."""
    aoctl: str
    """The aoctl to put in `hosts.NAME.aoctl`."""
    steps: list[str]
    """What was run there, in order, each with its outcome."""


class Method(msgspec.Struct, frozen=True):
    name: str
    params: type
    result: type
    summary: str
    errors: tuple[int, ...] = ()


# Plugins from other packages (issue 22): plugins.list.


class PluginInfo(msgspec.Struct, kw_only=True):
    slot: str
    """agent, runtime, workspace, scm, tracker or notifier."""
    name: str
    """The kind config names it by."""
    distribution: str
    """The package it came from (`aod` for the built-ins)."""
    version: str = ""
    module: str = ""
    """Where its object is, `package.module:attr`."""
    builtin: bool = False
    status: str = "ok"
    """`ok`, or `error` (then `error` says why, naming the distribution, and it is unusable)."""
    error: str = ""
    failures: int = 0
    """Calls into a third-party plugin that raised since aod started (each failed only its own
    session's look or spawn); `last_failure` the last one's words."""
    last_failure: str = ""


class PluginListResult(msgspec.Struct, kw_only=True):
    plugins: list[PluginInfo]


_METHOD_LIST: Final = (
    Method("daemon.ping", NoParams, PingResult, "Check that aod answers; cheap."),
    Method("daemon.status", NoParams, StatusResult, "Version, uptime, sessions, last tick, paths."),
    Method("daemon.shutdown", NoParams, ShutdownResult, "Stop aod gracefully; replies first."),
    Method(
        "daemon.reload",
        NoParams,
        ReloadResult,
        "Re-read the config file; on errors the old config stays in force.",
        (ErrorCode.CONFIG_INVALID,),
    ),
    Method("rpc.discover", NoParams, dict, "This API as an OpenRPC 1.3 document."),
    Method(
        "events.subscribe",
        SubscribeParams,
        SubscribeResult,
        "Receive `event` notifications on this connection from now on (at most "
        "`api.max_subscriptions` subscriptions per connection).",
        (ErrorCode.LIMIT_EXCEEDED,),
    ),
    Method(
        "daemon.doctor",
        NoParams,
        DoctorResult,
        "Check git, tmux, agent CLIs, forge auth, the state dir; say how to fix what is missing.",
    ),
    Method(
        "project.add",
        ProjectAddParams,
        ProjectInfo,
        "Register a git repository as a project (detects default branch and remote).",
        (ErrorCode.CONFLICT,),
    ),
    Method("project.list", NoParams, ProjectListResult, "Registered and configured projects."),
    Method(
        "project.remove",
        ProjectNameParams,
        ProjectRemoveResult,
        "Unregister a project (its sessions and worktrees are not touched).",
        (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT),
    ),
    Method(
        "session.spawn",
        SpawnParams,
        SessionInfo,
        "Start an agent on an issue or task in a new worktree, branch and runtime.",
        (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT, ErrorCode.UNAVAILABLE),
    ),
    Method(
        "session.batch_spawn",
        BatchSpawnParams,
        BatchSpawnResult,
        "Spawn one session per issue, skipping issues that already have a live session.",
        (ErrorCode.NOT_FOUND,),
    ),
    Method(
        "orchestrator.start",
        OrchestratorStartParams,
        SessionInfo,
        "Start the project's orchestrator agent, or return the live one (never two): a session of "
        "kind `orchestrator` with a prompt aod composes from the issues, the workers and the policy.",
        (ErrorCode.NOT_FOUND, ErrorCode.INVALID_PARAMS, ErrorCode.UNAVAILABLE),
    ),
    Method("session.list", SessionListParams, SessionListResult, "Sessions, newest last."),
    Method("session.get", SessionIdParams, SessionInfo, "One session.", (ErrorCode.NOT_FOUND,)),
    Method(
        "session.send",
        SendParams,
        SendResult,
        "Queue a message for the session's agent; delivered in order, one at a time, verified.",
        (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT),
    ),
    Method(
        "session.hook",
        HookParams,
        HookResult,
        "An agent's hook reports a turn starting or ending, or a question (installed per session by aod).",
        (ErrorCode.NOT_FOUND,),
    ),
    Method(
        "session.report",
        ReportParams,
        ReportResult,
        "The agent says where its work stands: working, done, blocked (why) or needs_input (the "
        "question). The most trusted signal of its state; it stands until the agent is sent a message.",
        (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT),
    ),
    Method(
        "human.ask",
        AskParams,
        ReportResult,
        "The agent asks the person supervising it a question: the session needs input, the question "
        "is shown and notified, and the answer (`session.send`) reaches the agent.",
        (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT),
    ),
    Method(
        "session.logs",
        LogsParams,
        LogsResult,
        "The last lines of the agent's screen or output.",
        (ErrorCode.NOT_FOUND, ErrorCode.UNAVAILABLE),
    ),
    Method(
        "session.attach",
        SessionIdParams,
        AttachResult,
        "The command that attaches a terminal to the session (aoctl attach runs it).",
        (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT),
    ),
    Method(
        "session.pause",
        SessionIdParams,
        SessionInfo,
        "Stop reacting to the session (no messages to the agent, no notifications) until resumed; the agent keeps running.",
        (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT),
    ),
    Method(
        "session.resume",
        SessionIdParams,
        SessionInfo,
        "Resume a paused session (paused by you, a budget or a usage limit); it is judged afresh.",
        (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT),
    ),
    Method(
        "session.done",
        SessionIdParams,
        SessionInfo,
        "Mark the session's work finished (state `done`): aod stops reacting; `session.cleanup` archives it.",
        (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT),
    ),
    Method(
        "session.kill",
        SessionIdParams,
        SessionInfo,
        "Stop the agent; the worktree and branch stay.",
        (ErrorCode.NOT_FOUND,),
    ),
    Method(
        "session.restore",
        SessionIdParams,
        SessionInfo,
        "Relaunch the agent in the session's existing worktree (resuming where supported).",
        (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT, ErrorCode.UNAVAILABLE),
    ),
    Method(
        "session.cleanup",
        CleanupParams,
        CleanupResult,
        "Remove ended sessions' worktrees (uncommitted work saved to refs/ao/wip/<id>) and archive them.",
    ),
    Method("session.stop_all", NoParams, StopAllResult, "Kill every live session's agent."),
    Method("cost.summary", CostParams, CostResult, "Spending of a month from the cost ledger, by project, agent, session and model.", ()),
    Method("issue.add", IssueAddParams, IssueInfo, "Add an issue to a project's local forge.", (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT)),
    Method("issue.list", IssueListParams, IssueListResult, "A project's issues (local forge or GitHub).", (ErrorCode.NOT_FOUND, ErrorCode.UNAVAILABLE)),
    Method("issue.show", IssueRefParams, IssueInfo, "One issue with its comments.", (ErrorCode.NOT_FOUND, ErrorCode.UNAVAILABLE)),
    Method("issue.close", IssueRefParams, IssueInfo, "Close an issue of a project's local forge.", (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT)),
    Method("pr.open", PrOpenParams, PrInfo, "Open the session's PR (or return the open one).", (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT, ErrorCode.UNAVAILABLE)),
    Method("pr.review", ReviewParams, PrInfo, "Review the session's PR on the local forge: approve, request changes, or comment on a line.", (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT)),
    Method(
        "pr.show",
        SessionIdParams,
        PrShowResult,
        "The session's PR as aod last saw it: checks with failing logs' excerpts, unresolved review comments, what blocks the merge (no forge request).",
        (ErrorCode.NOT_FOUND,),
    ),
    Method("pr.merge", MergeParams, MergeResult, "Merge the session's PR if approved, green and mergeable, at the head aod last judged.", (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT, ErrorCode.UNAVAILABLE)),
    Method(
        "session.history",
        HistoryParams,
        HistoryResult,
        "A session's journal: transitions, reactions, deliveries (an archived session's from the archive).",
        (ErrorCode.NOT_FOUND,),
    ),
    Method("events.recent", RecentEventsParams, RecentEventsResult, "The latest events aod published."),
    Method(
        "session.diff",
        SessionDiffParams,
        SessionDiffResult,
        "The session branch's committed changes against its base: the files and a unified patch (capped at max_bytes).",
        (ErrorCode.NOT_FOUND, ErrorCode.UNAVAILABLE),
    ),
    Method(
        "web.token",
        WebTokenParams,
        WebTokenResult,
        "The dashboard's token and URL, the token minted on first use (`rotate`: a new one); answered on the Unix socket only.",
        (ErrorCode.PERMISSION_DENIED,),
    ),
    Method(
        "notify.test",
        NotifyTestParams,
        NotifyTestResult,
        "Send a test notification through every notifier routed for the priority.",
    ),
    Method(
        "events.unsubscribe",
        UnsubscribeParams,
        UnsubscribeResult,
        "End a subscription made on this connection.",
        (ErrorCode.NOT_FOUND,),
    ),
    # issue 19, best-of-N attempts
    Method(
        "group.spawn",
        GroupSpawnParams,
        GroupInfo,
        "Start several attempts at one issue or task (attempts × agents), grouped; none is merged before a pick.",
        (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT, ErrorCode.UNAVAILABLE),
    ),
    Method(
        "group.compare",
        GroupIdParams,
        GroupCompareResult,
        "Each attempt of a group side by side: agent, state, diff size, CI, review, cost, age.",
        (ErrorCode.NOT_FOUND,),
    ),
    Method(
        "group.pick",
        GroupPickParams,
        GroupPickResult,
        "Keep one attempt; the others are killed and cleaned up (work saved to refs/ao/wip) and their PRs closed.",
        (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT),
    ),
    Method(
        "session.checkpoints",
        SessionIdParams,
        CheckpointsResult,
        "The session's per-turn checkpoints (refs/ao/checkpoints/<id>/<n>): time, HEAD and diffstat.",
        (ErrorCode.NOT_FOUND, ErrorCode.UNAVAILABLE),
    ),
    Method(
        "session.rollback",
        RollbackParams,
        RollbackResult,
        "Checkpoint the worktree as it is, then restore checkpoint N (files, branch HEAD, index); "
        "refused while the agent is working unless `force`.",
        (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT, ErrorCode.UNAVAILABLE),
    ),
    Method(
        "plan.apply",
        PlanApplyParams,
        PlanApplyResult,
        "Start a plan's tasks (a task with `depends_on` queued, or stacked); a cycle or any problem "
        "is refused before anything starts; applying again starts nothing twice.",
        (ErrorCode.INVALID_PARAMS, ErrorCode.NOT_FOUND),
    ),
    # issue 21, remote hosts
    Method(
        "hosts.list",
        NoParams,
        HostListResult,
        "The remote hosts (`hosts` in the config): reachable or since when not and why, their sessions and load.",
    ),
    Method(
        "hosts.bootstrap",
        HostNameParams,
        HostBootstrapResult,
        "Install this aod's version on a host over ssh: a venv (~/.local/share/ao/venv) and this package copied there.",
        (ErrorCode.NOT_FOUND, ErrorCode.UNAVAILABLE),
    ),
    # issue 22, plugins from other packages
    Method(
        "plugins.list",
        NoParams,
        PluginListResult,
        "Every slot's built-ins and installed third-party plugins: name, slot, distribution, version, module, ok or the error.",
    ),
)

METHODS: Final[dict[str, Method]] = {m.name: m for m in _METHOD_LIST}


# ---------------------------------------------------------------------------------------------
# OpenRPC, generated from the table above (served by rpc.discover, shipped in docs/).
# ---------------------------------------------------------------------------------------------


def openrpc_document(version: str) -> dict[str, Any]:
    types: list[Any] = []
    for m in METHODS.values():
        types += [m.params, m.result]
    types += [Event, DroppedParams, ErrorObject]
    schemas, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    by_type = dict(zip(types, schemas, strict=True))

    def params_of(t: type) -> list[dict[str, Any]]:
        if t is NoParams:
            return []
        info = msgspec.inspect.type_info(t)
        assert isinstance(info, msgspec.inspect.StructType)
        return [
            {
                "name": f.encode_name,
                "required": f.required,
                "schema": components[t.__name__]["properties"][f.encode_name],
            }
            for f in info.fields
        ]

    methods = [
        {
            "name": m.name,
            "summary": m.summary,
            "paramStructure": "by-name",
            "params": params_of(m.params),
            "result": {"name": "result", "schema": by_type[m.result]},
            "errors": [{"code": c, "message": ERROR_DOCS[c][0]} for c in m.errors],
        }
        for m in METHODS.values()
    ]
    return {
        "openrpc": "1.3.2",
        "info": {
            "title": "aod",
            "version": version,
            "description": "aod's JSON-RPC 2.0 API over a Unix socket (and, for the dashboard, "
            "POST /rpc and the WebSocket /rpc). Notifications pushed to "
            f"subscribers: `{EVENT_NOTIFICATION}` (params: Event) and "
            f"`{DROPPED_NOTIFICATION}` (params: DroppedParams).",
        },
        "methods": methods,
        "components": {
            "schemas": components,
            "errors": {
                name: {"code": code, "message": text}
                for code, (name, text) in sorted(ERROR_DOCS.items(), reverse=True)
            },
        },
    }
