"""The reactions as one pure function: what holds now + what was already done → what to do.

    decide(session_id, triggers, resolved, ledger, policies, now) -> Decision(actions, ledger)

No I/O, no clock, no trio. The shell (aod/reactor.py) writes the returned ledger entries and one
intent per action to disk BEFORE performing any action, so a crash never repeats or loses one.

Rules, per trigger (a condition that holds, with a subject naming what exactly triggered it):

- A subject already acted on is never acted on again (the fingerprint is session:key:subject).
- A new subject is acted on (the policy's action) and counted, until `retries` subjects were
  acted on or `escalate_after` seconds passed since the first: then, once, the human is told
  (an escalation notification) and nothing more is sent until the condition resolves.
- `escalate_after` also fires while one subject simply persists (a change request nobody
  answered for 30 minutes).
- Feedback (review comments, `Trigger.feedback`) is not a retry: every new item is forwarded,
  even after an escalation, and counts no attempt; the escalation is about the agent not
  answering (no new head for `escalate_after` since the first feedback told), and only the
  same feedback sent again counts against `retries` (`_forward`).
- An action that failed while its condition holds (`Trigger.failed`: a refused merge the forge
  calls mergeable again) is retried after a doubling backoff, `retries` times per subject,
  then a person is told once (`_retry`).
- A reaction's count resets only when the step says its condition positively resolved (CI
  green, the conflict gone, the agent finished a turn). A trigger merely missing — CI pending
  after a push, a forge that did not answer, a failed probe — changes nothing: a CI loop does
  escalate.

Defaults are in DEFAULT_POLICIES (DESIGN.md §5); `policies_for` deep-merges config over them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from aod.ci_logs import shorten
from aod.facts import REACTION_KEYS, Action, Decision, LedgerEntry, ReactionPolicy, Trigger

KEEP_ACTED: Final = 50
"""Subjects remembered per reaction (newest kept): enough to never repeat a recent one."""
LOG_EXCERPT_CHARS: Final = 6000
"""Per message: the failing logs' excerpts together (an agent reads them, a human may too)."""
COMMENT_CHARS: Final = 2000

MINUTE: Final = 60.0
RETRIES: Final = 2
"""Retries of a failed action (a refused merge) when the policy names no `retries`."""
RETRY_WAIT: Final = 1 * MINUTE
"""The wait before the first retry of a failed action when the policy has no `threshold`; it
doubles with each retry, up to RETRY_WAIT_MAX."""
RETRY_WAIT_MAX: Final = 30 * MINUTE

DEFAULT_POLICIES: Final[Mapping[str, ReactionPolicy]] = {
    p.key: p
    for p in (
        ReactionPolicy(key="ci-failed", action="send-to-agent", retries=2, priority="action"),
        ReactionPolicy(
            key="changes-requested", action="send-to-agent", retries=2, escalate_after=30 * MINUTE,
            priority="action",
        ),
        ReactionPolicy(key="merge-conflicts", action="send-to-agent", escalate_after=15 * MINUTE, priority="action"),
        ReactionPolicy(key="approved-and-green", action="notify", priority="action"),
        ReactionPolicy(key="agent-stuck", action="notify", priority="warning", threshold=10 * MINUTE),
        ReactionPolicy(key="agent-needs-input", action="notify", priority="urgent"),
        ReactionPolicy(key="agent-exited", action="notify", priority="urgent"),
        ReactionPolicy(key="usage-limited", action="pause", priority="info", notify_too=True),
        ReactionPolicy(key="pr-closed", action="notify", priority="info"),
        ReactionPolicy(key="pr-merged", action="cleanup", priority="info", threshold=5 * MINUTE, notify_too=True),
        ReactionPolicy(key="budget-exceeded", action="notify", priority="action"),
        ReactionPolicy(key="review-pending", action="notify", priority="action"),
        ReactionPolicy(key="delivery-failed", action="notify", priority="action"),
        # issue 19, reviewer agent: only with `projects.NAME.review` (retries: its `rounds`).
        ReactionPolicy(key="agent-review", action="start-review", retries=2, priority="action"),
        ReactionPolicy(key="dependency-blocked", action="notify", priority="action"),
    )
}
assert tuple(DEFAULT_POLICIES) == REACTION_KEYS


