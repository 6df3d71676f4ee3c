"""The session lifecycle as one pure function: what one tick observed → the state to be in.

    step(session, observation, now) -> Step(state, reason, triggers, events)

No I/O, no clock, no trio. Every rule below is one row of the transition table in
docs/states.md, and every row there has a case in tests/unit/test_lifecycle.py.

The rules are applied in this order; the first that decides wins:

1. Ended states are sticky (restoring a session is a service operation, not a step).
2. User commands: kill, done, pause, then `merged` (the actor merged the PR).
3. A usage limit that lifts in the future pauses any live session.
4. A paused session holds until its deadline passes or the user resumes it.
5. A spawning session leaves `spawning` only when its agent is seen alive (spawn race).
6. PR facts: merged/closed end the session; an open PR decides the state.
7. No PR: a dead agent ends the session; an unknown liveness changes nothing; a live agent's
   activity decides between working, needs_input and stuck.

A trigger is reported on every step while its condition holds, with a subject that stays the
same while the condition holds, so that a reaction acts on it once (see aod/facts.py).
"""

from __future__ import annotations

from typing import Final

import msgspec

from aod.facts import (
    ENDED_STATES,
    PR_STATES,
    STATES,
    LifecycleEvent,
    Observation,
    PRFacts,
    SessionView,
    Step,
    Trigger,
)

USER_PAUSED: Final = "paused by the user"
USAGE_LIMIT: Final = "usage_limit"
BUDGET: Final = "budget"
"""The reason of a budget pause starts with this (`budget: this session's budget of $5.00 ...`)."""
RESUMED: Final = "resumed"

WAITING_FOR_A_HUMAN: Final = frozenset({"waiting_input", "blocked"})
"""Activities where the agent waits for a person: never stuck, always needs_input."""
RESTING: Final = frozenset({"idle", "ready"})
"""Activities where the agent finished its turn: working (waiting for review), never stuck."""
MAY_BE_STUCK: Final = frozenset({"active", "unknown"})


_Triggers = list[Trigger]


def step(session: SessionView, obs: Observation, now: float, *, stuck_after: float = 600.0) -> Step:
    """Decide the state `session` is in after observing `obs` at `now` (epoch seconds)."""
    if session.state in ENDED_STATES:
        return Step(state=session.state, reason=session.reason)
    decider = _Decider(session, obs, now, stuck_after)
    state, reason, triggers, events = decider.decide()
    if obs.undelivered is not None:
        # Whatever state the session is in, a message that did not reach the agent is told.
        seq, source, detail = obs.undelivered
        triggers.append(
            Trigger(key="delivery-failed", subject=str(seq), facts={"seq": seq, "source": source, "detail": detail})
        )
    if state != session.state:
        events.append(
            LifecycleEvent(kind="state.changed", data={"from": session.state, "to": state, "reason": reason})
        )
    return Step(
        state=state,
        reason=reason,
        triggers=(*triggers, *decider.after),
        resolved=frozenset(decider.resolved),
        events=tuple(events),
    )


