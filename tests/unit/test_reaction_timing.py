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