def policies_for(
    global_overrides: Mapping[str, Mapping[str, Any]],
    project_overrides: Mapping[str, Mapping[str, Any]],
    *,
    auto_merge: bool = False,
) -> dict[str, ReactionPolicy]:
    """Defaults ← `reactions:` ← `projects.NAME.reactions:`, field by field.

    `auto_merge: true` on the project turns approved-and-green into a merge, unless the project
    itself names another action for it.
    """
    out: dict[str, ReactionPolicy] = {}
    for key, default in DEFAULT_POLICIES.items():
        fields = msgspec.structs.asdict(default)
        fields.update(global_overrides.get(key, {}))
        project = dict(project_overrides.get(key, {}))
        if key == "approved-and-green" and auto_merge and "action" not in project:
            project["action"] = "auto-merge"
        fields.update(project)
        out[key] = ReactionPolicy(**fields)
    return out


def marker(fingerprint: str) -> str:
    """A short tag carried by a message to an agent: `[ao:1a2b3c4d]`.

    After a crash mid-paste, finding it on the agent's screen proves the message landed."""
    return f"[ao:{hashlib.sha256(fingerprint.encode()).hexdigest()[:8]}]"


def told_items(entry: LedgerEntry | None) -> frozenset[str]:
    """What changes-requested already told the agent: the parts of its acted subjects (comment
    ids and `review:<id>`), so the next step raises only what is new."""
    if entry is None:
        return frozenset()
    return frozenset(part for subject in entry.acted for part in subject.split(",") if part)


def fingerprint(session_id: str, key: str, subject: str, kind: str) -> str:
    return f"{session_id}:{key}:{subject}:{kind}"


def decide(
    session_id: str,
    triggers: Iterable[Trigger],
    resolved: Iterable[str],
    ledger: Mapping[str, LedgerEntry],
    policies: Mapping[str, ReactionPolicy],
    now: float,
) -> Decision:
    """The actions `triggers` call for, given what `ledger` says was done, and the new entries."""
    actions: list[Action] = []
    changed: dict[str, LedgerEntry] = {}
    holding: set[str] = set()
    for trigger in triggers:
        holding.add(trigger.key)
        policy = policies.get(trigger.key)
        if policy is None or policy.action == "none":
            continue
        entry = changed.get(trigger.key) or ledger.get(trigger.key) or LedgerEntry(key=trigger.key)
        new_actions, new_entry = _react(session_id, trigger, entry, policy, now)
        actions.extend(new_actions)
        if new_entry != entry:
            changed[trigger.key] = new_entry
    for key in resolved:
        if key in holding:
            continue
        entry = ledger.get(key)
        if entry is not None and (entry.attempts or entry.first_at is not None or entry.escalated):
            changed[key] = LedgerEntry(key=key, acted=entry.acted)  # resolved: the count starts over
    return Decision(actions=tuple(actions), ledger=tuple(changed.values()))


