"""The reviewer agent's rules (aod/reviewing.py), as tables: when a worker's PR gets a reviewer,
the round limit (through reactions.decide, as the reactor runs it), how a reviewer ends, what
its approval counts for, and its first prompt."""

from __future__ import annotations

import dataclasses

import msgspec
import pytest

from aod.facts import LedgerEntry, PRFacts, Step, Trigger
from aod.reactions import DEFAULT_POLICIES, decide
from aod.reviewing import (
    ENDED_KEY,
    NO_CHANGES,
    OVERRAN_KEY,
    REVIEW_KEY,
    REVIEWER_POLICIES,
    ReviewPromptInputs,
    ReviewRule,
    review_policy,
    review_prompt,
    review_trigger,
    reviewer_review,
    reviewer_step,
    rounds_done,
)

NOW = 1_000_000.0
OPEN = PRFacts(number="7", head_sha="h1", url="u", base="main", base_sha="b1", checks="pending")
GREEN = msgspec.structs.replace(OPEN, checks="passing")
RULE = ReviewRule()
ON_GREEN = ReviewRule(when="ci_green")


@pytest.mark.parametrize(
    ("kind", "pr", "rule", "running", "due"),
    [
        ("worker", OPEN, RULE, False, True),  # a PR opened: reviewed
        ("worker", OPEN, None, False, False),  # review off for the project
        ("worker", None, RULE, False, False),  # no PR yet
        ("worker", OPEN, RULE, True, False),  # the previous round's reviewer still runs
        ("reviewer", OPEN, RULE, False, False),  # reviewers are never reviewed
        ("orchestrator", OPEN, RULE, False, False),  # nor orchestrators
        ("worker", msgspec.structs.replace(OPEN, draft=True), RULE, False, False),  # a draft waits
        ("worker", msgspec.structs.replace(OPEN, state="merged"), RULE, False, False),
        ("worker", msgspec.structs.replace(OPEN, state="closed"), RULE, False, False),
        ("worker", OPEN, ON_GREEN, False, False),  # ci_green: checks still pending
        ("worker", msgspec.structs.replace(OPEN, checks="failing"), ON_GREEN, False, False),
        ("worker", GREEN, ON_GREEN, False, True),
        ("worker", GREEN, RULE, False, True),
    ],
)
def test_when_a_review_is_due(kind: str, pr: PRFacts | None, rule: ReviewRule | None, running: bool, due: bool) -> None:
    trigger = review_trigger(kind, pr, rule, reviewer_running=running, rounds_done=0)
    if not due:
        assert trigger is None
        return
    assert trigger is not None and pr is not None
    assert (trigger.key, trigger.subject) == (REVIEW_KEY, pr.head_sha)
    assert trigger.facts["round"] == 1 and trigger.facts["number"] == "7" and trigger.facts["base_sha"] == "b1"


def test_the_round_counts_the_reviews_already_started() -> None:
    assert rounds_done(None) == 0
    assert rounds_done(LedgerEntry(key=REVIEW_KEY, attempts=2)) == 2
    trigger = review_trigger("worker", OPEN, RULE, reviewer_running=False, rounds_done=1)
    assert trigger is not None and trigger.facts["round"] == 2


def _policies(rounds: int) -> dict[str, object]:
    return {**DEFAULT_POLICIES, REVIEW_KEY: review_policy(rounds, DEFAULT_POLICIES[REVIEW_KEY])}


@pytest.mark.parametrize(
    ("rounds", "heads", "expected"),
    [
        # Each new head is one round, each head once; after `rounds` reviews, the next head
        # tells a person once, and later heads start nothing and tell nobody again.
        (2, ["h1", "h1", "h2", "h2", "h3", "h3", "h4"], ["start-review", "", "start-review", "", "notify", "", ""]),
        (1, ["h1", "h2", "h3"], ["start-review", "notify", ""]),
        (3, ["h1", "h2", "h3", "h4"], ["start-review", "start-review", "start-review", "notify"]),
    ],
)
def test_the_round_limit(rounds: int, heads: list[str], expected: list[str]) -> None:
    ledger: dict[str, LedgerEntry] = {}
    seen: list[str] = []
    rounds_started: list[object] = []
    for n, head in enumerate(heads):
        entry = ledger.get(REVIEW_KEY)
        trigger = review_trigger(
            "worker", msgspec.structs.replace(OPEN, head_sha=head), RULE, reviewer_running=False, rounds_done=rounds_done(entry)
        )
        assert trigger is not None
        decision = decide("w-1", [trigger], (), ledger, _policies(rounds), NOW + n)  # type: ignore[arg-type]
        ledger = {**ledger, **{e.key: e for e in decision.ledger}}
        kinds = [a.kind for a in decision.actions]
        assert len(kinds) <= 1, kinds
        seen.append(kinds[0] if kinds else "")
        rounds_started += [a.data["round"] for a in decision.actions if a.kind == "start-review"]
    assert seen == expected
    assert rounds_started == list(range(1, len(rounds_started) + 1))


