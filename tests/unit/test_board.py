"""The dashboard's lanes (aod/board.py): one row per lifecycle state."""

from __future__ import annotations

import pytest

from aod.board import ci_escalated, lane
from aod.facts import STATES
from aod.protocol import LANES

EXPECTED = {
    "spawning": "working",
    "working": "working",
    "needs_input": "needs_you",
    "stuck": "needs_you",
    "paused": "needs_you",
    "pr_open": "in_review",
    "ci_failed": "working",  # the agent got the failing logs and is on it
    "review_pending": "in_review",
    "changes_requested": "in_review",
    "approved": "ready",
    "mergeable": "ready",
    "merge_failed": "needs_you",
    "merged": "done",
    "closed": "done",
    "done": "done",
    "errored": "needs_you",
    "killed": "done",
    "archived": "done",
    "queued": "working",  # waits for its dependencies (issue 19): planned work, nobody's to act on
}


def test_every_state_has_its_row() -> None:
    assert set(EXPECTED) == set(STATES)


@pytest.mark.parametrize(("state", "expected"), sorted(EXPECTED.items()))
def test_the_lane_of_each_state(state: str, expected: str) -> None:
    assert lane(state) == expected
    assert expected in LANES


@pytest.mark.parametrize("state", sorted(set(STATES) - {"ci_failed"}))
def test_only_ci_failed_moves_when_its_reaction_escalated(state: str) -> None:
    assert lane(state, ci_escalated=True) == lane(state)


def test_ci_failed_needs_you_once_the_reaction_escalated() -> None:
    assert lane("ci_failed", ci_escalated=True) == "needs_you"
    assert lane("ci_failed", ci_escalated=False) == "working"


def test_escalation_is_read_from_the_ledger_s_ci_failed_entry() -> None:
    assert ci_escalated({"ci-failed": {"key": "ci-failed", "attempts": 2, "escalated": True}})
    assert not ci_escalated({"ci-failed": {"key": "ci-failed", "attempts": 1}})
    assert not ci_escalated({"changes-requested": {"key": "changes-requested", "escalated": True}})
    assert not ci_escalated({"ci-failed": "garbage"}) and not ci_escalated({})


def test_a_state_this_version_does_not_know_is_working() -> None:
    assert lane("some_future_state") == "working"
