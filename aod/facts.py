"""The values the pure core works on: what was observed, what the lifecycle concluded, what the
reactions decided. No I/O, no clock: time arrives as `now` (epoch seconds) in arguments.

    observation ──lifecycle.step──▶ Step(state, reason, triggers, events)
    Step + ledger + config ──reactions.decide──▶ Decision(actions, ledger updates)

A *trigger* is a condition that holds right now and that a reaction may answer (CI failing on
this head, these review comments unseen, ...). It is reported on every tick while it holds, with
a *subject* naming exactly what triggered it, so that one subject is acted on once and the
attempt count of a reaction can grow across subjects until the condition resolves.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

STATES: Final = (
    "spawning", "working", "needs_input", "stuck", "paused",
    "pr_open", "ci_failed", "review_pending", "changes_requested", "approved", "mergeable",
    "merge_failed", "merged", "closed", "done", "errored", "killed", "archived",
    "queued",
)
ENDED_STATES: Final = frozenset({"merged", "closed", "done", "errored", "killed", "archived"})
PR_STATES: Final = frozenset(
    {"pr_open", "ci_failed", "review_pending", "changes_requested", "approved", "mergeable", "merge_failed"}
)

REACTION_KEYS: Final = (
    "ci-failed", "changes-requested", "merge-conflicts", "approved-and-green", "agent-stuck",
    "agent-needs-input", "agent-exited", "usage-limited", "pr-closed", "pr-merged", "budget-exceeded",
    "review-pending",
    "delivery-failed",
    "agent-review",
    "dependency-blocked",
)
PRIORITIES: Final = ("urgent", "action", "warning", "info")

Liveness = Literal["alive", "dead", "unknown"]
ChecksState = Literal["none", "pending", "passing", "failing"]
ReviewDecision = Literal["none", "review_required", "approved", "changes_requested"]
Mergeability = Literal["unknown", "mergeable", "conflicting", "blocked"]


class CheckFact(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    name: str
    conclusion: str
    """`failure`, `success`, `pending`, ... as the forge reports it."""
    url: str = ""
    summary: str = ""
    log_excerpt: str = ""
    """A bounded excerpt of the failing log (failing step, error lines, last lines)."""


class CommentFact(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    author: str
    body: str
    path: str = ""
    line: int | None = None
    bot: bool = False
    at: str = ""
    """When it was written (ISO 8601), where the forge says."""
    url: str = ""


class PRFacts(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    number: str
    url: str = ""
    review_id: str = ""
    """The id of the latest review that set `review` (a new request for changes is a new id)."""
    state: Literal["open", "closed", "merged"] = "open"
    draft: bool = False
    head_sha: str
    base: str = ""
    base_sha: str = ""
    checks: ChecksState = "none"
    failing: tuple[CheckFact, ...] = ()
    review: ReviewDecision = "none"
    mergeable: Mergeability = "unknown"
    comments: tuple[CommentFact, ...] = ()
    """Review comments not yet sent to the agent (the forge plugin filters seen ids)."""
    local: bool = False
    """The PR is on aod's local forge: its head and base are branches of the project repository
    itself, with no remote to fetch from or push to (the messages to the agent say so)."""


class Observation(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Everything the tick learned about one session, as plain values."""

    liveness: Liveness = "unknown"
    activity: str = "unknown"
    exit_status: int | None = None
    activity_since: float | None = None
    """Epoch seconds the agent's activity became what it is (the record's `activity_at`)."""
    last_progress: float | None = None
    """Epoch seconds of the last sign of progress (new output, activity change, new commit);
    None when unknown (then the session is never called stuck)."""
    pr: PRFacts | None = None
    usage_limit_until: float | None = None
    """The agent reported a plan usage limit lifting at this epoch time."""
    over_budget: str | None = None
    """A budget is reached: the sentence saying which (the session pauses, reason `budget: ...`)."""
    budget_key: str | None = None
    """Which budget and period: `session`, `project_day:<day>`, `project_month:<month>`."""
    seen: frozenset[str] = frozenset()
    """Review items already told to the agent (comment ids, `review:<id>`), from the ledger."""
    undelivered: tuple[int, str, str] | None = None
    """The newest message aod gave up delivering: (outbox seq, who sent it, what happened)."""
    question: str | None = None
    """The agent's own words while it reports being blocked or asks (`session.report`, `human.ask`)."""
    reported_at: float | None = None
    """Epoch seconds of that report: each question is its own episode."""
    commands: tuple[str, ...] = ()
    """User commands since the last step: `kill`, `pause`, `resume`, `done`, `merge_failed`
    (the actor reports a failed merge), `merged` (the actor merged)."""
    # issue 19, dependencies and stacks
    dependencies_blocked: str | None = None
    """A queued session: the sentence saying which dependency ended without merging
    (aod/dependencies.py); a person is told once per sentence."""