def _react(
    session_id: str, trigger: Trigger, entry: LedgerEntry, policy: ReactionPolicy, now: float
) -> tuple[list[Action], LedgerEntry]:
    if trigger.feedback:
        return _forward(session_id, trigger, entry, policy, now)
    if trigger.failed:
        return _retry(session_id, trigger, entry, policy, now)
    escalates = policy.action != "notify"
    overdue = (
        escalates
        and policy.escalate_after is not None
        and entry.first_at is not None
        and now - entry.first_at >= policy.escalate_after
    )
    if trigger.subject in entry.acted or not trigger.fresh:
        if overdue and not entry.escalated:
            action = _escalation(session_id, trigger, entry, policy, "time")
            return [action, *_pr_comment(action, policy)], _replace(entry, escalated=True)
        return [], entry
    acted = (*entry.acted, trigger.subject)[-KEEP_ACTED:]
    if entry.escalated:
        return [], _replace(entry, acted=acted)
    # A merge of a new head is no retry: auto-merge's `retries` are those of a refused merge (_retry).
    counted = escalates and policy.action != "auto-merge"
    out_of_retries = counted and policy.retries is not None and entry.attempts >= policy.retries
    if out_of_retries or overdue:
        action = _escalation(session_id, trigger, entry, policy, "count" if out_of_retries else "time")
        return [action, *_pr_comment(action, policy)], _replace(entry, escalated=True, acted=acted)
    actions = _perform(session_id, trigger, policy, now)
    first_at = entry.first_at if entry.first_at is not None else now
    return actions, _replace(entry, attempts=entry.attempts + 1, first_at=first_at, last_at=now, acted=acted)


def retry_wait(policy: ReactionPolicy, retries_made: int) -> float:
    """Seconds between a failed attempt and the next: `threshold` (or RETRY_WAIT), doubled for
    each retry already made, at most RETRY_WAIT_MAX."""
    first = policy.threshold if policy.threshold is not None else RETRY_WAIT
    return min(first * 2.0**retries_made, max(first, RETRY_WAIT_MAX))


def _retry(
    session_id: str, trigger: Trigger, entry: LedgerEntry, policy: ReactionPolicy, now: float
) -> tuple[list[Action], LedgerEntry]:
    """An action that failed while its condition still holds (the forge refused a merge and now
    says the PR is approved, green and mergeable again): tried again once the backoff since
    the last attempt passed, `retries` times (default RETRIES) per subject; then, once, a
    person is told. Each retry is a subject of its own (`<subject>:retry:<n>`), so each is
    performed once across crashes."""
    given_up = f"{trigger.subject}:failed"
    if policy.action == "notify" or given_up in entry.acted:
        return [], entry
    prefix = f"{trigger.subject}:retry:"
    retries_made = sum(1 for subject in entry.acted if subject.startswith(prefix))
    last = entry.last_at if entry.last_at is not None else entry.first_at
    if last is not None and now - last < retry_wait(policy, retries_made):
        return [], entry  # also before giving up: the last attempt's outcome comes first
    budget = policy.retries if policy.retries is not None else RETRIES
    if retries_made >= budget:
        action = _failed_for_good(session_id, trigger, given_up, retries_made + 1)
        return [action, *_pr_comment(action, policy)], _replace(entry, acted=(*entry.acted, given_up)[-KEEP_ACTED:])
    again = msgspec.structs.replace(trigger, subject=f"{prefix}{retries_made + 1}", failed=False)
    acted = (*entry.acted, again.subject)[-KEEP_ACTED:]
    first_at = entry.first_at if entry.first_at is not None else now
    return _perform(session_id, again, policy, now), _replace(
        entry, attempts=entry.attempts + 1, first_at=first_at, last_at=now, acted=acted
    )


def _failed_for_good(session_id: str, trigger: Trigger, subject: str, attempts: int) -> Action:
    pr = f"PR #{trigger.facts['number']}" if trigger.facts.get("number") else "the PR"
    url = f"\n{trigger.facts['url']}" if trigger.facts.get("url") else ""
    return _human_needed(
        session_id,
        trigger,
        subject,
        f"{session_id}: {pr} could not be merged",
        f"aod tried {attempts} time(s) and the forge refused each; a human is needed. "
        f"`aoctl history {session_id}` shows why; `aoctl merge {session_id}` tries again.{url}",
        "action",
    )


def _human_needed(session_id: str, trigger: Trigger, subject: str, title: str, message: str, priority: str) -> Action:
    """The notification of an escalation: once per subject, with the PR's link facts."""
    data = {k: trigger.facts[k] for k in ("url", "number", "head_sha") if k in trigger.facts}
    return Action(
        kind="notify",
        key=trigger.key,
        subject=subject,
        fingerprint=fingerprint(session_id, trigger.key, subject, "notify"),
        title=title,
        message=message,
        priority=priority,
        data={**data, "escalated": True},
    )