class _Decider:
    """One step's working memory; `decide` returns (state, reason, triggers, events)."""

    def __init__(self, session: SessionView, obs: Observation, now: float, stuck_after: float) -> None:
        self.session = session
        self.obs = obs
        self.now = now
        self.stuck_after = stuck_after
        self.commands = frozenset(obs.commands)
        self.events: list[LifecycleEvent] = []
        self.resolved: set[str] = set()
        self.after: list[Trigger] = []
        """Triggers raised on the way, whatever state the rest of the step decides."""
        # The state the facts are judged from, and the reason kept when nothing changes it.
        # A state this version does not know is judged like `working`.
        self.base = session.state if session.state in STATES else "working"
        self.base_reason = session.reason if session.state in STATES else f"unknown state {session.state!r}"

    def result(
        self, state: str, reason: str, triggers: _Triggers | None = None
    ) -> tuple[str, str, _Triggers, list[LifecycleEvent]]:
        return state, reason, list(triggers or ()), self.events

    def hold(self, triggers: _Triggers | None = None) -> tuple[str, str, _Triggers, list[LifecycleEvent]]:
        return self.result(self.base, self.base_reason, triggers)

    def decide(self) -> tuple[str, str, _Triggers, list[LifecycleEvent]]:
        obs, session, now, commands = self.obs, self.session, self.now, self.commands
        pr = obs.pr

        # 2. User commands, in precedence order.
        if "kill" in commands:
            return self.result("killed", "killed by the user")
        if "done" in commands:
            return self.result("done", "marked done by the user")
        if "pause" in commands:
            return self.result("paused", USER_PAUSED)
        if "merged" in commands:
            return self.result("merged", "merged by aod", [_pr_ended("pr-merged", pr, session)])
        resume = "resume" in commands

        # 2b. Queued (issue 19): waits for its dependencies; only the dependency runner starts
        # it (aod/dependents.py). Never stuck, never errored: it has no agent yet.
        if self.base == "queued":
            if obs.dependencies_blocked:
                blocked = Trigger(key="dependency-blocked", subject=obs.dependencies_blocked,
                                  facts={"reason": obs.dependencies_blocked})
                return self.result("queued", obs.dependencies_blocked, [blocked])
            return self.hold()

        # 3a. A budget reached (`aoctl resume` lifts it: the next observation is not over it).
        if obs.over_budget and not resume:
            if self.base == "paused" and session.reason == USER_PAUSED:
                return self.hold()
            reached = Trigger(key="budget-exceeded", subject=obs.budget_key or "budget", facts={"reason": obs.over_budget})
            return self.result("paused", f"{BUDGET}: {obs.over_budget}", [reached])

        # 3b. A usage limit that has not lifted yet.
        limit = obs.usage_limit_until
        if obs.liveness == "alive" and (limit is None or limit <= now):
            self.resolved.add("usage-limited")
        if limit is not None and limit > now:
            if self.base == "paused" and session.reason == USER_PAUSED and not resume:
                return self.hold()  # the user paused it: the user resumes it
            usage = Trigger(key="usage-limited", subject=str(int(limit)), facts={"resume_at": limit})
            return self.result("paused", USAGE_LIMIT, [usage])

        # 4. Paused: hold until the deadline of THIS pause passes or the user resumes.
        if self.base == "paused":
            if resume:
                why = "resumed by the user"
            else:
                deadline = session.paused_until
                if deadline is None or deadline <= session.since:
                    return self.hold()  # no deadline, or one left over from an earlier pause
                if deadline > now:
                    return self.hold()
                why = "pause deadline passed"
                if session.reason == USAGE_LIMIT:
                    # The plan's limit lifted: the agent is told to go on (once per pause).
                    self.after.append(
                        Trigger(key="usage-limited", subject=f"resume:{int(deadline)}", facts={"resumed": True})
                    )
            self.events.append(LifecycleEvent(kind="resumed", data={"reason": why}))
            self.base, self.base_reason = "working", RESUMED

        # 5. Spawning: never probed dead (the runtime may not have the agent yet).
        if self.base == "spawning":
            if obs.liveness != "alive":
                return self.hold()
            self.base, self.base_reason = "working", "agent started"

        # 6. PR facts.
        if pr is not None and pr.state == "merged":
            return self.result("merged", "PR merged", [_pr_ended("pr-merged", pr, session)])
        if pr is not None and pr.state == "closed":
            return self.result("closed", "PR closed without merging", [_pr_ended("pr-closed", pr, session)])
        merge_failed = "merge_failed" in commands
        if pr is not None:
            self.resolved |= _pr_resolved(pr)
            state, reason, triggers = self.open_pr(pr, merge_failed)
            return self.result(state, reason, triggers + self.agent_beside_a_pr())
        if self.base in PR_STATES:
            # No PR facts this tick (forge unreachable, not asked yet): what we knew holds.
            if merge_failed:
                return self.result("merge_failed", "merge failed", self.agent_beside_a_pr())
            return self.hold(self.agent_beside_a_pr())

        # 7. No PR.
        if obs.liveness == "dead":
            status = obs.exit_status
            if status == 0:
                return self.result("done", "agent exited", self.exited(session_ends=True))
            reason = f"agent exited with status {status}" if status is not None else "agent is gone"
            return self.result("errored", reason, self.exited(session_ends=True))
        if obs.liveness != "alive":
            return self.hold(self.still_waiting())
        self.resolved |= _agent_resolved(obs.activity)
        return self.live_agent()

    # -- an open PR ----------------------------------------------------------------------------

    def open_pr(self, pr: PRFacts, merge_failed: bool) -> tuple[str, str, _Triggers]:
        triggers: _Triggers = []
        where: dict[str, object] = {"head_sha": pr.head_sha, "number": pr.number, "url": pr.url}

        failing = pr.checks == "failing"
        names = sorted({c.name for c in pr.failing})
        if failing:
            triggers.append(
                Trigger(
                    key="ci-failed",
                    subject=f"{pr.head_sha}:{','.join(names)}",
                    facts={"failing": [msgspec.structs.asdict(c) for c in pr.failing], **where},
                )
            )
        changes = pr.review == "changes_requested"
        seen = self.obs.seen
        unseen = [c for c in pr.comments if c.id not in seen]
        if changes or unseen:
            # The subject names what is new: the unseen comments, and the review when this
            # request for changes was not told yet. A push does not make a review new (the
            # reviewer has not looked again), but it is the agent's answer (the episode).
            # Nothing new: the trigger still holds (for escalate_after) but is not fresh, so
            # nothing is sent again.
            told = f"review:{pr.review_id}" if pr.review_id else f"review:{pr.head_sha}"
            parts = sorted(c.id for c in unseen)
            if changes and told not in seen:
                parts.append(told)
            triggers.append(
                Trigger(
                    key="changes-requested",
                    subject=",".join(parts) if parts else "told",
                    fresh=bool(parts),
                    feedback=True,
                    episode=pr.head_sha,
                    facts={"comments": [msgspec.structs.asdict(c) for c in unseen], **where},
                )
            )
        conflicting = pr.mergeable == "conflicting"
        if conflicting:
            triggers.append(
                Trigger(
                    key="merge-conflicts",
                    subject=f"{pr.head_sha}:{pr.base_sha}",
                    facts={"base": pr.base, "base_sha": pr.base_sha, **({"local": True} if pr.local else {}), **where},
                )
            )

        checks_ok = pr.checks in ("passing", "none")
        if failing:
            state = "ci_failed"
            reason = f"checks failing: {', '.join(names)}" if names else "checks failing"
        elif changes:
            state, reason = "changes_requested", "changes requested"
        elif pr.review == "approved" and not pr.draft:
            if checks_ok and pr.mergeable == "mergeable":
                if self.base == "merge_failed":
                    # The forge says it can be merged again: the refusal's cause may be gone
                    # (when to retry, and how often, is the reactions' rule).
                    state, reason = "merge_failed", self.base_reason or "merge failed"
                    triggers.append(
                        Trigger(key="approved-and-green", subject=pr.head_sha, failed=True, facts=dict(where))
                    )
                else:
                    state, reason = "mergeable", "approved, checks green, mergeable"
                    triggers.append(Trigger(key="approved-and-green", subject=pr.head_sha, facts=dict(where)))
            else:
                state = "approved"
                if conflicting:
                    reason = "merge conflicts"
                elif not checks_ok:
                    reason = "approved, checks pending"
                elif pr.mergeable == "blocked":
                    reason = "approved, merge blocked"
                else:
                    reason = "approved, mergeability not known yet"
        else:
            state = "review_pending" if checks_ok else "pr_open"
            if conflicting:
                reason = "merge conflicts"
            elif pr.draft:
                reason = "draft"
            else:
                reason = "waiting for review" if checks_ok else "checks pending"
            if state == "review_pending" and reason == "waiting for review" and not merge_failed:
                # Ready for a person to look at: said once per head (a push asks again).
                triggers.append(Trigger(key="review-pending", subject=pr.head_sha, facts=dict(where)))

        if merge_failed:
            state, reason = "merge_failed", "merge failed"
            triggers = [t for t in triggers if t.key != "approved-and-green"]
        return state, reason, triggers

    # -- the agent -----------------------------------------------------------------------------

    def exited(self, *, session_ends: bool) -> _Triggers:
        """agent-exited while the agent is definitely dead (empty otherwise).

        The subject names the agent's incarnation, so a restored agent's next exit is new:
        when the session ends with this step, the time it entered its state (a restore sets
        `working`); when it goes on (an open PR), the last sign of progress, which stops moving
        once the agent is dead, while `since` would move with every PR state change.
        """
        obs = self.obs
        if obs.liveness != "dead":
            return []
        status = obs.exit_status
        subject = f"exit:{status if status is not None else 'gone'}"
        mark = self.session.since if session_ends else obs.last_progress
        if mark is not None:
            subject += f":{int(mark)}"
        return [Trigger(key="agent-exited", subject=subject, facts={"exit_status": status})]

    def since_or_now(self, state: str) -> str:
        """A subject stable while the session stays in `state`: the time it entered it."""
        if self.session.state == state:
            return str(int(self.session.since))
        return str(int(self.now))

    def agent_beside_a_pr(self) -> _Triggers:
        """With a PR open the PR decides the state, but the agent can still exit, or stop at a
        permission prompt halfway through a fix: a person must hear of both."""
        if self.obs.liveness == "dead":
            return self.exited(session_ends=False)
        if self.obs.liveness != "alive":
            return []
        self.resolved |= _agent_resolved(self.obs.activity) - {"agent-stuck"}
        if self.obs.activity in WAITING_FOR_A_HUMAN:
            return [self.needs_input(self.obs.activity)]
        return []

    def needs_input(self, activity: str) -> Trigger:
        # The time the agent began to wait is on disk before this step runs (the observer
        # records activity first), so the subject survives a crash between deciding and
        # persisting; `since` is only the fallback.
        waiting_since = self.obs.activity_since
        subject = str(int(waiting_since)) if waiting_since is not None else self.since_or_now("needs_input")
        facts: dict[str, object] = {"activity": activity}
        if self.obs.question is not None:
            # The agent asked in words (`human.ask`): each question is told, even while it waits.
            if self.obs.reported_at is not None:
                subject = f"asked:{int(self.obs.reported_at)}"
            facts["question"] = self.obs.question
        return Trigger(key="agent-needs-input", subject=subject, facts=facts)

    def stuck(self) -> Trigger:
        facts: dict[str, object] = {"threshold": self.stuck_after}
        progress = self.obs.last_progress
        if progress is not None:
            facts["last_progress"] = progress
        # Stuck since the last sign of progress: the same episode until progress moves.
        subject = str(int(progress)) if progress is not None else self.since_or_now("stuck")
        return Trigger(key="agent-stuck", subject=subject, facts=facts)

    def still_waiting(self) -> _Triggers:
        """Liveness unknown: the state holds, and so does the condition it was entered for."""
        if self.base == "needs_input" and self.session.state == "needs_input":
            return [self.needs_input(self.obs.activity)]
        if self.base == "stuck" and self.session.state == "stuck":
            return [self.stuck()]
        return []

    def live_agent(self) -> tuple[str, str, _Triggers, list[LifecycleEvent]]:
        activity = self.obs.activity
        if activity in WAITING_FOR_A_HUMAN:
            reason = "agent waits for input" if activity == "waiting_input" else "agent blocked on a dialog"
            if self.obs.question is not None:
                said = first_words(self.obs.question)
                reason = f"agent asks: {said}" if activity == "waiting_input" else f"agent is blocked: {said}"
            return self.result("needs_input", reason, [self.needs_input(activity)])
        if activity in RESTING:
            return self.result("working", f"agent {activity}")
        progress = self.obs.last_progress
        never_stuck = self.session.kind == "orchestrator"  # it waits on workers and people by design
        if activity in MAY_BE_STUCK and progress is not None and self.now - progress >= self.stuck_after and not never_stuck:
            return self.result("stuck", f"no progress for {int(self.stuck_after)} s", [self.stuck()])
        return self.result("working", "agent working" if activity == "active" else "agent running")


