"""The reviewer agent's rules (issue 19), pure: when a worker's PR gets a reviewer session, when a
reviewer session ends, how what a reviewer says is recorded, and the reviewer's first prompt.

No I/O, no clock, no trio, no plugin imports. The shell is aod/reactor.py (it asks these rules
each tick and writes what they decide to the reaction ledger before acting) and aod/reviewers.py
(it starts the reviewer in its read-only checkout).

A review round is one reaction of the worker: key `agent-review`, subject the PR's head SHA, so
one head is reviewed at most once across restarts (its fingerprint is in the ledger). The round
limit is the reaction's `retries` (= `review.rounds`): after that many reviews of one worker,
the next new head tells a person once and starts nothing (reactions.decide's escalation). The
count never resets: the limit is about reviewer <-> worker loops, however long they last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import msgspec

from aod.facts import ENDED_STATES, LedgerEntry, PRFacts, ReactionPolicy, Step, Trigger

REVIEWER_KIND: Final = "reviewer"
REVIEW_KEY: Final = "agent-review"
"""The worker's reaction that starts a reviewer (action `start-review`)."""
ENDED_KEY: Final = "review-ended"
"""The reviewer's own reaction when it ends: its session is cleaned up (action `cleanup`)."""
OVERRAN_KEY: Final = "review-overran"
"""The reviewer's own reaction when it ran too long or got stuck: a person is told."""

REVIEWER_POLICIES: Final = {
    ENDED_KEY: ReactionPolicy(key=ENDED_KEY, action="cleanup", priority="info", threshold=0.0),
    OVERRAN_KEY: ReactionPolicy(key=OVERRAN_KEY, action="notify", priority="action"),
}
"""A reviewer session's own reactions, beside the project's (not configurable: a reviewer has
nothing to keep, and its overrun is always worth telling)."""


@dataclass(frozen=True)
class ReviewRule:
    """The part of `projects.NAME.review` the rules read."""

    when: str = "pr_opened"
    """`pr_opened` | `ci_green`"""
    rounds: int = 2
    timeout: float = 1800.0
    may_approve: bool = False


def review_policy(rounds: int, base: ReactionPolicy | None = None) -> ReactionPolicy:
    """The worker's `agent-review` policy: start a reviewer, at most `rounds` times."""
    if base is None:
        return ReactionPolicy(key=REVIEW_KEY, action="start-review", retries=rounds, priority="action")
    return msgspec.structs.replace(base, retries=rounds)


def review_trigger(
    kind: str, pr: PRFacts | None, rule: ReviewRule | None, *, reviewer_running: bool, rounds_done: int
) -> Trigger | None:
    """The worker's `agent-review` trigger this tick, or None.

    A review is due for the head of an open, non-draft PR (with `ci_green`: once its checks
    pass), for worker sessions only (never a reviewer or an orchestrator), and never while a
    reviewer of this worker still runs (its head is looked at again once it ended)."""
    if rule is None or kind != "worker" or pr is None or reviewer_running:
        return None
    if pr.state != "open" or pr.draft or not pr.head_sha:
        return None
    if rule.when == "ci_green" and pr.checks != "passing":
        return None
    facts: dict[str, object] = {
        "head_sha": pr.head_sha, "number": pr.number, "url": pr.url, "base": pr.base, "base_sha": pr.base_sha,
        "round": rounds_done + 1, "rounds": rule.rounds,
    }
    return Trigger(key=REVIEW_KEY, subject=pr.head_sha, facts=facts)


def rounds_done(entry: LedgerEntry | None) -> int:
    """Reviews started for a worker so far (its `agent-review` ledger entry's count)."""
    return entry.attempts if entry is not None else 0


def reviewer_step(
    step: Step, *, reported: str, started_at: float, now: float, timeout: float, worker_ended: bool = False
) -> Step:
    """The lifecycle's step of a reviewer session, ended where a reviewer ends.

    - It said `aoctl report done`: done ("review finished").
    - Its agent exited, or it was killed: the state the lifecycle says (an exit after a `done`
      report is how some agents finish: no agent-exited alarm then).
    - Its worker's session ended (merged, closed, killed, archived): done, there is nothing
      left to review.
    - It ran `timeout` seconds or got stuck: errored, and a person is told (the worker is never
      held up by a reviewer that does not finish).
    Every end cleans the reviewer up (`review-ended`: its read-only checkout goes)."""
    ended = Trigger(key=ENDED_KEY, subject="ended")
    if step.state in ENDED_STATES:
        triggers = step.triggers
        if reported == "done":
            triggers = tuple(t for t in triggers if t.key != "agent-exited")
        return msgspec.structs.replace(step, triggers=(*triggers, ended))
    if reported == "done":
        return _ended(step, "done", "review finished", (ended,))
    if worker_ended:
        return _ended(step, "done", "its worker's session ended", (ended,))
    overran = now - started_at >= timeout
    if overran or step.state == "stuck":
        why = f"the review ran longer than {_minutes(timeout)}" if overran else f"the reviewer got stuck ({step.reason})"
        told = Trigger(key=OVERRAN_KEY, subject="overran", facts={"why": why})
        return _ended(step, "errored", f"{why}; ended", (ended, told))
    return step


