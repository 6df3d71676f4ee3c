"""PURE: the orchestrator agent's policy and its prompt.

    spawn_refusal(policy, ...) -> str | None     why aod refuses the orchestrator's spawn, or None
    merge_refusal(policy) -> str | None
    compose(OrchestratorInputs) -> str           the orchestrator's first prompt
    resume_prompt(project) -> str                its prompt after a restore

aod enforces the policy on the orchestrator session's own calls, so a prompt that the agent
ignores changes nothing. No I/O: the callers (aod/orchestrating.py, aod/spawn.py, the pr
handlers) read the fleet and the issues and pass them in.

May import: nothing of aod but values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

KIND: Final = "orchestrator"
WORKER: Final = "worker"
MAX_ISSUES_SHOWN: Final = 50
MAX_TITLE: Final = 120


@dataclass(frozen=True)
class Policy:
    max_workers: int = 4
    labels: tuple[str, ...] = ()
    tasks: bool = True
    may_merge: bool = False


@dataclass(frozen=True)
class IssueLine:
    id: str
    title: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class SessionLine:
    id: str
    state: str
    reason: str
    issue: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class OrchestratorInputs:
    session_id: str
    project: str
    policy: Policy
    issues: Sequence[IssueLine] = ()
    sessions: Sequence[SessionLine] = ()
    budgets: Sequence[str] = field(default_factory=tuple)
    """Each configured budget in words ("each session: $5.00")."""
    has_mcp: bool = True


def spawn_refusal(
    policy: Policy, *, live_workers: int, issue: str | None, issue_labels: Sequence[str] | None, spent: str | None = None
) -> str | None:
    """Why the orchestrator may not start this worker now, in words for it to act on; None: it may.
    `spent`: a budget of the project's that is reached (the daily or monthly cap), in words."""
    if spent is not None:
        return f"policy: {spent}; no new workers until it resets or the human raises it"
    if live_workers >= policy.max_workers:
        return (f"policy: at most {policy.max_workers} workers at once and {live_workers} are live; "
                "wait for one to finish (or ask the human to raise orchestrator.max_workers)")
    if issue is None:
        return None if policy.tasks else "policy: the orchestrator may start workers on issues only, not on free-form tasks"
    if policy.labels:
        if issue_labels is None:
            return f"policy: issue {issue}'s labels could not be read, and only issues labelled {', '.join(policy.labels)} may be taken"
        if not set(policy.labels) & set(issue_labels):
            return f"policy: issue {issue} has none of the labels the orchestrator may take ({', '.join(policy.labels)})"
    return None


def merge_refusal(policy: Policy) -> str | None:
    if policy.may_merge:
        return None
    return "policy: the orchestrator may not merge; the human merges (or sets orchestrator.may_merge)"


def _one_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def compose(inputs: OrchestratorInputs) -> str:
    policy = inputs.policy
    parts = [
        f"You are the orchestrator of project {inputs.project} (session {inputs.session_id}). You plan the "
        "work and drive a fleet of worker agents; you never edit code or the workers' worktrees yourself. "
        "Each worker runs in its own git worktree and branch, and aod carries it from issue to merged "
        "pull request: CI failures and review comments go back to it by themselves.",
    ]
    if inputs.has_mcp:
        parts.append(
            "Act only through aod's MCP tools (server `aod`): issues_list and issue_show to read the backlog; "
            "session_spawn to start a worker on an issue (always with reuse_live: true and an idempotency_key "
            "such as `issue-<id>`, so asking twice never starts two); sessions_list, session_get, "
            "session_history and pr_readiness to follow them; session_send to tell a worker something; "
            "human_ask when only a person can decide (then wait for the answer, which comes here as a "
            "message); session_report to say where your plan stands."
        )
    else:
        parts.append(
            "Act only through `aoctl`: `aoctl --json issue list`, `aoctl --json spawn ISSUE --reuse-live --key "
            "issue-ISSUE`, `aoctl --json status`, `aoctl history ID`, `aoctl pr show ID`, `aoctl send ID TEXT`, "
            "`aoctl ask \"QUESTION\"` (then wait for the answer, which comes here as a message), "
            "`aoctl report working|done \"PLAN\"`."
        )
    rules = [f"at most {policy.max_workers} workers at once"]
    rules.append(f"only issues labelled {', '.join(policy.labels)}" if policy.labels else "any open issue")
    rules.append("free-form tasks allowed" if policy.tasks else "no free-form tasks")
    rules.append("you may merge approved, green PRs" if policy.may_merge else "you may not merge: the human does")
    parts.append("aod enforces these limits and refuses a call that breaks one, with the reason: " + "; ".join(rules) + ".")
    if inputs.budgets:
        parts.append("Budgets (a worker that reaches one is paused): " + "; ".join(inputs.budgets) + ".")
    if inputs.issues:
        shown = list(inputs.issues)[:MAX_ISSUES_SHOWN]
        lines = [f"- {i.id}: {_one_line(i.title, MAX_TITLE)}" + (f" [{', '.join(i.labels)}]" if i.labels else "") for i in shown]
        more = len(inputs.issues) - len(shown)
        parts.append("Open issues now:\n" + "\n".join(lines) + (f"\n(and {more} more: issues_list)" if more > 0 else ""))
    else:
        parts.append("There are no open issues now.")
    if inputs.sessions:
        lines = [
            f"- {s.id} ({'issue ' + s.issue if s.issue else _one_line(s.title or 'task', 60)}): {s.state}, {_one_line(s.reason, 80)}"
            for s in inputs.sessions
        ]
        parts.append("Workers now:\n" + "\n".join(lines))
    else:
        parts.append("No workers are running now.")
    parts.append(
        "First make a short plan: which issues to take, in which order, and why; report it with "
        "session_report (status working). Then start the workers, follow them, and answer what they "
        "need. When every issue you can take is done or taken, report done and wait for messages."
    )
    return "\n\n".join(parts)


def resume_prompt(session_id: str, project: str) -> str:
    """After a restore: the fleet moved on meanwhile, so it looks again rather than being told."""
    return (
        f"You are the orchestrator of project {project} again (session {session_id}), restarted. Look at "
        "where things stand with sessions_list and issues_list (or `aoctl --json status` and "
        "`aoctl --json issue list`) before you act, then carry on with your plan."
    )


@dataclass(frozen=True)
class IntakeChoice:
    start: tuple[str, ...] = ()
    """Issues to start a worker on now, in order."""
    resume: tuple[str, ...] = ()
    """Issues whose spawn was under way when aod stopped: spawned again with the same key, which
    answers with the session if it was made."""


def intake_choice(issues: Sequence[str], taken: dict[str, str], *, live_workers: int, max_workers: int) -> IntakeChoice:
    """Which of the matching open `issues` intake starts now: never one it took before (`taken`,
    its ledger), and no more than `max_workers` live at once (the orchestrator's policy)."""
    resume = tuple(i for i in issues if taken.get(i, "").startswith("spawning:"))
    room = max(0, max_workers - live_workers - len(resume))
    fresh = [i for i in issues if i not in taken]
    return IntakeChoice(start=tuple(fresh[:room]), resume=resume)
