"""reactions.decide: one case per reaction, escalation and resets, config overrides, properties."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aod.facts import REACTION_KEYS, Decision, LedgerEntry, ReactionPolicy, Trigger
from aod.reactions import DEFAULT_POLICIES, decide, marker, policies_for, told_items

NOW = 100_000.0
S = "web-1"
PR = {"number": "42", "url": "https://forge.example/pr/42", "head_sha": "abc123def4567890"}
FAILING = [
    {"name": "test", "conclusion": "failure", "url": "https://ci/test", "log_excerpt": "E   AssertionError: 1 != 2\nFAILED test_x"},
    {"name": "lint", "conclusion": "failure", "summary": "3 problems"},
]
COMMENTS = [
    {"id": "c1", "author": "ana", "body": "Please rename `x`.", "path": "app.py", "line": 3},
    {"id": "c2", "author": "bo", "body": "$(rm -rf /) `whoami` ; echo hi\nsecond line"},
]


def trig(key: str, subject: str = "s1", **facts: object) -> Trigger:
    return Trigger(key=key, subject=subject, facts=facts)


def run(
    triggers: Iterable[Trigger],
    ledger: Mapping[str, LedgerEntry] | None = None,
    *,
    resolved: Iterable[str] = (),
    policies: Mapping[str, ReactionPolicy] | None = None,
    now: float = NOW,
) -> Decision:
    triggers = list(triggers)
    return decide(
        S,
        triggers,
        resolved,
        ledger or {},
        policies or dict(DEFAULT_POLICIES),
        now,
    )


def applied(ledger: Mapping[str, LedgerEntry], decision: Decision) -> dict[str, LedgerEntry]:
    return {**ledger, **{e.key: e for e in decision.ledger}}


def kinds(decision: Decision) -> list[tuple[str, str]]:
    return [(a.kind, a.priority) if a.kind == "notify" else (a.kind, "") for a in decision.actions]


# -- one case per reaction, with the defaults ------------------------------------------------------

DEFAULT_CASES = [
    ("ci-failed", {"failing": FAILING, **PR}, [("send-to-agent", "")]),
    ("changes-requested", {"comments": COMMENTS, **PR}, [("send-to-agent", "")]),
    ("merge-conflicts", {"base": "main", "base_sha": "b1", **PR}, [("send-to-agent", "")]),
    ("approved-and-green", PR, [("notify", "action")]),
    ("agent-stuck", {"threshold": 600.0}, [("notify", "warning")]),
    ("agent-needs-input", {"activity": "waiting_input"}, [("notify", "urgent")]),
    ("agent-exited", {"exit_status": 1}, [("notify", "urgent")]),
    ("usage-limited", {"resume_at": NOW + 3600}, [("pause", ""), ("notify", "info")]),
    ("pr-closed", PR, [("notify", "info")]),
    ("pr-merged", PR, [("cleanup", ""), ("notify", "info")]),
    ("budget-exceeded", {"reason": "this session's budget of $5.00 is reached ($5.10 spent)"}, [("notify", "action")]),
    ("review-pending", PR, [("notify", "action")]),
    ("delivery-failed", {"seq": 3, "source": "reaction:ci-failed", "detail": "still in the input"}, [("notify", "action")]),
    ("agent-review", {"round": 1, "rounds": 2, **PR}, [("start-review", "")]),
    ("dependency-blocked", {"reason": "blocked: demo-3 (demo-3 closed) without merging"}, [("notify", "action")]),
]


def test_every_reaction_key_has_a_case() -> None:
    assert [c[0] for c in DEFAULT_CASES] == list(REACTION_KEYS) == list(DEFAULT_POLICIES)


@pytest.mark.parametrize(("key", "facts", "expected"), DEFAULT_CASES, ids=[c[0] for c in DEFAULT_CASES])
def test_default_reaction(key: str, facts: dict[str, object], expected: list[tuple[str, str]]) -> None:
    decision = run([trig(key, **facts)])
    assert kinds(decision) == expected
    for action in decision.actions:
        assert action.key == key and action.subject == "s1"
        assert action.fingerprint == f"{S}:{key}:s1:{action.kind}"
    assert [(e.key, e.attempts, e.first_at, e.acted) for e in decision.ledger] == [(key, 1, NOW, ("s1",))]


def test_ci_failed_message_names_the_checks_and_carries_the_log_excerpt() -> None:
    (action,) = run([trig("ci-failed", failing=FAILING, **PR)]).actions
    text = action.message
    assert text.startswith(marker(action.fingerprint) + " ")
    assert "PR #42" in text and "abc123def456" in text
    assert "Failing checks: lint, test" in text
    assert "E   AssertionError: 1 != 2\nFAILED test_x" in text  # the log itself, not only a link
    assert "https://ci/test" in text and "3 problems" in text


def test_ci_failed_log_excerpts_are_bounded() -> None:
    huge = [{"name": f"job{i}", "conclusion": "failure", "log_excerpt": "x" * 50_000} for i in range(3)]
    (action,) = run([trig("ci-failed", failing=huge, **PR)]).actions
    assert len(action.message) < 8_000
    assert action.message.count("--- job") == 3


def test_each_failing_check_keeps_its_errors_in_its_share_of_the_message() -> None:
    from aod.ci_logs import excerpt

    output = ["FAILED tests/test_cart.py::test_total - assert 3 == 4"] + [f"teardown {i}" for i in range(400)]
    checks = [{"name": n, "conclusion": "failure", "log_excerpt": excerpt("\n".join(output), 4000)} for n in ("a", "b", "c")]
    (action,) = run([trig("ci-failed", failing=checks, **PR)]).actions
    assert action.message.count("FAILED tests/test_cart.py::test_total") == 3
    assert action.message.count("teardown 399") == 3
    assert len(action.message) < 8_000


def test_changes_requested_sends_the_comments_verbatim_in_the_first_message() -> None:
    (action,) = run([trig("changes-requested", comments=COMMENTS, **PR)]).actions
    assert "1. ana on app.py:3:\n   Please rename `x`." in action.message
    # hostile text is just text: no quoting games, nothing dropped
    assert "$(rm -rf /) `whoami` ; echo hi\n   second line" in action.message


def test_merge_conflicts_asks_for_a_rebase_onto_the_base() -> None:
    (action,) = run([trig("merge-conflicts", base="main", **PR)]).actions
    assert "rebase" in action.message and "main" in action.message


def test_pr_merged_cleans_up_after_the_grace_period() -> None:
    cleanup = next(a for a in run([trig("pr-merged", **PR)]).actions if a.kind == "cleanup")
    assert cleanup.data["not_before"] == NOW + 300


def test_usage_limited_pause_carries_the_resume_time() -> None:
    pause = next(a for a in run([trig("usage-limited", resume_at=NOW + 60)]).actions if a.kind == "pause")
    assert pause.data == {"resume_at": NOW + 60}


def test_auto_merge_when_the_project_allows_it() -> None:
    policies = policies_for({}, {}, auto_merge=True)
    (action,) = run([trig("approved-and-green", **PR)], policies=policies).actions
    assert action.kind == "auto-merge"
    assert action.data["head_sha"] == PR["head_sha"] and "attempts" not in action.data  # one attempt each


def test_the_config_knows_every_reaction_key() -> None:
    from typing import get_args

    from aod.config import REACTION_KEYS as CONFIG_KEYS
    from aod.config import ReactionKey

    assert CONFIG_KEYS == REACTION_KEYS == get_args(ReactionKey)


def test_a_pr_ready_for_review_is_announced_once_per_head() -> None:
    (action,) = run([trig("review-pending", "abc123", **PR)]).actions
    assert (action.kind, action.priority) == ("notify", "action")
    assert action.title == "web-1: PR #42 is ready for review" and PR["url"] in action.message
    ledger = applied({}, run([trig("review-pending", "abc123", **PR)]))
    assert run([trig("review-pending", "abc123", **PR)], ledger).actions == ()
    assert kinds(run([trig("review-pending", "def456", **PR)], ledger)) == [("notify", "action")]
    off = policies_for({"review-pending": {"action": "none"}}, {})
    assert run([trig("review-pending", "abc123", **PR)], policies=off).actions == ()


def failed_merge(head: str = "abc123def4567890") -> Trigger:
    """approved-and-green as the lifecycle raises it in merge_failed: the forge says mergeable."""
    return Trigger(key="approved-and-green", subject=head, failed=True, facts={**PR, "head_sha": head})


RETRY_CASES = [
    # (case, policy overrides, [(seconds after the first attempt, trigger)], what each tick does)
    ("retried-after-a-backoff-then-told-once", {},
     [(30, failed_merge()), (60, failed_merge()), (100, failed_merge()), (120, failed_merge()),
      (180, failed_merge()), (181, failed_merge()), (419, failed_merge()), (420, failed_merge()),
      (5000, failed_merge())],
     [[], ["merge:retry:1"], [], [], ["merge:retry:2"], [], [], ["notify:failed"], []]),
    ("the-budget-is-retries", {"retries": 0}, [(59, failed_merge()), (60, failed_merge()), (600, failed_merge())],
     [[], ["notify:failed"], []]),
    ("threshold-sets-the-first-wait", {"retries": 3, "threshold": 10.0},
     [(10, failed_merge()), (20, failed_merge()), (30, failed_merge()), (70, failed_merge()), (71, failed_merge()),
      (150, failed_merge())],
     [["merge:retry:1"], [], ["merge:retry:2"], ["merge:retry:3"], [], ["notify:failed"]]),
    ("a-new-head-has-its-own-budget", {"retries": 1},
     [(60, failed_merge()), (200, failed_merge()), (201, failed_merge("fff")), (400, failed_merge("fff")),
      (401, failed_merge("fff"))],
     [["merge:retry:1"], ["notify:failed"], ["merge:retry:1"], ["notify:failed"], []]),
    ("only-auto-merge-retries", {"action": "notify"}, [(60, failed_merge()), (600, failed_merge())], [[], []]),
]


@pytest.mark.parametrize(("case", "overrides", "ticks", "expected"), RETRY_CASES, ids=[c[0] for c in RETRY_CASES])
def test_refused_merge(case: str, overrides: dict[str, object], ticks: list[tuple[int, Trigger]], expected: list[list[str]]) -> None:
    policies = policies_for({}, {"approved-and-green": overrides}, auto_merge=True)
    first = run([trig("approved-and-green", "abc123def4567890", **PR)], policies=policies)
    assert kinds(first) == ([("auto-merge", "")] if overrides.get("action") != "notify" else [("notify", "action")])
    ledger = applied({}, first)
    done = []
    for seconds, trigger in ticks:
        decision = run([trigger], ledger, policies=policies, now=NOW + seconds)
        ledger = applied(ledger, decision)
        names = []
        for action in decision.actions:
            if action.kind == "auto-merge":
                assert action.data["head_sha"] == trigger.subject
                names.append("merge:" + action.subject.split(":", 1)[1])
            else:
                assert action.data.get("escalated") and "could not be merged" in action.title
                names.append(f"{action.kind}:failed")
        done.append(names)
        assert run([trigger], ledger, policies=policies, now=NOW + seconds).actions == ()  # once
    assert done == expected


def test_retry_waits_double_up_to_a_cap() -> None:
    from aod.reactions import RETRY_WAIT_MAX, retry_wait

    policy = policies_for({}, {}, auto_merge=True)["approved-and-green"]
    assert [retry_wait(policy, n) for n in range(3)] == [60.0, 120.0, 240.0]
    assert retry_wait(policy, 30) == RETRY_WAIT_MAX


def test_notification_tells_what_to_do_next() -> None:
    (action,) = run([trig("agent-exited", exit_status=2)]).actions
    assert action.title == "web-1: agent exited with status 2"
    assert "aoctl logs web-1" in action.message and "aoctl restore web-1" in action.message


# -- exactly once, escalation, resets ---------------------------------------------------------------


def test_a_subject_is_acted_on_once() -> None:
    first = run([trig("ci-failed", failing=FAILING)])
    again = run([trig("ci-failed", failing=FAILING)], applied({}, first))
    assert again.actions == () and again.ledger == ()


def test_ci_loop_escalates_after_exactly_retries_attempts() -> None:
    ledger: dict[str, LedgerEntry] = {}
    sent: list[str] = []
    for n in range(1, 6):
        decision = run([trig("ci-failed", f"sha{n}:test", failing=FAILING)], ledger, now=NOW + n)
        ledger = applied(ledger, decision)
        sent += [a.kind + (":escalated" if a.data.get("escalated") else "") for a in decision.actions]
    assert sent == ["send-to-agent", "send-to-agent", "notify:escalated"]
    assert ledger["ci-failed"].escalated and ledger["ci-failed"].attempts == 2


def test_escalation_names_the_attempts_and_is_urgent_enough() -> None:
    ledger = {"ci-failed": LedgerEntry(key="ci-failed", attempts=2, first_at=NOW - 60, acted=("a", "b"))}
    (action,) = run([trig("ci-failed", "c", **PR)], ledger).actions
    assert action.kind == "notify" and action.priority == "action"
    assert "tried 2 time(s)" in action.message and action.title.endswith("(escalated)")
    assert action.fingerprint == f"{S}:ci-failed:escalate:{int(NOW - 60)}:notify"


def test_the_count_resets_only_when_the_condition_resolves() -> None:
    ledger = {"ci-failed": LedgerEntry(key="ci-failed", attempts=2, first_at=NOW, acted=("a", "b"), escalated=True)}
    # Not resolved (CI pending after a push, or the forge did not answer): nothing changes.
    assert run([], ledger).ledger == ()
    # Judged and not holding: resolved. The subjects stay remembered.
    reset = run([], ledger, resolved=("ci-failed",))
    assert reset.ledger == (LedgerEntry(key="ci-failed", acted=("a", "b")),)
    # A new failure after that is sent to the agent again; an old subject still is not.
    ledger = applied(ledger, reset)
    assert kinds(run([trig("ci-failed", "c")], ledger)) == [("send-to-agent", "")]
    assert run([trig("ci-failed", "a")], ledger).actions == ()


def test_another_reaction_holding_does_not_reset_this_one() -> None:
    ledger = {"ci-failed": LedgerEntry(key="ci-failed", attempts=1, first_at=NOW, acted=("a",))}
    decision = run([trig("ci-failed", "a"), trig("merge-conflicts", "m")], ledger,
                   resolved=("merge-conflicts", "changes-requested"))
    assert "ci-failed" not in {e.key for e in decision.ledger}


def test_escalate_after_a_duration_while_the_same_failure_stays() -> None:
    first = run([trig("merge-conflicts", "h1:b1")])
    ledger = applied({}, first)
    assert run([trig("merge-conflicts", "h1:b1")], ledger, now=NOW + 14 * 60).actions == ()
    late = run([trig("merge-conflicts", "h1:b1")], ledger, now=NOW + 15 * 60)
    assert [(a.kind, a.data.get("escalated")) for a in late.actions] == [("notify", True)]
    ledger = applied(ledger, late)
    assert run([trig("merge-conflicts", "h1:b1")], ledger, now=NOW + 16 * 60).actions == ()
    assert run([trig("merge-conflicts", "h2:b1")], ledger, now=NOW + 17 * 60).actions == ()


# -- feedback: new review comments are never a retry --------------------------------------------


def fb(subject: str = "told", head: str = "h1") -> Trigger:
    """changes-requested as the lifecycle raises it: `told` is the trigger with nothing new."""
    comments = [{"id": i, "author": "ana", "body": f"text of {i}"} for i in subject.split(",") if i != "told"]
    return Trigger(
        key="changes-requested", subject=subject, fresh=subject != "told", feedback=True, episode=head,
        facts={"comments": comments, **PR, "head_sha": head},
    )


FEEDBACK_CASES = [
    # (case, [(minutes, trigger)], what each tick does: send / escalate)
    ("three-comments-in-one-round-and-a-fourth-later",
     [(0, fb("c1")), (1, fb("review-r2,review:r2")), (2, fb("c3")), (3, fb()), (40, fb("c4", "h2"))],
     [["send"], ["send"], ["send"], [], ["send"]]),
    ("unanswered-escalates-once", [(0, fb("c1")), (29, fb()), (30, fb()), (31, fb())],
     [["send"], [], ["escalate"], []]),
    ("new-feedback-after-the-escalation-is-forwarded", [(0, fb("c1")), (30, fb()), (32, fb("c9"))],
     [["send"], ["escalate"], ["send"]]),
    ("late-feedback-is-forwarded-with-the-escalation", [(0, fb("c1")), (35, fb("c2"))],
     [["send"], ["escalate", "send"]]),
    ("a-push-stops-the-clock", [(0, fb("c1")), (10, fb(head="h2")), (45, fb(head="h2"))],
     [["send"], [], []]),
    ("feedback-after-a-push-starts-a-new-clock",
     [(0, fb("c1")), (10, fb(head="h2")), (20, fb("c2", "h2")), (49, fb(head="h2")), (50, fb(head="h2"))],
     [["send"], [], ["send"], [], ["escalate"]]),
    ("an-escalated-episode-ends-with-a-push",
     [(0, fb("c1")), (30, fb()), (40, fb(head="h2")), (45, fb("c2", "h2")), (75, fb(head="h2"))],
     [["send"], ["escalate"], [], ["send"], ["escalate"]]),
    ("the-same-feedback-again-is-a-retry",
     [(0, fb("c1,c2")), (1, fb("c1")), (2, fb("c2")), (3, fb("c2,c1")), (4, fb("c3"))],
     [["send"], ["send"], ["send"], ["escalate"], ["send"]]),
]


@pytest.mark.parametrize(("case", "ticks", "expected"), FEEDBACK_CASES, ids=[c[0] for c in FEEDBACK_CASES])
def test_feedback(case: str, ticks: list[tuple[int, Trigger]], expected: list[list[str]]) -> None:
    ledger: dict[str, LedgerEntry] = {}
    done = []
    for minutes, trigger in ticks:
        decision = run([trigger], ledger, now=NOW + minutes * 60)
        ledger = applied(ledger, decision)
        done.append(["escalate" if a.data.get("escalated") else "send" for a in decision.actions])
        for action in decision.actions:
            if action.kind == "send-to-agent":
                # The message carries the comments themselves.
                assert all(f"text of {c['id']}" in action.message for c in trigger.facts["comments"])  # type: ignore[union-attr]
        assert decide(S, [trigger], (), ledger, DEFAULT_POLICIES, NOW + minutes * 60).actions == ()  # once
    assert done == expected


def test_new_feedback_counts_no_attempt() -> None:
    ledger: dict[str, LedgerEntry] = {}
    for n in range(10):
        ledger = applied(ledger, run([fb(f"c{n}")], ledger, now=NOW + n))
    entry = ledger["changes-requested"]
    assert (entry.attempts, entry.escalated, entry.first_at, entry.episode) == (0, False, NOW, "h1")


@given(st.lists(st.tuples(st.sets(st.sampled_from(["c1", "c2", "c3", "c4", "c5"])), st.sampled_from(["h1", "h2"]),
                          st.integers(min_value=0, max_value=1200)), min_size=1, max_size=12))
def test_every_new_comment_reaches_the_agent_exactly_once(ticks: list[tuple[set[str], str, int]]) -> None:
    from aod.reactions import told_items

    ledger: dict[str, LedgerEntry] = {}
    now = NOW
    forwarded: list[str] = []
    offered: set[str] = set()
    for comments, head, dt in ticks:
        now += dt
        unseen = sorted(comments - told_items(ledger.get("changes-requested")))  # as the lifecycle filters
        offered |= set(unseen)
        decision = run([fb(",".join(unseen) or "told", head)], ledger, now=now)
        ledger = applied(ledger, decision)
        for action in decision.actions:
            if action.kind == "send-to-agent":
                forwarded += action.subject.split(",")
    assert sorted(forwarded) == sorted(offered)


def test_escalate_after_a_count_in_config_means_retries() -> None:
    from aod.config import ReactionConfig

    assert ReactionConfig(escalate_after=3).overrides() == {"retries": 3}
    assert ReactionConfig(escalate_after="30m").overrides() == {"escalate_after": 1800.0}


def test_notify_reactions_never_escalate() -> None:
    ledger = {"agent-needs-input": LedgerEntry(key="agent-needs-input", attempts=50, first_at=0.0, acted=("x",))}
    policies = policies_for({"agent-needs-input": {"retries": 1, "escalate_after": 1.0}}, {})
    decision = run([trig("agent-needs-input", "y")], ledger, policies=policies)
    assert kinds(decision) == [("notify", "urgent")]


# -- config ----------------------------------------------------------------------------------------


def test_overrides_merge_field_by_field_project_last() -> None:
    policies = policies_for(
        {"ci-failed": {"retries": 5, "priority": "urgent"}, "agent-stuck": {"action": "send-to-agent"}},
        {"ci-failed": {"retries": 1}},
    )
    assert policies["ci-failed"] == ReactionPolicy(key="ci-failed", action="send-to-agent", retries=1, priority="urgent")
    assert policies["agent-stuck"].action == "send-to-agent" and policies["agent-stuck"].threshold == 600
    assert policies["merge-conflicts"] == DEFAULT_POLICIES["merge-conflicts"]


def test_a_project_naming_an_action_wins_over_auto_merge() -> None:
    policies = policies_for({}, {"approved-and-green": {"action": "notify"}}, auto_merge=True)
    assert policies["approved-and-green"].action == "notify"


def test_action_none_turns_a_reaction_off() -> None:
    policies = policies_for({"agent-exited": {"action": "none"}}, {})
    assert run([trig("agent-exited")], policies=policies) == Decision()


def test_message_template_substitutes_only_plain_names() -> None:
    policies = policies_for(
        {"ci-failed": {"message": "Fix {checks} on #{number}: {logs} {number.__class__} {nope}"}}, {}
    )
    (action,) = run([trig("ci-failed", failing=FAILING[:1], **PR)], policies=policies).actions
    body = action.message.split(" ", 1)[1]
    assert body.startswith("Fix test on #42: --- test (failure) ---")
    assert body.endswith("{number.__class__} {nope}")


def test_the_stuck_nudge_is_a_message_when_configured() -> None:
    policies = policies_for({"agent-stuck": {"action": "send-to-agent", "notify_too": True}}, {})
    assert kinds(run([trig("agent-stuck", threshold=600.0)], policies=policies)) == [
        ("send-to-agent", ""), ("notify", "warning"),
    ]


# -- properties ------------------------------------------------------------------------------------

keys = st.sampled_from(REACTION_KEYS)
subjects = st.sampled_from(["a", "b", "c", "d"])


def _variant(key: str, subject: str, kind: str, head: str) -> Trigger:
    """A trigger as the lifecycle may raise it: plain, review feedback, or a failed action."""
    if kind == "feedback":
        return Trigger(key=key, subject=subject, feedback=True, episode=head, fresh=subject != "d")
    return Trigger(key=key, subject=subject, failed=kind == "failed")


trigger_lists = st.lists(
    st.builds(_variant, keys, subjects, st.sampled_from(["plain", "feedback", "failed"]), st.sampled_from(["h1", "h2"])),
    max_size=4, unique_by=lambda t: t.key,
)
times = st.floats(min_value=0, max_value=10_000, allow_nan=False)


@settings(max_examples=300)
@given(st.lists(st.tuples(trigger_lists, st.sets(keys), times), min_size=1, max_size=12))
def test_deciding_twice_on_the_same_facts_yields_no_second_action(
    ticks: list[tuple[list[Trigger], set[str], float]],
) -> None:
    ledger: dict[str, LedgerEntry] = {}
    seen: set[str] = set()
    now = 0.0
    for triggers, resolved, dt in ticks:
        now += dt
        first = decide(S, triggers, resolved, ledger, DEFAULT_POLICIES, now)
        fingerprints = [a.fingerprint for a in first.actions]
        assert len(fingerprints) == len(set(fingerprints))
        # One fingerprint is acted on once over the whole history (the shell relies on it too).
        assert not (set(fingerprints) & seen)
        seen |= set(fingerprints)
        ledger = applied(ledger, first)
        second = decide(S, triggers, resolved, ledger, DEFAULT_POLICIES, now)
        assert second.actions == ()
        assert msgspec.to_builtins(applied(ledger, second)) == msgspec.to_builtins(ledger)


@given(st.integers(min_value=0, max_value=6), st.integers(min_value=1, max_value=12))
def test_escalation_happens_after_exactly_retries_attempts(retries: int, failures: int) -> None:
    policies = policies_for({"ci-failed": {"retries": retries}}, {})
    ledger: dict[str, LedgerEntry] = {}
    sends = escalations = 0
    for n in range(failures):
        decision = decide(S, [trig("ci-failed", f"sha{n}")], (), ledger, policies, NOW + n)
        ledger = applied(ledger, decision)
        sends += sum(a.kind == "send-to-agent" for a in decision.actions)
        escalations += sum(bool(a.data.get("escalated")) for a in decision.actions)
    assert sends == min(failures, retries)
    assert escalations == (1 if failures > retries else 0)


# -- the pure core together: loops escalate ------------------------------------------------------


def _loop(observations: list[object], policies: Mapping[str, ReactionPolicy] | None = None) -> list[str]:
    """Run lifecycle.step + decide over `observations` as the shell would; the actions' kinds."""
    from aod import lifecycle
    from aod.facts import SessionView

    view = SessionView(id=S, state="working", since=0.0)
    ledger: dict[str, LedgerEntry] = {}
    done: list[str] = []
    for n, obs in enumerate(observations):
        now = 1_000.0 + 10 * n
        # What the reactor adds: the review items already told, from the ledger.
        obs = msgspec.structs.replace(obs, seen=told_items(ledger.get("changes-requested")))  # type: ignore[type-var]
        step = lifecycle.step(view, obs, now, stuck_after=5.0)  # type: ignore[arg-type]
        decision = decide(S, step.triggers, step.resolved, ledger, policies or DEFAULT_POLICIES, now)
        ledger = applied(ledger, decision)
        done += [a.kind + ("!" if a.data.get("escalated") else "") for a in decision.actions]
        view = msgspec.structs.replace(view, state=step.state, reason=step.reason, since=now if step.state != view.state else view.since)
    return done


