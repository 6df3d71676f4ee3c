"""Time under trio's MockClock: the real Ticker drives the pure core every 5 s of virtual time,
so a 10-minute stuck threshold and a 30-minute escalation are checked in milliseconds."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
import trio
import trio.testing

from aod import lifecycle, reactions
from aod.facts import Action, CommentFact, LedgerEntry, Observation, PRFacts, SessionView
from aod.poller import Ticker

MARGIN = 60.0


@dataclass
class Simulated:
    """One session as the shell would keep it: the record, the ledger, and what was done."""

    view: SessionView
    ledger: dict[str, LedgerEntry] = field(default_factory=dict)
    ticks: list[float] = field(default_factory=list)
    states: list[tuple[float, str]] = field(default_factory=list)
    actions: list[tuple[float, Action]] = field(default_factory=list)

    def tick(self, observation: Observation, policies: dict[str, reactions.ReactionPolicy]) -> None:
        now = trio.current_time()
        self.ticks.append(now)
        stuck_after = policies["agent-stuck"].threshold or 600.0
        result = lifecycle.step(self.view, observation, now, stuck_after=stuck_after)
        decision = reactions.decide(self.view.id, result.triggers, result.resolved, self.ledger, policies, now)
        self.ledger.update({e.key: e for e in decision.ledger})
        since = now if result.state != self.view.state else self.view.since
        self.view = msgspec.structs.replace(self.view, state=result.state, reason=result.reason, since=since)
        for action in decision.actions:
            if action.kind == "pause" and "resume_at" in action.data:  # what the reactor's pause does
                until = float(action.data["resume_at"]) + MARGIN  # type: ignore[arg-type]
                self.view = msgspec.structs.replace(self.view, paused_until=until)
        self.states.append((now, result.state))
        self.actions += [(now, a) for a in decision.actions]


async def run_until(sim: Simulated, observe, policies, done, interval: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async def tick() -> None:
        sim.tick(observe(trio.current_time()), policies)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(Ticker(lambda: interval, tick).run)
        while not done(sim):
            await trio.sleep(1)
        nursery.cancel_scope.cancel()


async def test_stuck_after_ten_minutes_of_no_progress_checked_every_five_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = trio.current_time()
    sim = Simulated(SessionView(id="s", state="working", since=start))
    # Busy on screen, but nothing moves after `start`.
    observe = lambda now: Observation(liveness="alive", activity="active", last_progress=start)  # noqa: E731
    policies = reactions.policies_for({}, {})

    await run_until(sim, observe, policies, lambda s: bool(s.actions))

    gaps = {round(b - a, 6) for a, b in zip(sim.ticks, sim.ticks[1:])}
    assert gaps == {5.0}
    first_stuck = next(t for t, state in sim.states if state == "stuck")
    assert first_stuck - start == 600.0
    assert all(state == "working" for t, state in sim.states if t < first_stuck)
    ((at, action),) = sim.actions
    assert (at, action.key, action.kind, action.priority) == (first_stuck, "agent-stuck", "notify", "warning")


async def test_a_configured_threshold_is_used(autojump_clock: trio.testing.MockClock) -> None:
    start = trio.current_time()
    sim = Simulated(SessionView(id="s", state="working", since=start))
    observe = lambda now: Observation(liveness="alive", activity="unknown", last_progress=start)  # noqa: E731
    policies = reactions.policies_for({"agent-stuck": {"threshold": 120.0}}, {})
    await run_until(sim, observe, policies, lambda s: bool(s.actions))
    assert sim.actions[0][0] - start == 120.0


async def test_an_unanswered_change_request_escalates_after_thirty_minutes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = trio.current_time()
    sim = Simulated(SessionView(id="s", state="review_pending", since=start))
    pr = PRFacts(
        number="7", head_sha="abc", review="changes_requested",
        comments=(CommentFact(id="c1", author="rev", body="rename it"),),
    )
    observe = lambda now: Observation(liveness="alive", activity="idle", pr=pr, last_progress=start)  # noqa: E731
    policies = reactions.policies_for({}, {})

    await run_until(sim, observe, policies, lambda s: len(s.actions) >= 2)

    (sent_at, sent), (escalated_at, escalation) = sim.actions
    assert (sent_at - start, sent.kind) == (0.0, "send-to-agent")
    assert "rename it" in sent.message
    assert (escalated_at - start, escalation.kind, escalation.data.get("escalated")) == (1800.0, "notify", True)



async def test_a_usage_limit_pauses_until_the_reset_and_then_the_agent_is_told_to_go_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = trio.current_time()
    sim = Simulated(SessionView(id="s", state="working", since=start))
    reset = start + 3 * 3600.0

    def observe(now: float) -> Observation:
        # The limit message stays on screen; it names the same reset time all along.
        return Observation(liveness="alive", activity="idle", usage_limit_until=reset, last_progress=start)

    policies = reactions.policies_for({}, {})
    await run_until(sim, observe, policies, lambda s: any(a.kind == "send-to-agent" for _, a in s.actions))

    assert sim.states[0] == (start, "paused")
    resumed_at = next(t for t, state in sim.states if state != "paused")
    assert resumed_at - reset == MARGIN  # the first tick at reset + margin (a multiple of 5 s)
    kinds = [(t - start, a.key, a.kind) for t, a in sim.actions]
    assert kinds == [(0.0, "usage-limited", "pause"), (0.0, "usage-limited", "notify"), (resumed_at - start, "usage-limited", "send-to-agent")]


async def test_a_budget_pauses_the_session_until_the_user_resumes_it(autojump_clock: trio.testing.MockClock) -> None:
    start = trio.current_time()
    sim = Simulated(SessionView(id="s", state="working", since=start))
    resume_at = start + 7200.0

    def observe(now: float) -> Observation:
        over = now >= start + 600  # the budget is reached ten minutes in
        lifted = now >= resume_at  # `aoctl resume` lifted it (the meter stops reporting it)
        return Observation(
            liveness="alive", activity="active", last_progress=now,
            over_budget="this session's budget of $5.00 is reached" if over and not lifted else None,
            budget_key="session" if over and not lifted else None,
            commands=("resume",) if resume_at <= now < resume_at + 5 else (),
        )

    policies = reactions.policies_for({}, {})
    await run_until(sim, observe, policies, lambda s: trio.current_time() > resume_at + 60)

    paused = [t - start for t, state in sim.states if state == "paused"]
    assert paused[0] == 600.0 and paused[-1] == 7195.0  # held for the whole time, not stuck
    assert sim.states[-1][1] == "working"
    assert [(t - start, a.key, a.kind) for t, a in sim.actions] == [(600.0, "budget-exceeded", "notify")]