def _forward(
    session_id: str, trigger: Trigger, entry: LedgerEntry, policy: ReactionPolicy, now: float
) -> tuple[list[Action], LedgerEntry]:
    """Feedback (review comments): new feedback is not a retry.

    Every item never told is forwarded (one message per tick for all of them), escalated or
    not, and counts no attempt. Escalation is about the agent not answering: `escalate_after`
    runs from the first feedback told while the episode (the PR's head) stays the same, and a
    new head (the agent pushed) stops the clock until new feedback comes. Only a subject made
    of items already told — the same feedback sent again — counts against `retries`.
    """
    if entry.episode and trigger.episode and trigger.episode != entry.episode:
        # The agent answered since the clock started: whatever comes next starts a new episode.
        entry = _replace(entry, first_at=None, escalated=False, episode="")
    escalates = policy.action != "notify"
    overdue = (
        escalates
        and policy.escalate_after is not None
        and entry.first_at is not None
        and now - entry.first_at >= policy.escalate_after
    )
    late: list[Action] = []
    if overdue and not entry.escalated:
        escalation = _escalation(session_id, trigger, entry, policy, "unanswered")
        late = [escalation, *_pr_comment(escalation, policy)]
    if trigger.subject in entry.acted or not trigger.fresh:
        return late, _replace(entry, escalated=True) if late else entry
    told = told_items(entry)
    new = [item for item in trigger.subject.split(",") if item and item not in told]
    acted = (*entry.acted, trigger.subject)[-KEEP_ACTED:]
    escalated = entry.escalated or bool(late)
    if new:
        first_at = entry.first_at if entry.first_at is not None else now
        actions = [*late, *_perform(session_id, trigger, policy, now)]
        return actions, _replace(
            entry, first_at=first_at, acted=acted, escalated=escalated, episode=trigger.episode or entry.episode
        )
    # Only items told before: the same feedback again, which is a retry.
    if escalated:
        return late, _replace(entry, acted=acted, escalated=True)
    if escalates and policy.retries is not None and entry.attempts >= policy.retries:
        action = _escalation(session_id, trigger, entry, policy, "count")
        return [action, *_pr_comment(action, policy)], _replace(entry, escalated=True, acted=acted)
    first_at = entry.first_at if entry.first_at is not None else now
    return _perform(session_id, trigger, policy, now), _replace(
        entry, attempts=entry.attempts + 1, first_at=first_at, acted=acted, episode=trigger.episode or entry.episode
    )


def _replace(entry: LedgerEntry, **changes: Any) -> LedgerEntry:
    return msgspec.structs.replace(entry, **changes)


def _perform(session_id: str, trigger: Trigger, policy: ReactionPolicy, now: float) -> list[Action]:
    key, subject, facts = trigger.key, trigger.subject, trigger.facts
    title, body = notification_text(session_id, key, facts)
    data: dict[str, object] = {k: facts[k] for k in ("url", "number", "head_sha") if k in facts}
    actions: list[Action] = []

    def add(kind: str, **fields: Any) -> None:
        actions.append(
            Action(kind=kind, key=key, subject=subject, fingerprint=fingerprint(session_id, key, subject, kind), **fields)  # type: ignore[arg-type]
        )

    kind = policy.action
    if key == "pr-merged" and policy.sync_issue:
        # Before the cleanup, which waits for every other intent of the session.
        add("sync-issue", data=data)
    if key == "usage-limited" and facts.get("resumed"):
        # The limit lifted and the session resumed: the agent is told to go on.
        fp = fingerprint(session_id, key, subject, "send-to-agent")
        add("send-to-agent", message=agent_message(key, facts, marker(fp), None), data=data)
        return actions
    if kind == "notify":
        add("notify", title=title, message=body, priority=policy.priority, data=data)
        return actions
    if kind == "send-to-agent":
        fp = fingerprint(session_id, key, subject, kind)
        add(kind, message=agent_message(key, facts, marker(fp), policy.message), data=data)
    elif kind == "auto-merge":
        # One attempt: a refusal parks the session in merge_failed, and _retry decides the next.
        add(kind, data=data)
    elif kind == "pause":
        add(kind, data={k: facts[k] for k in ("resume_at",) if k in facts})
    elif kind == "cleanup":
        add(kind, data={**data, "not_before": now + (policy.threshold or 0.0)})
    elif kind == "restart":
        add(kind, data=data)
    elif kind == "start-review":
        add(kind, data={**data, **{k: facts[k] for k in ("round", "rounds", "base", "base_sha") if k in facts}})
    if policy.notify_too:
        add("notify", title=title, message=body, priority=policy.priority, data=data)
    return actions