def test_a_ci_loop_with_pending_checks_between_failures_escalates() -> None:
    from aod.facts import CheckFact, Observation, PRFacts

    def failing(sha: str) -> Observation:
        return Observation(liveness="alive", activity="idle",
                           pr=PRFacts(number="1", head_sha=sha, checks="failing", failing=(CheckFact(name="t", conclusion="failure"),)))

    def pending(sha: str) -> Observation:
        return Observation(liveness="alive", activity="active", pr=PRFacts(number="1", head_sha=sha, checks="pending"))

    no_facts = Observation(liveness="alive", activity="active")
    ticks = [failing("a"), pending("b"), failing("b"), no_facts, pending("c"), failing("c"), pending("d"), failing("d")]
    assert _loop(ticks) == ["send-to-agent", "send-to-agent", "notify!"]
    # Green in between does reset: each red after a green is a fresh start.
    green = Observation(liveness="alive", activity="idle", pr=PRFacts(number="1", head_sha="x", checks="passing"))
    # (Green with no review is also "ready for review", said once for that head.)
    assert _loop([failing("a"), green, failing("b"), green, failing("c"), green, failing("e")]) == [
        "send-to-agent", "notify", "send-to-agent", "send-to-agent", "send-to-agent",
    ]


def test_a_stuck_agent_that_the_nudge_does_not_free_escalates() -> None:
    from aod.facts import Observation

    policies = policies_for({"agent-stuck": {"action": "send-to-agent", "retries": 1}}, {})

    def busy(progress: float) -> Observation:
        return Observation(liveness="alive", activity="active", last_progress=progress)

    # stuck → nudge → the screen moves (our paste) → stuck again → escalate, never a 2nd nudge.
    ticks = [busy(990.0), busy(1_012.0), busy(1_012.0), busy(1_031.0), busy(1_031.0), busy(1_055.0)]
    assert _loop(ticks, policies) == ["send-to-agent", "notify!"]
    # A finished turn (idle) in between resolves it: the next stuck episode is nudged again.
    idle = Observation(liveness="alive", activity="idle", last_progress=1_100.0)
    assert _loop([busy(990.0), idle, busy(1_015.0)], policies) == ["send-to-agent", "send-to-agent"]