class Trigger(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    key: str
    """One of REACTION_KEYS."""
    subject: str
    """What exactly triggered it; the same subject is acted on at most once."""
    facts: dict[str, object] = {}
    """What a message or notification needs (failing checks, comments, exit status, ...)."""
    fresh: bool = True
    """False: the condition still holds but has nothing new to act on (every comment was told):
    it keeps the reaction's episode open for `escalate_after`, and is never acted on."""
    failed: bool = False
    """True: aod's action on this subject failed (a refused merge) and the condition still
    holds: reactions.decide tries again on a backoff within `retries`, then tells a person."""
    feedback: bool = False
    """True: the subject is what people said (review comments, a request for changes), made of
    comma-joined item ids. New feedback is not a retry: every item never told is forwarded, and
    is not counted against `retries` (reactions.decide)."""
    episode: str = ""
    """feedback: what the agent's answer moves (the PR's head SHA). While it stays the same the
    agent has not answered, and `escalate_after` runs from the first feedback told; when it
    changes the agent answered, and the clock stops until new feedback comes."""


class LifecycleEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    kind: str
    """`state.changed` (data: from, to, reason), or another kind named in docs/states.md."""
    data: dict[str, object] = {}


class Step(msgspec.Struct, frozen=True, kw_only=True):
    state: str
    reason: str
    triggers: tuple[Trigger, ...] = ()
    resolved: frozenset[str] = frozenset()
    """Reaction keys whose condition is positively over (CI green, conflict gone, the agent
    finished a turn): their attempt counts reset. Absence of a trigger is not enough: a CI
    that is pending again after a push, a forge that did not answer, the screen moving because
    of our own nudge, none of these resolves anything (or a loop would never escalate)."""
    events: tuple[LifecycleEvent, ...] = ()


class SessionView(msgspec.Struct, frozen=True, kw_only=True):
    """The part of a session record the pure core reads."""

    id: str
    state: str
    reason: str = ""
    since: float = 0.0
    """Epoch seconds the session entered `state`."""
    paused_until: float | None = None
    kind: str = "worker"
    """`orchestrator`: waiting is its job, so it is never called stuck."""


# -- reactions ---------------------------------------------------------------------------------


class LedgerEntry(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What the ledger knows about one (session, reaction key)."""

    key: str
    attempts: int = 0
    """Subjects acted on since the trigger last resolved."""
    first_at: float | None = None
    """When the first of those attempts was made (for `escalate_after`)."""
    acted: tuple[str, ...] = ()
    """Subjects already acted on (fingerprints), newest last, bounded."""
    escalated: bool = False
    episode: str = ""
    """feedback: the trigger's `episode` (the head SHA) when the escalation clock started."""
    last_at: float | None = None
    """When the last attempt was made (a retry after a failed action waits from it)."""


ActionKind = Literal["send-to-agent", "notify", "auto-merge", "restart", "pause", "cleanup", "comment", "start-review", "sync-issue"]


class Action(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    kind: ActionKind
    key: str
    """The reaction that asked for it."""
    subject: str
    fingerprint: str
    """`<session>:<key>:<subject>:<kind>`: an intent with this fingerprint is performed once."""
    message: str = ""
    """send-to-agent: the text; notify: the notification body."""
    title: str = ""
    priority: str = "info"
    data: dict[str, object] = {}


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    actions: tuple[Action, ...] = ()
    ledger: tuple[LedgerEntry, ...] = ()
    """The new entries for every key whose entry changed (resets included)."""


ReactionActionName = Literal[
    "send-to-agent", "notify", "auto-merge", "restart", "pause", "cleanup", "none", "start-review"
]


class ReactionPolicy(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """How one reaction behaves for one project (defaults deep-merged with config)."""

    key: str
    action: ReactionActionName
    retries: int | None = None
    """Subjects acted on before escalating; None: never escalate by count."""
    escalate_after: float | None = None
    """Seconds after the first attempt before escalating; None: never by time."""
    priority: str = "info"
    """Priority of the notification (the action's own when it is `notify`, else the escalation's)."""
    threshold: float | None = None
    """agent-stuck: seconds without progress. pr-merged: grace before cleanup."""
    message: str | None = None
    """A template overriding the built-in message; `{placeholders}` from the trigger's facts."""
    notify_too: bool = False
    """Also notify (at `priority`) when the action is not `notify` itself."""
    comment: bool = False
    """On escalation, also post the notification's text as a comment on the PR."""
    sync_issue: bool = False
    """pr-merged: also tell the tracker (`projects.NAME.issue_sync`: link the PR, move the issue)."""