def _pr_comment(escalation: Action, policy: ReactionPolicy) -> list[Action]:
    """`comment: true`: the escalation is also said on the PR, where reviewers look."""
    if not policy.comment or not escalation.data.get("number"):
        return []
    return [
        msgspec.structs.replace(
            escalation,
            kind="comment",
            fingerprint=escalation.fingerprint.rsplit(":", 1)[0] + ":comment",
            message=f"**aod:** {escalation.title}\n\n{escalation.message}",
        )
    ]


def _escalation(
    session_id: str, trigger: Trigger, entry: LedgerEntry, policy: ReactionPolicy, why: str
) -> Action:
    # One escalation per episode: the episode is named by the time of its first attempt.
    subject = f"escalate:{int(entry.first_at) if entry.first_at is not None else trigger.subject}"
    title, body = notification_text(session_id, trigger.key, trigger.facts)
    if why == "count":
        lead = f"aod tried {entry.attempts} time(s) and stopped; a human is needed."
    elif why == "unanswered":
        waited = _duration(policy.escalate_after) if policy.escalate_after is not None else "a while"
        lead = f"The agent has not answered this feedback for {waited}; a human is needed."
    else:
        lead = "This has not resolved in time; a human is needed."
    priority = "urgent" if policy.priority == "urgent" else "action"
    return _human_needed(session_id, trigger, subject, f"{title} (escalated)", f"{lead}\n{body}", priority)


# -- texts -------------------------------------------------------------------------------------


