"""lifecycle.step: one case per row of docs/states.md, plus properties over any facts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aod.facts import (
    ENDED_STATES,
    STATES,
    CheckFact,
    CommentFact,
    Observation,
    PRFacts,
    SessionView,
    Step,
)
from aod.lifecycle import USAGE_LIMIT, USER_PAUSED, step

NOW = 10_000.0
SINCE = 9_000.0
DOC = Path(__file__).resolve().parents[2] / "docs" / "states.md"


def session(state: str, reason: str = "", *, since: float = SINCE, paused_until: float | None = None) -> SessionView:
    return SessionView(id="s-1", state=state, reason=reason, since=since, paused_until=paused_until)


def pr(**kw: object) -> PRFacts:
    fields: dict[str, object] = {"number": "42", "url": "https://forge/pr/42", "head_sha": "abc", "base_sha": "b1"}
    return PRFacts(**(fields | kw))  # type: ignore[arg-type]


def alive(activity: str = "idle", **kw: object) -> Observation:
    return Observation(liveness="alive", activity=activity, **kw)  # type: ignore[arg-type]


GREEN = {"review": "approved", "checks": "passing", "mergeable": "mergeable"}
FAILING = (CheckFact(name="test", conclusion="failure"), CheckFact(name="lint", conclusion="failure"))
COMMENTS = (CommentFact(id="c2", author="rev", body="rename"), CommentFact(id="c1", author="rev", body="typo"))


@dataclass(frozen=True)
class Row:
    id: str
    session: SessionView
    obs: Observation
    state: str
    reason: str | None = None
    triggers: tuple[tuple[str, str], ...] = ()
    events: tuple[str, ...] | None = None
    """Event kinds, when the row is about them (state.changed is checked on every row)."""


ROWS = [
    # -- ended states ---------------------------------------------------------------------------
    Row("ended-sticky", session("merged", "PR merged"),
        Observation(liveness="alive", commands=("kill",), pr=pr(checks="failing"), usage_limit_until=NOW + 60),
        "merged", "PR merged"),
    Row("archived-sticky", session("archived"), Observation(liveness="dead", commands=("resume",)), "archived"),
    Row("errored-sticky", session("errored", "agent is gone"), alive("active"), "errored", "agent is gone"),
    # -- user commands ----------------------------------------------------------------------------
    Row("cmd-kill", session("working"), alive(commands=("kill",)), "killed", "killed by the user"),
    Row("cmd-precedence", session("needs_input"), alive(commands=("resume", "pause", "done", "kill")),
        "killed", "killed by the user"),
    Row("cmd-done", session("pr_open"), alive(commands=("done",), pr=pr(checks="pending")),
        "done", "marked done by the user"),
    Row("cmd-pause", session("working"), alive(commands=("resume", "pause")), "paused", USER_PAUSED),
    Row("cmd-merged", session("mergeable"), alive(commands=("merged",), pr=pr(**GREEN)),
        "merged", "merged by aod", (("pr-merged", "42"),)),
    Row("cmd-merge-failed", session("mergeable"), alive(commands=("merge_failed",), pr=pr(**GREEN)),
        "merge_failed", "merge failed"),
    Row("cmd-merge-failed-no-facts", session("mergeable"), alive(commands=("merge_failed",)),
        "merge_failed", "merge failed"),
    Row("cmd-merge-failed-pr-merged", session("mergeable"),
        alive(commands=("merge_failed",), pr=pr(state="merged")), "merged", "PR merged", (("pr-merged", "42"),)),
    # -- usage limits -------------------------------------------------------------------------------
    Row("usage-limit", session("working"), alive("active", usage_limit_until=NOW + 3600),
        "paused", USAGE_LIMIT, (("usage-limited", "13600"),)),
    Row("usage-limit-spawning", session("spawning"), Observation(usage_limit_until=NOW + 3600),
        "paused", USAGE_LIMIT, (("usage-limited", "13600"),)),
    Row("usage-limit-holds", session("paused", USAGE_LIMIT, paused_until=NOW + 3600),
        alive(usage_limit_until=NOW + 3600), "paused", USAGE_LIMIT, (("usage-limited", "13600"),)),
    Row("usage-limit-lifted", session("working"), alive("active", usage_limit_until=NOW - 1),
        "working", "agent working"),
    Row("usage-limit-user-paused", session("paused", USER_PAUSED), alive(usage_limit_until=NOW + 3600),
        "paused", USER_PAUSED),
    # -- budgets ------------------------------------------------------------------------------------
    Row("budget", session("working"), alive("active", over_budget="the budget of $5.00 is reached", budget_key="session"),
        "paused", "budget: the budget of $5.00 is reached", (("budget-exceeded", "session"),)),
    Row("budget-holds", session("paused", "budget: x"), alive(over_budget="x", budget_key="project_day:2026-12-02"),
        "paused", "budget: x", (("budget-exceeded", "project_day:2026-12-02"),)),
    Row("budget-user-paused", session("paused", USER_PAUSED), alive(over_budget="x", budget_key="session"),
        "paused", USER_PAUSED),
    Row("budget-resume", session("paused", "budget: x"), alive("idle", commands=("resume",)),
        "working", "agent idle", events=("resumed", "state.changed")),
    # -- paused -------------------------------------------------------------------------------------
    Row("paused-holds", session("paused", USER_PAUSED), alive("waiting_input", pr=pr(state="merged")),
        "paused", USER_PAUSED),
    Row("paused-deadline-ahead", session("paused", USAGE_LIMIT, paused_until=NOW + 10), alive(),
        "paused", USAGE_LIMIT),
    Row("paused-deadline-passed", session("paused", USAGE_LIMIT, paused_until=NOW - 10), alive("idle"),
        "working", "agent idle", (("usage-limited", "resume:9990"),), events=("resumed", "state.changed")),
    Row("paused-deadline-passed-user", session("paused", "resumes later", paused_until=NOW - 10), alive("idle"),
        "working", "agent idle", events=("resumed", "state.changed")),
    Row("paused-stale-deadline", session("paused", USER_PAUSED, paused_until=SINCE - 100), alive(),
        "paused", USER_PAUSED),
    Row("paused-resume", session("paused", USER_PAUSED), alive("active", commands=("resume",)),
        "working", "agent working", events=("resumed", "state.changed")),
    Row("paused-resume-pr", session("paused", USER_PAUSED),
        alive(commands=("resume",), pr=pr(checks="passing")), "review_pending", "waiting for review",
        (("review-pending", "abc"),)),
    Row("paused-resume-unknown", session("paused", USER_PAUSED), Observation(commands=("resume",)),
        "working", "resumed"),
    # -- spawning -----------------------------------------------------------------------------------
    Row("spawning-alive", session("spawning"), alive("unknown"), "working", "agent running"),
    Row("spawning-alive-asks", session("spawning"), alive("waiting_input"),
        "needs_input", "agent waits for input", (("agent-needs-input", "10000"),)),
    Row("spawning-dead", session("spawning", "starting agent"), Observation(liveness="dead", exit_status=1),
        "spawning", "starting agent"),
    Row("spawning-unknown", session("spawning"), Observation(liveness="unknown"), "spawning"),
    # -- PR ended -----------------------------------------------------------------------------------
    Row("pr-merged", session("review_pending"), alive(pr=pr(state="merged")),
        "merged", "PR merged", (("pr-merged", "42"),)),
    Row("pr-closed", session("pr_open"), alive(pr=pr(state="closed")),
        "closed", "PR closed without merging", (("pr-closed", "42"),)),
    Row("pr-merged-agent-dead", session("pr_open"), Observation(liveness="dead", exit_status=0, pr=pr(state="merged")),
        "merged", "PR merged", (("pr-merged", "42"),)),
    # -- PR open ------------------------------------------------------------------------------------
    Row("pr-ci-failed", session("working"), alive(pr=pr(checks="failing", failing=FAILING)),
        "ci_failed", "checks failing: lint, test", (("ci-failed", "abc:lint,test"),)),
    Row("pr-changes-requested", session("pr_open"), alive(pr=pr(review="changes_requested", comments=COMMENTS)),
        "changes_requested", "changes requested", (("changes-requested", "c1,c2,review:abc"),)),
    Row("pr-changes-requested-no-comments", session("review_pending"), alive(pr=pr(review="changes_requested")),
        "changes_requested", "changes requested", (("changes-requested", "review:abc"),)),
    Row("pr-changes-requested-review-id", session("review_pending"),
        alive(pr=pr(review="changes_requested", review_id="r7")),
        "changes_requested", "changes requested", (("changes-requested", "review:r7"),)),
    Row("pr-changes-all-told", session("changes_requested", "changes requested"),
        alive(seen=frozenset({"c1", "c2", "review:r7"}), pr=pr(review="changes_requested", review_id="r7", comments=COMMENTS)),
        "changes_requested", "changes requested", (("changes-requested", "told"),)),
    Row("pr-changes-new-comment", session("changes_requested", "changes requested"),
        alive(seen=frozenset({"c1", "review:r7"}), pr=pr(review="changes_requested", review_id="r7", comments=COMMENTS)),
        "changes_requested", "changes requested", (("changes-requested", "c2"),)),
    Row("pr-review-comments", session("review_pending"), alive(pr=pr(checks="passing", comments=COMMENTS[1:])),
        "review_pending", "waiting for review", (("changes-requested", "c1"), ("review-pending", "abc"))),
    Row("pr-ci-failed-first", session("pr_open"),
        alive(pr=pr(checks="failing", failing=FAILING[:1], review="changes_requested", mergeable="conflicting")),
        "ci_failed", "checks failing: test",
        (("ci-failed", "abc:test"), ("changes-requested", "review:abc"), ("merge-conflicts", "abc:b1"))),
    Row("pr-conflicts", session("review_pending"), alive(pr=pr(checks="passing", mergeable="conflicting")),
        "review_pending", "merge conflicts", (("merge-conflicts", "abc:b1"),)),
    Row("pr-conflicts-approved", session("approved"),
        alive(pr=pr(checks="passing", review="approved", mergeable="conflicting")),
        "approved", "merge conflicts", (("merge-conflicts", "abc:b1"),)),
    Row("pr-mergeable", session("approved"), alive(pr=pr(**GREEN)),
        "mergeable", "approved, checks green, mergeable", (("approved-and-green", "abc"),)),
    Row("pr-mergeable-no-checks", session("review_pending"), alive(pr=pr(**GREEN | {"checks": "none"})),
        "mergeable", "approved, checks green, mergeable", (("approved-and-green", "abc"),)),
    Row("pr-approved-checks-pending", session("review_pending"), alive(pr=pr(**GREEN | {"checks": "pending"})),
        "approved", "approved, checks pending"),
    Row("pr-approved-blocked", session("mergeable"), alive(pr=pr(**GREEN | {"mergeable": "blocked"})),
        "approved", "approved, merge blocked"),
    Row("pr-approved-mergeability-unknown", session("review_pending"),
        alive(pr=pr(**GREEN | {"mergeable": "unknown"})), "approved", "approved, mergeability not known yet"),
    Row("pr-review-pending", session("pr_open"), alive(pr=pr(checks="passing", review="review_required")),
        "review_pending", "waiting for review", (("review-pending", "abc"),)),
    Row("pr-review-pending-no-checks", session("working"), alive(pr=pr(head_sha="def")),
        "review_pending", "waiting for review", (("review-pending", "def"),)),
    Row("pr-open-checks-pending", session("working"), alive(pr=pr(checks="pending")), "pr_open", "checks pending"),
    Row("pr-draft-approved-green", session("review_pending"), alive(pr=pr(draft=True, **GREEN)),
        "review_pending", "draft"),
    Row("pr-draft-checks-pending", session("working"), alive(pr=pr(draft=True, checks="pending")), "pr_open", "draft"),
    Row("merge-failed-holds", session("merge_failed", "merge failed: base moved"), alive(pr=pr(**GREEN)),
        "merge_failed", "merge failed: base moved", (("approved-and-green", "abc"),)),
    Row("merge-failed-new-head", session("merge_failed", "merge failed"), alive(pr=pr(**GREEN | {"head_sha": "def"})),
        "merge_failed", "merge failed", (("approved-and-green", "def"),)),
    Row("merge-failed-leaves", session("merge_failed", "merge failed"),
        alive(pr=pr(**GREEN | {"checks": "failing", "head_sha": "def"}, failing=FAILING[:1])),
        "ci_failed", "checks failing: test", (("ci-failed", "def:test"),)),
    Row("pr-facts-missing", session("changes_requested", "changes requested"), alive("active"),
        "changes_requested", "changes requested"),
    Row("pr-agent-asks", session("ci_failed", "checks failing: test"),
        alive("waiting_input", activity_since=9_800.0, pr=pr(checks="failing", failing=FAILING[:1])),
        "ci_failed", "checks failing: test", (("ci-failed", "abc:test"), ("agent-needs-input", "9800"))),
    Row("pr-facts-missing-agent-asks", session("review_pending", "waiting for review"),
        alive("waiting_input", activity_since=9_800.0), "review_pending", "waiting for review",
        (("agent-needs-input", "9800"),)),
    Row("pr-open-agent-dead", session("review_pending"),
        Observation(liveness="dead", exit_status=1, last_progress=9_500.0, pr=pr(checks="pending")),
        "pr_open", "checks pending", (("agent-exited", "exit:1:9500"),)),
    Row("pr-facts-missing-agent-dead", session("ci_failed", "checks failing: test"), Observation(liveness="dead"),
        "ci_failed", "checks failing: test", (("agent-exited", "exit:gone"),)),
    # -- no PR: the agent is dead -------------------------------------------------------------------
    Row("dead-exit-zero", session("working"), Observation(liveness="dead", exit_status=0),
        "done", "agent exited", (("agent-exited", "exit:0:9000"),)),
    Row("dead-exit-nonzero", session("needs_input"), Observation(liveness="dead", exit_status=2),
        "errored", "agent exited with status 2", (("agent-exited", "exit:2:9000"),)),
    Row("dead-gone", session("stuck"), Observation(liveness="dead"),
        "errored", "agent is gone", (("agent-exited", "exit:gone:9000"),)),
    # -- no PR: liveness unknown --------------------------------------------------------------------
    Row("unknown-liveness-holds", session("working", "agent idle"),
        Observation(activity="waiting_input", last_progress=0.0), "working", "agent idle"),
    Row("unknown-liveness-needs-input", session("needs_input", "agent waits for input"),
        Observation(activity="active"), "needs_input", "agent waits for input",
        (("agent-needs-input", "9000"),)),
    Row("unknown-liveness-stuck", session("stuck", "no progress"), Observation(last_progress=8_000.0),
        "stuck", "no progress", (("agent-stuck", "8000"),)),
    # -- no PR: the agent is alive ------------------------------------------------------------------
    Row("needs-input", session("working"), alive("waiting_input", activity_since=9_800.0),
        "needs_input", "agent waits for input", (("agent-needs-input", "9800"),)),
    Row("needs-input-no-activity-time", session("working"), alive("waiting_input"),
        "needs_input", "agent waits for input", (("agent-needs-input", "10000"),)),
    Row("needs-input-holds", session("needs_input"), alive("waiting_input"),
        "needs_input", "agent waits for input", (("agent-needs-input", "9000"),)),
    Row("blocked", session("working"), alive("blocked", last_progress=0.0),
        "needs_input", "agent blocked on a dialog", (("agent-needs-input", "10000"),)),
    Row("stuck", session("working"), alive("active", last_progress=NOW - 600),
        "stuck", "no progress for 600 s", (("agent-stuck", "9400"),)),
    Row("stuck-unknown-activity", session("working"), alive("unknown", last_progress=NOW - 601),
        "stuck", "no progress for 600 s", (("agent-stuck", "9399"),)),
    Row("stuck-holds", session("stuck"), alive("active", last_progress=8_000.0),
        "stuck", "no progress for 600 s", (("agent-stuck", "8000"),)),
    Row("not-stuck-recent", session("working"), alive("active", last_progress=NOW - 599), "working", "agent working"),
    Row("not-stuck-no-progress", session("stuck"), alive("active"), "working", "agent working"),
    Row("idle-never-stuck", session("stuck"), alive("idle", last_progress=0.0), "working", "agent idle"),
    Row("ready", session("needs_input"), alive("ready", last_progress=0.0), "working", "agent ready"),
    Row("alive-exited-activity", session("working"), alive("exited", last_progress=NOW),
        "working", "agent running"),
    Row("unknown-state", session("bogus"), alive("active"), "working", "agent working"),
    # -- a message aod gave up delivering, in any live state --------------------------------------
    Row("delivery-failed", session("ci_failed", "checks failing"),
        alive("idle", undelivered=(7, "reaction:ci-failed", "still in the input")), "ci_failed", "checks failing",
        (("delivery-failed", "7"),)),
    Row("delivery-failed-ended", session("killed", "killed by the user"),
        Observation(liveness="dead", undelivered=(7, "user", "x")), "killed"),
    # -- queued: waits for its dependencies (issue 19) ----------------------------------------------
    Row("queued-holds", session("queued", "after demo-3"), Observation(), "queued", "after demo-3"),
    Row("queued-never-stuck-or-errored", session("queued", "after demo-3"),
        Observation(liveness="dead", activity="active", last_progress=0.0, exit_status=1), "queued", "after demo-3"),
    Row("queued-blocked", session("queued", "after demo-3"), Observation(dependencies_blocked="blocked: demo-3 (demo-3 closed) without merging"),
        "queued", "blocked: demo-3 (demo-3 closed) without merging", (("dependency-blocked", "blocked: demo-3 (demo-3 closed) without merging"),)),
    Row("queued-kill", session("queued", "after demo-3"), Observation(commands=("kill",)), "killed", "killed by the user"),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_transition(row: Row) -> None:
    result = step(row.session, row.obs, NOW)
    assert result.state == row.state
    if row.reason is not None:
        assert result.reason == row.reason
    assert [(t.key, t.subject) for t in result.triggers] == list(row.triggers)
    changes = [e for e in result.events if e.kind == "state.changed"]
    if result.state == row.session.state:
        assert changes == []
    else:
        assert [e.data for e in changes] == [{"from": row.session.state, "to": result.state, "reason": result.reason}]
    if row.events is not None:
        assert [e.kind for e in result.events] == list(row.events)


def test_every_documented_row_has_a_case_in_the_same_order() -> None:
    table = DOC.read_text().split("## Transitions", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z0-9-]+)` \|", table, flags=re.MULTILINE)
    assert documented == [r.id for r in ROWS]


def test_every_state_is_documented() -> None:
    listed = DOC.read_text().split("## States", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^- `([a-z_]+)`", listed, flags=re.MULTILINE) == list(STATES)


def test_trigger_facts_carry_what_a_message_needs() -> None:
    facts = pr(checks="failing", failing=FAILING, review="changes_requested", comments=COMMENTS)
    by_key = {t.key: t.facts for t in step(session("pr_open"), alive(pr=facts), NOW).triggers}
    assert by_key["ci-failed"]["failing"] == [msgspec.structs.asdict(c) for c in FAILING]
    assert (by_key["ci-failed"]["head_sha"], by_key["ci-failed"]["number"]) == ("abc", "42")
    assert [c["id"] for c in by_key["changes-requested"]["comments"]] == ["c2", "c1"]  # type: ignore[attr-defined,index]
    # Review feedback is forwarded, not retried; the agent's answer is a new head.
    review = next(t for t in step(session("pr_open"), alive(pr=facts), NOW).triggers if t.key == "changes-requested")
    assert (review.feedback, review.episode) == (True, "abc")
    limited = step(session("working"), alive(usage_limit_until=NOW + 5), NOW).triggers
    assert limited[0].facts == {"resume_at": NOW + 5}
    exited = step(session("working"), Observation(liveness="dead", exit_status=3), NOW).triggers
    assert exited[0].facts == {"exit_status": 3}


def test_a_refused_merge_is_offered_again_only_while_the_forge_says_mergeable() -> None:
    held = step(session("merge_failed", "merge failed"), alive(pr=pr(**GREEN)), NOW).triggers
    assert [(t.key, t.subject, t.failed) for t in held] == [("approved-and-green", "abc", True)]
    first = step(session("mergeable"), alive(pr=pr(**GREEN)), NOW).triggers
    assert [(t.key, t.failed) for t in first] == [("approved-and-green", False)]
    # Just refused (the command): no retry on the same step.
    refused = step(session("mergeable"), alive(commands=("merge_failed",), pr=pr(**GREEN)), NOW).triggers
    assert refused == ()
    blocked = step(session("merge_failed", "merge failed"), alive(pr=pr(**GREEN | {"mergeable": "blocked"})), NOW)
    assert (blocked.state, blocked.triggers) == ("approved", ())


def test_a_restored_session_exits_under_a_new_subject() -> None:
    dead = Observation(liveness="dead", exit_status=1)
    first = step(session("working", since=1_000.0), dead, NOW).triggers
    again = step(session("working", "restored", since=5_000.0), dead, NOW).triggers
    assert first[0].subject != again[0].subject


# -- properties -----------------------------------------------------------------------------------

times = st.integers(min_value=0, max_value=20_000).map(float)
names = st.sampled_from(["lint", "test", "build"])
checks = st.builds(CheckFact, name=names, conclusion=st.sampled_from(["failure", "success", "pending"]))
comments = st.builds(CommentFact, id=st.sampled_from(["c1", "c2", "c3"]), author=st.just("rev"), body=st.just("x"))
pr_facts = st.builds(
    PRFacts,
    number=st.sampled_from(["1", "42"]),
    state=st.sampled_from(["open", "open", "open", "closed", "merged"]),
    draft=st.booleans(),
    head_sha=st.sampled_from(["abc", "def"]),
    base_sha=st.sampled_from(["b1", "b2"]),
    checks=st.sampled_from(["none", "pending", "passing", "failing"]),
    failing=st.lists(checks, max_size=3).map(tuple),
    review=st.sampled_from(["none", "review_required", "approved", "changes_requested"]),
    mergeable=st.sampled_from(["unknown", "mergeable", "conflicting", "blocked"]),
    comments=st.lists(comments, max_size=3).map(tuple),
)
ACTIVITIES = ["active", "ready", "idle", "waiting_input", "blocked", "exited", "unknown", "odd"]
COMMANDS = ["kill", "pause", "resume", "done", "merge_failed", "merged", "bogus"]
observations = st.builds(
    Observation,
    liveness=st.sampled_from(["alive", "dead", "unknown"]),
    activity=st.sampled_from(ACTIVITIES),
    exit_status=st.none() | st.integers(min_value=0, max_value=255),
    last_progress=st.none() | times,
    # The observer records the time with every activity it writes; only an activity it never
    # wrote (`unknown`) comes without one. (Without it, a wait beside an open PR takes its
    # subject from the state's `since`, which a PR state change moves.)
    activity_since=times,
    pr=st.none() | pr_facts,
    usage_limit_until=st.none() | times,
    commands=st.lists(st.sampled_from(COMMANDS), max_size=3).map(tuple),
)
sessions = st.builds(
    SessionView,
    id=st.just("s-1"),
    state=st.sampled_from(STATES),
    reason=st.sampled_from(["", USER_PAUSED, USAGE_LIMIT, "merge failed", "resumed"]),
    since=times,
    paused_until=st.none() | times,
)
LIVE = [s for s in STATES if s not in ENDED_STATES]


@given(sessions, observations, times)
def test_step_always_lands_in_a_known_state(view: SessionView, obs: Observation, now: float) -> None:
    result = step(view, obs, now)
    assert result.state in STATES
    assert {t.key for t in result.triggers} <= {
        "ci-failed", "changes-requested", "merge-conflicts", "approved-and-green", "agent-stuck",
        "agent-needs-input", "agent-exited", "usage-limited", "pr-closed", "pr-merged", "review-pending",
    }


@given(sessions.filter(lambda v: v.state in ENDED_STATES), observations, times)
def test_ended_states_never_change(view: SessionView, obs: Observation, now: float) -> None:
    assert step(view, obs, now) == Step(state=view.state, reason=view.reason)


@given(
    st.sampled_from(LIVE),
    st.sampled_from(["", USER_PAUSED, USAGE_LIMIT]),
    st.sampled_from(ACTIVITIES),
    st.none() | st.integers(min_value=0, max_value=255),
    st.none() | times,
    times,
)
def test_unknown_liveness_alone_changes_nothing(
    state: str, reason: str, activity: str, status: int | None, progress: float | None, now: float
) -> None:
    obs = Observation(liveness="unknown", activity=activity, exit_status=status, last_progress=progress)
    result = step(session(state, reason, since=0.0), obs, now)
    assert (result.state, result.reason) == (state, reason)


def _after(view: SessionView, result: Step, now: float) -> SessionView:
    """The record the shell writes back: `since` moves only when the state changes."""
    since = now if result.state != view.state else view.since
    return SessionView(id=view.id, state=result.state, reason=result.reason, since=since, paused_until=view.paused_until)


@settings(max_examples=300)
@given(sessions, observations, times)
def test_deciding_twice_on_the_same_facts_raises_nothing_new(view: SessionView, obs: Observation, now: float) -> None:
    first = step(view, obs, now)
    assert step(view, obs, now) == first  # deterministic
    second = step(_after(view, first, now), obs, now)
    assert (second.state, second.reason) == (first.state, first.reason)
    assert not [e for e in second.events if e.kind == "state.changed"]
    if first.state in ENDED_STATES:
        assert second.triggers == ()  # raised once, on the step that ended the session
    elif view.state == "paused" and first.state != "paused":
        # "Go on" after a usage limit is raised once, on the step that leaves the pause.
        assert second.triggers == tuple(t for t in first.triggers if not t.subject.startswith("resume:"))
    else:
        assert second.triggers == first.triggers


def _walk(*observations: Observation) -> str:
    view, now = SessionView(id="s-1", state="spawning", since=0.0), 1_000.0
    for obs in observations:
        view = _after(view, step(view, obs, now), now)
        now += 5.0
    return view.state


UP = alive("active")
PATHS: dict[str, tuple[Observation, ...]] = {
    "spawning": (Observation(liveness="dead"),),
    "working": (UP,),
    "needs_input": (UP, alive("waiting_input")),
    "stuck": (UP, alive("active", last_progress=0.0)),
    "paused": (UP, alive(commands=("pause",))),
    "pr_open": (UP, alive(pr=pr(checks="pending"))),
    "ci_failed": (UP, alive(pr=pr(checks="failing"))),
    "review_pending": (UP, alive(pr=pr(checks="passing"))),
    "changes_requested": (UP, alive(pr=pr(review="changes_requested"))),
    "approved": (UP, alive(pr=pr(review="approved", checks="pending"))),
    "mergeable": (UP, alive(pr=pr(**GREEN))),
    "merge_failed": (UP, alive(pr=pr(**GREEN)), alive(pr=pr(**GREEN), commands=("merge_failed",))),
    "merged": (UP, alive(pr=pr(**GREEN)), alive(pr=pr(state="merged"))),
    "closed": (UP, alive(pr=pr(checks="pending")), alive(pr=pr(state="closed"))),
    "done": (UP, Observation(liveness="dead", exit_status=0)),
    "errored": (UP, Observation(liveness="dead", exit_status=1)),
    "killed": (UP, alive(commands=("kill",))),
}


@pytest.mark.parametrize("target", list(PATHS))
def test_state_is_reachable_from_spawning(target: str) -> None:
    assert _walk(*PATHS[target]) == target


def test_every_state_but_archived_has_a_path() -> None:
    # `archived` is entered by the service's cleanup (it moves the record away), never by a step;
    # `queued` by a spawn with dependencies, and left by the dependency runner (aod/dependents.py).
    assert set(PATHS) == set(STATES) - {"archived", "queued"}


def test_aod_opens_the_pr_only_for_an_idle_working_session_without_one() -> None:
    from aod.lifecycle import wants_pr

    assert wants_pr("auto", known_without_pr=True, state="working", activity="idle")
    assert wants_pr("auto", known_without_pr=True, state="working", activity="ready")
    assert not wants_pr("agent", known_without_pr=True, state="working", activity="idle")
    assert not wants_pr("auto", known_without_pr=False, state="working", activity="idle")  # forge silent, or a PR
    assert not wants_pr("auto", known_without_pr=True, state="working", activity="active")
    assert not wants_pr("auto", known_without_pr=True, state="paused", activity="idle")


def test_aod_pushes_a_live_sessions_branch_only_once_its_agent_rests() -> None:
    from aod.lifecycle import wants_push

    assert wants_push("auto", state="working", activity="idle")
    assert wants_push("auto", state="ci_failed", activity="idle")  # the fix goes to the open PR
    assert not wants_push("agent", state="working", activity="idle")
    assert not wants_push("auto", state="working", activity="active")  # mid-turn: maybe mid-rebase
    for state in ("paused", "spawning", "merged", "killed"):
        assert not wants_push("auto", state=state, activity="idle")


@pytest.mark.parametrize(
    ("head", "last_head", "failures", "last_at", "now", "due"),
    [
        ("b", None, 0, 0.0, 100.0, True),  # never tried
        ("b", "a", 0, 99.0, 100.0, True),  # a new head: at once
        ("b", "a", 5, 99.0, 100.0, True),  # a new head, whatever the old one's refusals
        ("a", "a", 0, 0.0, 1e9, False),  # this head worked (or had nothing to do): never again
        ("a", "a", 1, 100.0, 159.0, False),  # refused once: a minute
        ("a", "a", 1, 100.0, 160.0, True),
        ("a", "a", 2, 100.0, 219.0, False),  # twice: two minutes
        ("a", "a", 2, 100.0, 220.0, True),
        ("a", "a", 30, 100.0, 3699.0, False),  # never more than an hour
        ("a", "a", 30, 100.0, 3700.0, True),
    ],
)
def test_a_head_is_tried_once_and_again_only_after_a_growing_backoff(
    head: str, last_head: str | None, failures: int, last_at: float, now: float, due: bool
) -> None:
    from aod.lifecycle import attempt_due

    assert attempt_due(head, last_head, failures, last_at, now) is due


def test_a_question_in_the_agent_s_words_is_the_reason_and_each_one_its_own_episode() -> None:
    asked = step(session("working"), alive("waiting_input", question="Postgres 15 or 16?", reported_at=9_500.0, activity_since=9_400.0), NOW)
    assert (asked.state, asked.reason) == ("needs_input", "agent asks: Postgres 15 or 16?")
    [trigger] = asked.triggers
    assert (trigger.key, trigger.subject) == ("agent-needs-input", "asked:9500")
    assert trigger.facts == {"activity": "waiting_input", "question": "Postgres 15 or 16?"}
    # Still waiting on the same question: the same subject (told once); a new question: a new one.
    same = step(session("needs_input"), alive("waiting_input", question="Postgres 15 or 16?", reported_at=9_500.0), NOW + 60)
    assert same.triggers[0].subject == "asked:9500"
    other = step(session("needs_input"), alive("waiting_input", question="And the schema?", reported_at=9_900.0), NOW + 60)
    assert other.triggers[0].subject == "asked:9900"
    blocked = step(session("working"), alive("blocked", question="no API key\n  for staging", reported_at=9_500.0), NOW)
    assert blocked.reason == "agent is blocked: no API key for staging"
    # Without words (a dialog on screen) it is as before.
    dialog = step(session("working"), alive("waiting_input", activity_since=9_400.0), NOW)
    assert (dialog.reason, dialog.triggers[0].subject) == ("agent waits for input", "9400")
