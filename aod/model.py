"""Records aod persists in its state directory (see docs/storage.md).

Every record is a msgspec Struct that carries `schema` (the layout version it was written with)
and `rev` (bumped by the store on each write; the compare-and-set token). Records are frozen
values: change one with `msgspec.structs.replace(record, field=value)` and hand it to the store.

Evolving a record: add new fields WITH defaults, so files written by an older aod still decode.
Bump SCHEMA_VERSION only when a change is not backward compatible (a field renamed, retyped or
given new meaning); an aod then refuses files whose schema is newer than its own rather than
silently dropping what it does not understand.

This module does no I/O and reads no clock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

SCHEMA_VERSION: Final = 1

# One char, then up to 62 more: a session id is a directory name, a branch suffix and a tmux
# session name, so it stays short, lower-case and free of anything a shell or a path interprets.
SESSION_ID_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def validate_session_id(value: object) -> str:
    """Return `value` if it is a well-formed session id, else raise ValueError.

    fullmatch, not match + `$`: `$` also matches before a trailing newline.
    """
    if not isinstance(value, str) or SESSION_ID_PATTERN.fullmatch(value) is None:
        raise ValueError(
            f"invalid session id {value!r}: use 1 to 63 characters from a-z, 0-9 and '-', "
            "not starting with '-'"
        )
    return value


def iso_utc(moment: datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC with a `Z` suffix, the form records store."""
    if moment.tzinfo is None:
        raise ValueError("iso_utc needs an aware datetime (a naive one has no known zone)")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Record(msgspec.Struct, kw_only=True, frozen=True):
    """Base of every persisted record. The store owns both fields: it sets `schema` to
    SCHEMA_VERSION and `rev` to the new revision on each write."""

    schema: int = SCHEMA_VERSION
    rev: int = 0


# ---------------------------------------------------------------------------------------------
# Sessions on real runtimes (issue 3). New fields all have defaults (see the module docstring).
# ---------------------------------------------------------------------------------------------

ACTIVITIES: Final = ("active", "ready", "idle", "waiting_input", "blocked", "exited", "unknown")
"""What the agent is doing, orthogonal to the session state (DESIGN.md §5).

active: working on a turn. ready: at its prompt, never given work yet or just started.
idle: at its prompt after finishing a turn. waiting_input: asks a human (permission, question).
blocked: cannot go on by itself (an error screen, a first-run dialog it cannot pass).
exited: the agent process is gone (definite evidence only). unknown: no trustworthy signal.
"""

# A project name is a directory name, a tmux session name prefix and a config key.
PROJECT_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def validate_project_name(value: object) -> str:
    if (
        not isinstance(value, str)
        or PROJECT_NAME_PATTERN.fullmatch(value) is None
        or value in (".", "..")
        or value.endswith(".")
    ):
        raise ValueError(
            f"invalid project name {value!r}: use 1 to 63 characters from A-Z, a-z, 0-9, '.', "
            "'_' and '-', starting with a letter or digit"
        )
    return value