def test_every_comment_of_a_review_round_reaches_the_agent() -> None:
    from aod.facts import CommentFact, Observation, PRFacts

    inline = CommentFact(id="c1", author="ana", body="rename x", path="app.py", line=3)
    verdict = CommentFact(id="review-r2", author="ana", body="please split this")
    third = CommentFact(id="c3", author="bo", body="and add a test")
    fourth = CommentFact(id="c4", author="ana", body="one more thing")

    def tick(*comments: CommentFact, review: str = "none", head: str = "h1") -> Observation:
        facts = PRFacts(number="1", head_sha=head, checks="passing", review=review,  # type: ignore[arg-type]
                        review_id="r2" if review != "none" else "", comments=comments)
        return Observation(liveness="alive", activity="idle", pr=facts)

    changes = "changes_requested"
    ticks = [
        tick(inline), tick(inline, verdict, review=changes), tick(inline, verdict, third, review=changes),
        tick(inline, verdict, third, review=changes), tick(inline, verdict, third, review=changes, head="h2"),
        tick(inline, verdict, third, fourth, review=changes, head="h2"),
    ]
    # (The first tick's PR also waits for review: "ready for review" is said once.)
    assert _loop(ticks) == ["send-to-agent", "notify", "send-to-agent", "send-to-agent", "send-to-agent"]