def _ended(step: Step, state: str, reason: str, triggers: tuple[Trigger, ...]) -> Step:
    # The reactor journals the state change itself; the step's own events stay as they are.
    kept = tuple(t for t in step.triggers if t.key not in ("agent-stuck", "agent-exited"))
    return msgspec.structs.replace(step, state=state, reason=reason, triggers=(*kept, *triggers))


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g}m" if seconds >= 60 else f"{seconds:g}s"


# -- what a reviewer says --------------------------------------------------------------------------

NO_CHANGES: Final = "No changes requested."


@dataclass(frozen=True)
class Recorded:
    """How one review by a reviewer session is put on the forge."""

    state: str
    """`approved` | `changes_requested` | `commented`"""
    body: str
    resolved: bool = False
    """True: kept on the PR for people, never forwarded to the worker (nothing to address)."""


def reviewer_review(action: str, message: str, *, may_approve: bool) -> Recorded:
    """A reviewer agent's approval counts only with `review.may_approve`; otherwise it is a
    comment saying no changes were requested, which the worker is not sent (a person's
    approval still decides the merge). Comments and change requests go as they are."""
    if action == "approve":
        if may_approve:
            return Recorded("approved", message)
        text = f"{NO_CHANGES} {message.strip()}".strip()
        return Recorded("commented", text, resolved=True)
    if action == "request_changes":
        return Recorded("changes_requested", message)
    return Recorded("commented", message)


def reviewer_author(session_id: str) -> str:
    """The author name of a reviewer session's comments (status and `aoctl pr` show it)."""
    return f"{session_id} (reviewer agent)"


# -- the first prompt --------------------------------------------------------------------------

@dataclass(frozen=True)
class ReviewPromptInputs:
    reviewer: str
    worker: str
    round: int
    rounds: int
    number: str
    title: str
    body: str
    base: str
    head_sha: str
    diff: str
    diffstat: str = ""
    instructions: str = ""
    max_diff_chars: int = 60_000


def review_prompt(p: ReviewPromptInputs) -> str:
    """The reviewer's first prompt: the PR, its diff (bounded), and how to answer."""
    diff = p.diff
    if len(diff) > p.max_diff_chars:
        diff = diff[: p.max_diff_chars] + f"\n[... diff truncated at {p.max_diff_chars} characters; the checkout has all of it]"
    w = p.worker
    parts = [
        f"You are reviewing PR #{p.number} of session {w} (review round {p.round} of at most {p.rounds}). "
        f"You are in a read-only, detached checkout of its head {p.head_sha[:12]}: read the code, run "
        "read-only commands if you need to, but change nothing and push nothing (pushing is refused here).",
        f"Title: {p.title}" if p.title else "",
        f"Description:\n{p.body.strip()}" if p.body.strip() else "",
    ]
    if p.diffstat.strip():
        parts.append(f"Files changed:\n{p.diffstat.rstrip()}")
    parts.append(f"The diff ({p.base}...{p.head_sha[:12]}):\n```diff\n{diff.rstrip()}\n```" if diff.strip() else "The diff is empty.")
    parts.append(
        "Post what you find, one point per command:\n"
        f"- `aoctl review {w} --comment -m \"TEXT\" --file PATH --line N` for a point about a line,\n"
        f"- `aoctl review {w} --comment -m \"TEXT\"` for a general point,\n"
        f"- `aoctl review {w} --request-changes -m \"SUMMARY\"` when the PR must change before it merges,\n"
        f"- `aoctl review {w} --approve -m \"SUMMARY\"` when it is fine (a person still decides the merge).\n"
        "Each comment reaches the author once. Then finish with `aoctl report done \"SUMMARY\"`: "
        "your session ends there."
    )
    if p.instructions.strip():
        parts.append(
            "Review instructions for this project:\n"
            + p.instructions.replace("{worker}", w).replace("{round}", str(p.round)).strip()
        )
    return "\n\n".join(part for part in parts if part)