def wants_pr(open_pr: str, *, known_without_pr: bool, state: str, activity: str) -> bool:
    """`open_pr: auto`: aod opens the PR itself for a working session whose agent finished its
    turn and the forge says has no PR (whether the branch has commits is asked afterwards)."""
    return open_pr == "auto" and known_without_pr and state == "working" and activity in RESTING


PUSHABLE_STATES: Final = frozenset(
    {"working", "needs_input", "stuck", "pr_open", "ci_failed", "review_pending", "changes_requested",
     "approved", "mergeable", "merge_failed"}
)
"""States whose branch aod pushes (`push: auto`): the agent's work goes on; not while paused."""
RETRY_FIRST: Final = 60.0
RETRY_MAX: Final = 3600.0


def wants_push(push: str, *, state: str, activity: str) -> bool:
    """`push: auto`: aod pushes the session branch itself when the agent finished its turn (so
    a commit is not pushed half-way through a rebase); whether there is anything to push, and
    whether it was pushed already, is asked afterwards (`attempt_due`)."""
    return push == "auto" and state in PUSHABLE_STATES and activity in RESTING


def attempt_due(head: str, last_head: str | None, failures: int, last_at: float, now: float) -> bool:
    """Whether aod tries (a push, opening the PR) for the branch at `head` now. A head it has
    not tried: yes. One that worked (failures 0): never again. One the remote or the forge
    refused: again after a backoff that doubles from RETRY_FIRST to RETRY_MAX, since the cause
    (the agent has not pushed yet, a protected branch, the forge down) may go away on its own."""
    if head != last_head:
        return True
    if failures <= 0:
        return False
    return now >= last_at + min(RETRY_MAX, RETRY_FIRST * 2 ** (failures - 1))