def notification_text(session_id: str, key: str, facts: Mapping[str, object]) -> tuple[str, str]:
    """(title, body) for a notification about `key`; the body says what to do next."""
    pr = f"PR #{facts['number']}" if facts.get("number") else "the PR"
    url = f"\n{facts['url']}" if facts.get("url") else ""
    s = session_id
    if key == "ci-failed":
        names = ", ".join(_check_names(facts)) or "some checks"
        return f"{s}: CI failing on {pr}", f"Failing: {names}.{url}\n`aoctl history {s}` shows what aod sent."
    if key == "changes-requested":
        count = len(_list(facts.get("comments")))
        return f"{s}: changes requested on {pr}", f"{count} unaddressed review comment(s).{url}"
    if key == "merge-conflicts":
        return f"{s}: {pr} has merge conflicts", f"It conflicts with {facts.get('base') or 'its base'}.{url}"
    if key == "approved-and-green":
        return f"{s}: {pr} is approved and green", f"Ready to merge: `aoctl merge {s}`.{url}"
    if key == "agent-stuck":
        threshold = facts.get("threshold")
        how_long = _duration(float(threshold)) if isinstance(threshold, int | float) else "a while"
        return (
            f"{s}: no progress for {how_long}",
            f"The agent is busy but nothing changed. `aoctl attach {s}` to look, `aoctl send {s} TEXT` to nudge it.",
        )
    if key == "agent-needs-input":
        question = facts.get("question")
        if isinstance(question, str) and question:
            return f"{s} asks: {_one_line(question, 120)}", f"{question}\n\nAnswer with `aoctl send {s} TEXT` (or on the dashboard)."
        return f"{s} needs your input", f"The agent is waiting for a person. `aoctl attach {s}` to answer."
    if key == "agent-exited":
        status = facts.get("exit_status")
        how = f"with status {status}" if status is not None else "(its process is gone)"
        return (
            f"{s}: agent exited {how}",
            f"`aoctl logs {s}` shows its last output; `aoctl restore {s}` starts it again.",
        )
    if key == "usage-limited":
        at = facts.get("resume_at")
        until = _utc(float(at)) if isinstance(at, int | float) else "its reset time"
        return f"{s} paused: usage limit", f"The agent hit its plan's usage limit; aod resumes it at {until}."
    if key == "pr-closed":
        return f"{s}: {pr} closed without merging", f"The session ended. `aoctl cleanup` removes its worktree.{url}"
    if key == "pr-merged":
        return f"{s}: {pr} merged", f"The session is done; its worktree is cleaned up after a grace period.{url}"
    if key == "review-pending":
        return f"{s}: {pr} is ready for review", f"Its checks are green and it waits for a reviewer.{url}"
    if key == "budget-exceeded":
        return f"{s} paused: budget reached", f"{str(facts.get('reason', 'A budget is reached')).capitalize()}. `aoctl resume {s}` lets it go on; `aoctl cost` shows the spending."
    if key == "agent-review":
        rounds = facts.get("rounds")
        return (
            f"{s}: {pr} has had its reviewer-agent rounds",
            f"aod's reviewer agent reviewed it {rounds or 'the most'} time(s); the new head is left to a person: "
            f"`aoctl pr show {s}`, then `aoctl review {s} ...`.{url}",
        )
    if key == "review-ended":
        return f"{s}: the review ended", "The reviewer's read-only checkout is removed."
    if key == "review-overran":
        why = str(facts.get("why") or "the review did not finish")
        return (
            f"{s}: reviewer ended ({_one_line(why, 80)})",
            f"{why[:1].upper()}{why[1:]}; aod ended the reviewer session. The worker is not waiting for it: "
            f"review its PR yourself, or let the next head start another round. `aoctl logs {s}` shows what it did.",
        )
    if key == "delivery-failed":
        who = str(facts.get("source") or "")
        sender = "your message" if who in ("", "user") else ("the first prompt" if who == "prompt" else f"the {who.removeprefix('reaction:')} message")
        return (
            f"{s}: {sender} did not reach the agent",
            f"aod could not confirm that the agent took message {facts.get('seq', '?')} "
            f"({facts.get('detail') or 'no proof'}); it may still sit in the agent's input. "
            f"`aoctl attach {s}` to look, `aoctl history {s}` shows what was sent.",
        )
    if key == "dependency-blocked":
        return (
            f"{s} cannot start: a dependency ended without merging",
            f"{str(facts.get('reason') or 'A dependency ended without merging')}. It stays queued: "
            f"`aoctl restore` the dependency and get its PR merged, or `aoctl kill {s}`.",
        )
    return f"{s}: {key}", ""


def agent_message(key: str, facts: Mapping[str, object], tag: str, template: str | None = None) -> str:
    """The text sent to the agent for `key`, carrying the facts it needs to act (never only links)."""
    values = _placeholders(facts)
    if template:
        body = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template).strip()
    else:
        body = _default_message(key, values, local=facts.get("local") is True)
    return f"{tag} {body}"