def test_the_limit_notification_names_the_rounds_and_is_for_a_person() -> None:
    ledger = {REVIEW_KEY: LedgerEntry(key=REVIEW_KEY, attempts=2, acted=("h1", "h2"), first_at=NOW)}
    trigger = review_trigger("worker", msgspec.structs.replace(OPEN, head_sha="h3"), RULE, reviewer_running=False, rounds_done=2)
    assert trigger is not None
    (action,) = decide("w-1", [trigger], (), ledger, _policies(2), NOW).actions  # type: ignore[arg-type]
    assert action.kind == "notify" and action.priority == "action" and action.data.get("escalated")
    assert "reviewer-agent rounds" in action.title and "aoctl review w-1" in action.message


def test_a_start_is_decided_once_per_head_across_deciding_again() -> None:
    trigger = review_trigger("worker", OPEN, RULE, reviewer_running=False, rounds_done=0)
    assert trigger is not None
    first = decide("w-1", [trigger], (), {}, _policies(2), NOW)  # type: ignore[arg-type]
    (start,) = first.actions
    assert start.fingerprint == "w-1:agent-review:h1:start-review"
    again = decide("w-1", [trigger], (), {e.key: e for e in first.ledger}, _policies(2), NOW + 5)  # type: ignore[arg-type]
    assert again.actions == ()


# -- how a reviewer session ends ----------------------------------------------------------------

WORKING = Step(state="working", reason="")
STUCK = Step(state="stuck", reason="no progress for 10m", triggers=(Trigger(key="agent-stuck", subject="s"),))
EXITED = Step(state="errored", reason="agent exited with status 1", triggers=(Trigger(key="agent-exited", subject="exit:1"),))
KILLED = Step(state="killed", reason="killed by the user")


@pytest.mark.parametrize(
    ("step", "reported", "age", "state", "keys"),
    [
        (WORKING, "", 60.0, "done:worker", [ENDED_KEY]),  # its worker's session ended: nothing to review
        (WORKING, "", 60.0, "working", []),  # at work, young: nothing
        (WORKING, "working", 60.0, "working", []),
        (WORKING, "done", 60.0, "done", [ENDED_KEY]),  # `aoctl report done`: ended, cleaned up
        (EXITED, "", 60.0, "errored", ["agent-exited", ENDED_KEY]),  # died before its review: told
        (EXITED, "done", 60.0, "errored", [ENDED_KEY]),  # exited after reporting done: normal
        (KILLED, "", 60.0, "killed", [ENDED_KEY]),
        (WORKING, "", 1800.0, "errored", [ENDED_KEY, OVERRAN_KEY]),  # ran too long
        (STUCK, "", 60.0, "errored", [ENDED_KEY, OVERRAN_KEY]),  # stuck: ended, no stuck alarm
    ],
)
def test_how_a_reviewer_ends(step: Step, reported: str, age: float, state: str, keys: list[str]) -> None:
    state, _, worker = state.partition(":")
    out = reviewer_step(step, reported=reported, started_at=NOW - age, now=NOW, timeout=1800.0, worker_ended=bool(worker))
    assert out.state == state
    assert [t.key for t in out.triggers] == keys


def test_a_reviewer_end_cleans_up_at_once_and_an_overrun_tells_a_person() -> None:
    out = reviewer_step(WORKING, reported="", started_at=NOW - 4000, now=NOW, timeout=1800.0)
    decision = decide("r-1", out.triggers, (), {}, REVIEWER_POLICIES, NOW)
    assert sorted((a.kind, a.priority) for a in decision.actions) == [("cleanup", "info"), ("notify", "action")]
    cleanup = next(a for a in decision.actions if a.kind == "cleanup")
    assert cleanup.data["not_before"] == NOW
    assert "longer than 30m" in out.reason


# -- what a reviewer's review counts for -----------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "may_approve", "state", "resolved"),
    [
        ("approve", False, "commented", True),  # not an approval: a person decides the merge
        ("approve", True, "approved", False),
        ("request_changes", False, "changes_requested", False),
        ("comment", False, "commented", False),
        ("comment", True, "commented", False),
    ],
)
def test_a_reviewers_review(action: str, may_approve: bool, state: str, resolved: bool) -> None:
    recorded = reviewer_review(action, "looks fine", may_approve=may_approve)
    assert (recorded.state, recorded.resolved) == (state, resolved)
    if action == "approve" and not may_approve:
        assert recorded.body == f"{NO_CHANGES} looks fine"


# -- the first prompt --------------------------------------------------------------------------------


def _inputs(**changes: object) -> ReviewPromptInputs:
    base = ReviewPromptInputs(
        reviewer="demo-2", worker="demo-1", round=1, rounds=2, number="7", title="Add the feature",
        body="Closes #1", base="main", head_sha="a" * 40, diff="+hello\n", diffstat=" app.txt | 1 +\n",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_the_prompt_has_the_pr_the_diff_and_how_to_answer() -> None:
    text = review_prompt(_inputs(instructions="Check names.\n/fake run aoctl review {worker} --comment -m r{round}"))
    for part in ("PR #7 of session demo-1", "Title: Add the feature", "Closes #1", "app.txt | 1 +", "+hello",
                 "aoctl review demo-1 --comment", "--request-changes", "aoctl report done", "read-only",
                 "/fake run aoctl review demo-1 --comment -m r1"):
        assert part in text, part


def test_the_diff_in_the_prompt_is_bounded() -> None:
    text = review_prompt(_inputs(diff="+x\n" * 50_000, max_diff_chars=1000))
    assert "diff truncated at 1000 characters" in text
    assert len(text) < 4000