def _pr_resolved(pr: PRFacts) -> set[str]:
    """PR conditions that are positively over. Pending or absent checks are not green (right
    after a push a forge shows none yet), an unknown mergeability is not conflict-free, and a
    push does not answer a change request: the reviewer must."""
    resolved = set()
    if pr.checks == "passing":
        resolved.add("ci-failed")
    if pr.review != "changes_requested" and not pr.comments:
        resolved.add("changes-requested")
    if pr.mergeable == "mergeable":
        resolved.add("merge-conflicts")
    if not (pr.review == "approved" and pr.mergeable == "mergeable" and pr.checks in ("passing", "none")):
        resolved.add("approved-and-green")
    return resolved


def _agent_resolved(activity: str) -> set[str]:
    """Agent conditions that are over. Output on screen is not: the nudge aod pasted moves the
    screen too. A finished turn (idle) is: the agent got going again, and a restarted agent that
    reached idle did not just crash again on start-up."""
    resolved = set()
    if activity in RESTING or activity in WAITING_FOR_A_HUMAN:
        resolved.add("agent-stuck")
    if activity not in WAITING_FOR_A_HUMAN:
        resolved.add("agent-needs-input")
    if activity == "idle":
        resolved.add("agent-exited")
    return resolved


def _pr_ended(key: str, pr: PRFacts | None, session: SessionView) -> Trigger:
    if pr is None:
        return Trigger(key=key, subject=f"{session.id}:{key}")
    return Trigger(key=key, subject=pr.number, facts={"number": pr.number, "url": pr.url, "head_sha": pr.head_sha})


def first_words(text: str, limit: int = 160) -> str:
    """A report's text as one line for a state's reason."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