def _default_message(key: str, v: Mapping[str, str], *, local: bool = False) -> str:
    pr = f"PR #{v['number']}" if v.get("number") else "your PR"
    if key == "ci-failed":
        return (
            f"CI failed on {pr} (commit {v['head_sha'][:12]}). Failing checks: {v['checks']}.\n\n"
            f"{v['logs']}\n\n"
            "Please find the cause, fix it, run the relevant tests locally, then commit and push."
        ).replace("\n\n\n\n", "\n\n")
    if key == "changes-requested":
        return (
            f"A reviewer asked for changes on {pr}. The review comments not yet addressed:\n\n"
            f"{v['comments']}\n\n"
            "Please address every comment, then commit and push. Reply in the code, not here."
        )
    if key == "merge-conflicts":
        base = v.get("base") or "the base branch"
        if local:
            # aod's local forge: the base is a branch of this very repository; there is no
            # remote to fetch from, and the forge reads the branch's new head by itself.
            return (
                f"{pr} has merge conflicts with {base}. Please rebase your branch onto the local "
                f"{base} (`git rebase {base}`: the PR lives on aod's local forge, in this "
                "repository, so there is nothing to fetch or push), resolve the conflicts, run the "
                "tests and finish the rebase; aod sees the new head of your branch by itself."
            )
        return (
            f"{pr} has merge conflicts with {base}. Please fetch, rebase your branch onto the latest "
            f"{base}, resolve the conflicts, run the tests, and push (with --force-with-lease)."
        )
    if key == "agent-stuck":
        return (
            "You seem to have made no progress for a while. If you are blocked, say what you need; "
            "otherwise carry on with the task."
        )
    if key == "agent-needs-input":
        return "Please continue with the task; make the most reasonable choice and note it in your summary."
    if key == "usage-limited":
        return "The usage limit has been lifted. Please continue where you left off."
    if key == "budget-exceeded":
        return "Your budget was raised. Please continue where you left off."
    return f"aod: {key}. Please take a look and continue."


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
"""Templates only substitute `{name}`: no attribute or index access (str.format would allow it)."""


def _placeholders(facts: Mapping[str, object]) -> dict[str, str]:
    return {
        "number": str(facts.get("number") or ""),
        "url": str(facts.get("url") or ""),
        "head_sha": str(facts.get("head_sha") or ""),
        "base": str(facts.get("base") or ""),
        "checks": ", ".join(_check_names(facts)) or "(not named)",
        "logs": _logs(facts),
        "comments": _comments(facts),
        "threshold": str(facts.get("threshold") or ""),
        "activity": str(facts.get("activity") or ""),
        "exit_status": str(facts.get("exit_status") if facts.get("exit_status") is not None else ""),
    }


def _list(value: object) -> list[Mapping[str, Any]]:
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def _check_names(facts: Mapping[str, object]) -> list[str]:
    return sorted({str(c.get("name", "?")) for c in _list(facts.get("failing"))})


def _logs(facts: Mapping[str, object]) -> str:
    """Each failing check's name, link, summary and log excerpt, within LOG_EXCERPT_CHARS together."""
    checks = _list(facts.get("failing"))
    if not checks:
        return ""
    budget = LOG_EXCERPT_CHARS // len(checks)
    parts = []
    for check in sorted(checks, key=lambda c: str(c.get("name", ""))):
        lines = [f"--- {check.get('name', '?')} ({check.get('conclusion', 'failed')}) ---"]
        if check.get("url"):
            lines.append(str(check["url"]))
        if check.get("summary"):
            lines.append(str(check["summary"])[:500])
        excerpt = str(check.get("log_excerpt") or "")
        if excerpt:
            lines.append(shorten(excerpt, budget))
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _comments(facts: Mapping[str, object]) -> str:
    comments = _list(facts.get("comments"))
    if not comments:
        return "(The reviewer left no separate comments; see the review on the PR.)"
    lines = []
    for n, c in enumerate(comments, 1):
        where = ""
        if c.get("path"):
            where = f" on {c['path']}" + (f":{c['line']}" if c.get("line") is not None else "")
        body = str(c.get("body", "")).strip()
        if len(body) > COMMENT_CHARS:
            body = body[:COMMENT_CHARS] + " […]"
        lines.append(f"{n}. {c.get('author', 'reviewer')}{where}:\n   " + body.replace("\n", "\n   "))
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    """600 -> '10m', 5400 -> '1h30m', 2 -> '2s'."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return "".join(parts) or "0s"


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _one_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
