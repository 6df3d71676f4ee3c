"""The rules of best-of-N attempts (aod/attempts.py): the agents a group runs, the ids that make
a retried request idempotent, what an attempt may do before the pick, and the pick itself."""

from __future__ import annotations

import pytest

from aod.attempts import (
    MAX_ATTEMPTS, AttemptsProblem, attempt_agents, group_id_for, held_before_pick, member_key, pick_problem, to_discard,
)
from aod.facts import Step, Trigger
from aod.store.groups import GROUP_ID


@pytest.mark.parametrize(
    ("attempts", "agents", "expected"),
    [
        (3, [], ["claude-code"] * 3),
        (None, ["claude-code", "codex"], ["claude-code", "codex"]),
        (2, ["claude-code", "codex"], ["claude-code", "claude-code", "codex", "codex"]),
        (None, ["codex", "codex", "aider"], ["codex", "aider"]),  # an agent named twice counts once
        (1, ["a", "b", "c"], ["a", "b", "c"]),
        (MAX_ATTEMPTS, [], ["claude-code"] * MAX_ATTEMPTS),
    ],
)
def test_the_agents_of_a_groups_attempts(attempts: int | None, agents: list[str], expected: list[str]) -> None:
    assert attempt_agents(attempts, agents, "claude-code") == expected


@pytest.mark.parametrize(
    ("attempts", "agents", "says"),
    [
        (1, [], "at least two attempts"),
        (None, [], "at least two attempts"),
        (None, ["codex"], "at least two attempts"),
        (0, [], "1 or more"),
        (MAX_ATTEMPTS + 1, [], f"at most {MAX_ATTEMPTS}"),
        (6, ["a", "b"], f"at most {MAX_ATTEMPTS}"),
    ],
)
def test_a_group_that_cannot_be_made_is_refused_in_words(attempts: int | None, agents: list[str], says: str) -> None:
    with pytest.raises(AttemptsProblem, match=says):
        attempt_agents(attempts, agents, "claude-code")


def test_the_same_key_makes_the_same_group_and_members() -> None:
    assert group_id_for("k1") == group_id_for("k1") != group_id_for("k2")
    assert GROUP_ID.fullmatch(group_id_for("any key at all, even / long " * 5))
    assert member_key("g-abc", 0) != member_key("g-abc", 1) != member_key("g-abd", 1)


AG = Trigger(key="approved-and-green", subject="sha1")
CI = Trigger(key="ci-failed", subject="sha0")
MERGE_FAILED = Trigger(key="approved-and-green", subject="sha1", failed=True)


@pytest.mark.parametrize(
    ("group", "picked", "triggers", "kept", "reason_says_pick"),
    [
        (None, False, (AG,), (AG,), False),  # not grouped: as any session
        ("g-1", True, (AG,), (AG,), False),  # picked: as any session
        ("g-1", False, (AG,), (), True),  # before the pick: the merge waits, and says why
        ("g-1", False, (MERGE_FAILED,), (), True),
        ("g-1", False, (CI,), (CI,), False),  # CI feedback still reaches the agent
        ("g-1", False, (CI, AG), (CI,), True),
        ("g-1", False, (), (), False),  # nothing held: the reason is left alone
    ],
)
def test_an_attempt_is_never_merged_before_the_pick(
    group: str | None, picked: bool, triggers: tuple[Trigger, ...], kept: tuple[Trigger, ...], reason_says_pick: bool
) -> None:
    step = Step(state="mergeable", reason="approved, checks green, mergeable", triggers=triggers)
    held = held_before_pick(step, group=group, picked=picked)
    assert held.triggers == kept
    assert held.state == "mergeable"
    assert ("pick an attempt first" in held.reason) is reason_says_pick
    if reason_says_pick:
        assert held.reason.startswith("approved, checks green, mergeable; ") and "aoctl pick g-1 ID" in held.reason


MEMBERS = ["s-1", "s-2", "s-3"]
LIVE = {"s-1": "pr_open", "s-2": "working", "s-3": "ci_failed"}


@pytest.mark.parametrize(
    ("picked", "choice", "states", "problem"),
    [
        (None, "s-2", LIVE, None),
        (None, "s-1", {**LIVE, "s-2": "killed"}, None),  # another attempt ended: still a pick
        (None, "s-9", LIVE, "s-9 is not an attempt of group g-1; its attempts are s-1, s-2, s-3"),
        ("s-2", "s-2", LIVE, "s-2 is already the pick of group g-1"),
        ("s-2", "s-1", LIVE, "group g-1 already has its pick (s-2); a group is picked once"),
        (None, "s-3", {**LIVE, "s-3": "errored"}, "s-3 is errored: its agent is gone"),
        (None, "s-3", {**LIVE, "s-3": "killed"}, "s-3 is killed: its agent is gone"),
        (None, "s-3", {"s-1": "working"}, "s-3 is archived: its agent is gone"),  # no record left
    ],
)
def test_a_pick(picked: str | None, choice: str, states: dict[str, str], problem: str | None) -> None:
    found = pick_problem("g-1", MEMBERS, picked, choice, states)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem)


def test_a_pick_ends_every_other_attempt_in_order() -> None:
    assert to_discard(MEMBERS, "s-2") == ["s-1", "s-3"]
    assert to_discard(MEMBERS, "s-1") == ["s-2", "s-3"]