class RuntimeHandle(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """Where a session's agent runs; enough to find it again after aod restarts."""

    kind: str
    """`tmux` or `process`."""
    name: str
    """tmux: the session name on aod's tmux server. process: the session id."""
    pane_id: str | None = None
    """tmux: the pane id (`%12`), the exact target once known."""
    pid: int | None = None
    """The agent's process id (tmux: the pane's process)."""
    log_path: str | None = None
    """process: the file the agent's output goes to."""
    socket: str | None = None
    """tmux: the server socket name (`-L`)."""


class Project(Record, kw_only=True, frozen=True):
    """A registered repository (`aoctl project add`). Settings left null come from config."""

    name: str
    path: str
    """Absolute path of the repository's main working tree (or the bare repository)."""
    default_branch: str
    remote: str | None = None
    """Name of the remote PRs go to (`origin`), if any."""
    remote_url: str | None = None
    agent: str | None = None
    forge: str = "local"
    created_at: str = ""


class Delivery(msgspec.Struct, kw_only=True, frozen=True):
    """A message queued for an agent (sessions/<id>/outbox/). Delivered in seq order, one at a time."""

    seq: int
    text: str
    source: str = "user"
    """Who asked: `user` (aoctl send), `prompt` (the first prompt), `reaction:<key>`."""
    queued_at: str = ""
    fingerprint: str = ""
    """For a reaction's message: its intent's fingerprint (finds it again after a crash)."""
    marker: str = ""
    """A short text inside the message; seeing it on screen proves an interrupted paste landed."""
    attempts: int = 0
    """Delivery attempts that ended without proof that the agent took the message."""


class Undelivered(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """A message aod gave up on (its attempts ran out without proof the agent took it)."""

    seq: int
    source: str = ""
    detail: str = ""
    at: str = ""


class PrSummary(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """What the forge said of a session's PR when the tick last looked (`aoctl status --pr`)."""

    state: str = ""
    """open | closed | merged"""
    checks: str = ""
    review: str = ""
    mergeable: str = ""
    draft: bool = False


class BranchAttempt(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """What aod last tried with a session's branch head (`push: auto`, `open_pr: auto`), so it
    asks once per head and backs off after a refusal (aod.lifecycle.attempt_due)."""

    head: str
    """The head commit it was about."""
    failures: int = 0
    """Refusals in a row for this head; 0: it worked (or there was nothing to do)."""
    at: float = 0.0
    """Epoch seconds of the last try."""
    outcome: str = ""


class AgentReport(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    """`working`, `done`, `blocked`, `needs_input`."""
    message: str = ""
    at: str = ""


class Overlap(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """issue 19, overlap warnings: another live session of the project changing some of the same
    files as this one (aod/overlap.py computes it each tick from the worktrees' changed paths)."""

    session: str
    """The other session."""
    files: list[str] = []
    """The files both change (bounded: `file_count` says how many there are in all)."""
    file_count: int = 0
    since: str = ""
    """ISO 8601 UTC: when aod first saw the pair overlap (this episode). Part of the notice's
    fingerprint: a pair that stops overlapping and overlaps again later is told again."""
    notice_due: bool = False
    """True on the LATER session's entry until its notice (and, with `overlap.tell_agent`, its
    message) is written to its reaction ledger; the ledger's fingerprint makes it once."""


class Session(Record, kw_only=True, frozen=True):
    """One agent working on one task in its own workspace, branch and runtime."""

    id: str
    project: str
    state: str = "spawning"
    reason: str = ""
    """Why the session is in its state (shown by `aoctl status`; e.g. the spawn error)."""
    since: str = ""
    """ISO 8601 UTC time the session entered `state`."""
    created_at: str
    """ISO 8601 UTC (see `iso_utc`)."""
    updated_at: str
    """ISO 8601 UTC (see `iso_utc`)."""
    issue: str | None = None
    task: str | None = None
    title: str | None = None
    agent: str = ""
    branch: str = ""
    base_branch: str = ""
    workspace: str = ""
    """Absolute path of the session's worktree (or clone)."""
    workspace_kind: str = "worktree"
    runtime: RuntimeHandle | None = None
    activity: str = "unknown"
    activity_at: str = ""
    port_base: int = 0
    delivered_seq: int = 0
    """The highest outbox seq that was delivered (or given up on)."""
    agent_session: str | None = None
    """The agent's own conversation id, when known (used to resume on restore)."""
    wip_ref: str | None = None
    """`refs/ao/wip/<id>` once uncommitted work was snapshotted there."""
    paused_until: str | None = None
    """ISO 8601 UTC: a paused session resumes by itself at this time (usage limits)."""
    commands: list[str] = []
    """User commands not yet applied by the lifecycle (`pause`, `resume`, `merged`, `merge_failed`)."""
    issue_body: str | None = None
    """The issue's text when spawned from one (the first prompt and a restore's prompt use it)."""
    pr_number: str | None = None
    """The session's PR on its project's forge, once one was seen or opened."""
    pr_url: str | None = None
    pr: PrSummary | None = None
    """The PR's state, checks, review and mergeability as last seen (kept current by the tick)."""
    auto_push: BranchAttempt | None = None
    """`push: auto`: the last push aod tried of the branch."""
    auto_pr: BranchAttempt | None = None
    """`open_pr: auto`: the last time aod asked the forge to open the PR."""
    kind: str = "worker"
    """`worker`, `orchestrator` (the project's orchestrator agent: never stuck, never cleaned
    up, listed apart), or `reviewer` (a read-only review of a worker's PR: see `reviews`)."""
    idempotency_key: str | None = None
    """The key the spawn was asked with (`session.spawn`'s `idempotency_key`): asking again with
    it returns this session instead of starting another."""
    budget_exempt: list[str] = []
    """Budgets `aoctl resume` lifted for this session: `session`, `project_day:<day>`, `project_month:<month>`."""
    undelivered: list[Undelivered] = []
    """Messages given up on, newest last (bounded); each is told to a person once."""
    report: AgentReport | None = None
    """What the agent last said of its own work (`session.report`, `human.ask`); cleared when a
    message reaches it (for `working`: stale after the hooks' freshness, aod/activity.py)."""
    hook_activity: str = ""
    """The activity the agent's own hooks last reported (`aoctl hook`), and when."""
    hook_detail: str = ""
    hook_at: str = ""
    # issue 19, best-of-N attempts and roles
    group: str | None = None
    """The group of attempts this session is one of (`aoctl spawn --attempts`), if any."""
    group_picked: bool = False
    """A grouped session that `aoctl pick` kept: from then on it is merged like any other."""
    role: str | None = None
    """The role it was spawned with (`--role`): its prompt went first in the first prompt."""
    role_color: str | None = None
    """The role's color when it was spawned (the dashboard shows it)."""
    role_note: str = ""
    """What the spawn could not do for the role (a tool allow-list this agent's CLI cannot take)."""
    # issue 19, overlap warnings and per-turn checkpoints
    overlaps: list[Overlap] = []
    """The other live sessions changing some of the same files (kept current by the tick)."""
    # issue 19, reviewer agent
    reviews: str = ""
    """kind `reviewer`: the worker session whose PR it reviews."""
    review_round: int = 0
    """kind `reviewer`: which review of that worker it is (1, 2, ...)."""
    review_head: str = ""
    """kind `reviewer`: the PR head SHA its read-only checkout is at."""
    # issue 19, dependencies and stacks
    depends_on: list[str] = []
    """`queued`: what it waits for, as given (`aoctl spawn --after`, a plan's `depends_on`, a
    local issue's `depends_on:`): session ids, or issue ids of its project whose session must merge."""
    stack_parent: str | None = None
    """`--stack`: the session whose branch this one started on (its PR is based on that branch
    until the parent's PR merges)."""
    stack_told: list[str] = []
    """Stack requests already made to this session (aod/stacks.py fingerprints), newest last."""


class PortBlock(msgspec.Struct, kw_only=True, frozen=True):
    first: int
    """The session's AO_PORT_BASE."""
    size: int


class IntakeLedger(Record, kw_only=True, frozen=True):
    """intake/<project>.json: the issues `intake` took, so that a restart, a relabel or a reopened
    issue never starts a second session for one issue. Outlives the sessions (cleanup keeps it)."""

    taken: dict[str, str] = {}
    """Issue id -> the session started for it (or `spawning:<key>` while the spawn is under way)."""


class PortBlocks(Record, kw_only=True, frozen=True):
    """ports.json: the blocks of ports handed to sessions, one allocator for the whole daemon.
    A block is held while its session's directory is in sessions/ (live or ended, not archived)."""

    blocks: dict[str, PortBlock] = {}
    """Session id -> its block."""


# ---------------------------------------------------------------------------------------------
# The reaction ledger (issue 4): per session, what each reaction did, and intents in flight.
# ---------------------------------------------------------------------------------------------


class Intent(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """An action decided and written down BEFORE it is performed; closed after (exactly once)."""

    fingerprint: str
    kind: str
    key: str
    subject: str
    state: str = "pending"
    """pending → done | failed."""
    created_at: str = ""
    finished_at: str = ""
    outcome: str = ""
    payload: bytes = b""
    """The encoded aod.facts.Action, so a restart can finish what a crash interrupted."""


class SessionLedger(Record, kw_only=True, frozen=True):
    session: str
    entries: dict[str, Any] = {}
    """Reaction key → aod.facts.LedgerEntry (as a plain mapping on disk)."""
    intents: list[Intent] = []
    """Newest last; finished ones are kept (bounded) so a fingerprint is never acted on twice."""


# ---------------------------------------------------------------------------------------------
# The local forge (issue 5): issues and PRs of a project, kept in the state dir.
# ---------------------------------------------------------------------------------------------


class LocalComment(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    id: str
    author: str
    body: str
    at: str = ""
    path: str = ""
    line: int | None = None
    resolved: bool = False


class LocalIssue(Record, kw_only=True, frozen=True):
    project: str
    number: int
    title: str
    body: str = ""
    state: str = "open"
    """open | closed"""
    labels: list[str] = []
    created_at: str = ""
    closed_at: str = ""
    comments: list[LocalComment] = []
    # issue 19, dependencies and stacks
    depends_on: list[str] = []
    """Issues of the same project whose PR must merge before a session for this one starts."""


class LocalReview(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    id: str
    state: str
    """approved | changes_requested | commented"""
    author: str
    body: str = ""
    at: str = ""
    head_sha: str = ""


class LocalCheck(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """The project's CI on one head SHA."""

    sha: str
    name: str = "ci"
    state: str = "pending"
    """pending | passing | failing"""
    started_at: str = ""
    finished_at: str = ""
    duration_s: float = 0.0
    exit_code: int | None = None
    summary: str = ""
    log_tail: str = ""
    """Records written before `log_excerpt`: the last part of the output."""
    log_excerpt: str = ""
    """The failure's excerpt of the output (aod.ci_logs: errors, failing tests, tracebacks,
    the last lines); the full log is in forge/<project>/ci/<sha>.log."""


class LocalPR(Record, kw_only=True, frozen=True):
    project: str
    number: int
    branch: str
    base: str
    title: str
    body: str = ""
    session: str = ""
    state: str = "open"
    """open | closed | merged"""
    draft: bool = False
    created_at: str = ""
    head_sha: str = ""
    """The branch's commit when aod last looked."""
    merged_sha: str = ""
    merged_at: str = ""
    reviews: list[LocalReview] = []
    comments: list[LocalComment] = []
    checks: list[LocalCheck] = []
    """Newest last; one per head SHA the CI ran on (bounded)."""


# ---------------------------------------------------------------------------------------------
# Usage and cost (issue 6).
# ---------------------------------------------------------------------------------------------


class ModelUsage(msgspec.Struct, kw_only=True, omit_defaults=True):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: bool = False
    """Some of this model's usage has no known price (its cost is then a lower bound)."""


class SessionPr(Record, kw_only=True, frozen=True):
    """sessions/<id>/pr.json: the session's PR as the forge described it when aod last looked —
    failing checks with their logs' excerpts, the review comments that still matter — with
    secrets taken out. `pr.show` answers from it without asking the forge. Written only when
    what the forge says changes."""

    session: str
    facts: dict[str, Any] | None = None
    """aod.facts.PRFacts, encoded; None: no PR seen yet."""
    changed_at: str = ""
    """When aod first saw the PR as `facts` say."""


class SessionUsage(Record, kw_only=True, frozen=True):
    """sessions/<id>/usage.json: where reading the agent's records got to, and the totals."""

    session: str
    source: str = ""
    """The file being read (the agent's transcript, rollout or history)."""
    cursor: dict[str, Any] = {}
    """aod.usage.UsageCursor, encoded."""
    models: dict[str, ModelUsage] = {}
    cost_usd: float = 0.0
    updated_at: str = ""


# ---------------------------------------------------------------------------------------------
# The dashboard (issue 17).
# ---------------------------------------------------------------------------------------------


class WebToken(Record, kw_only=True, frozen=True):
    """`web-token.json`: the dashboard's token. A browser exchanges it once for a cookie derived
    from it (aod/web/auth.py), so a new token signs every browser out."""

    token: str
    """256 random bits, hex (64 characters)."""
    created_at: str = ""


# ---------------------------------------------------------------------------------------------
# Best-of-N attempts (issue 19): several sessions on one issue, grouped, one of them picked.
# ---------------------------------------------------------------------------------------------


class Group(Record, kw_only=True, frozen=True):
    """groups/<id>.json: the sessions started as attempts at one piece of work (`aoctl spawn
    --attempts N`), and the one a person kept (`aoctl pick`). Outlives its sessions."""

    id: str
    """`g-` and up to 16 characters from a-z and 0-9 (aod.attempts.GROUP_ID_PATTERN)."""
    project: str
    issue: str | None = None
    task: str | None = None
    role: str | None = None
    members: list[str] = []
    """The attempts' session ids, in the order they were started."""
    agents: list[str] = []
    """The agent each attempt was asked to run, in the order of `members` (when all started)."""
    attempts: int = 0
    """How many attempts were asked for in all (the members once every spawn ran)."""
    idempotency_key: str | None = None
    created_at: str = ""
    picked: str | None = None
    """The session kept; None until `aoctl pick`."""
    picked_at: str = ""
    discarded: list[str] = []
    """The other attempts, killed and cleaned up (their work snapshotted) by the pick."""