def test_stuck_notification_says_how_long_in_plain_units() -> None:
    (action,) = run([trig("agent-stuck", threshold=5400.0)]).actions
    assert action.title == "web-1: no progress for 1h30m"


def test_a_trigger_with_nothing_new_only_escalates_by_time() -> None:
    first = run([trig("changes-requested", "c1,review:r7", comments=COMMENTS[:1])])
    ledger = applied({}, first)
    assert told_items(ledger["changes-requested"]) == {"c1", "review:r7"}
    told = Trigger(key="changes-requested", subject="told", fresh=False, feedback=True, episode="h1")
    assert run([told], ledger, now=NOW + 60).actions == ()
    assert [a.data.get("escalated") for a in run([told], ledger, now=NOW + 1800).actions] == [True]
    # Never acted on, even with no history at all.
    assert run([told]).actions == ()


def test_an_escalation_can_also_be_said_on_the_pr() -> None:
    policies = policies_for({"ci-failed": {"retries": 0, "comment": True}}, {})
    actions = run([trig("ci-failed", "a", **PR)], policies=policies).actions
    assert [a.kind for a in actions] == ["notify", "comment"]
    assert actions[1].message.startswith("**aod:** web-1: CI failing on PR #42 (escalated)")
    assert len({a.fingerprint for a in actions}) == 2
    # Without a PR number there is nowhere to comment.
    assert [a.kind for a in run([trig("ci-failed", "a")], policies=policies).actions] == ["notify"]


def test_a_lifted_usage_limit_tells_the_agent_to_go_on() -> None:
    (action,) = run([trig("usage-limited", "resume:123", resumed=True)]).actions
    assert action.kind == "send-to-agent" and "continue where you left off" in action.message
