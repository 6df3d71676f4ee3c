"""dependencies.judge: when a queued session starts, waits, or is blocked (issue 19)."""

from __future__ import annotations

import pytest

from aod.dependencies import Candidate, judge


def c(id: str, state: str, reason: str = "") -> Candidate:
    return Candidate(id=id, state=state, reason=reason)


CASES = [
    # (case, dependencies, verdict, reason, blocked_by)
    ("nothing-to-wait-for", {}, "start", "dependencies merged", ()),
    ("live-dependency-waits", {"demo-3": [c("demo-3", "pr_open")]}, "wait", "after demo-3", ()),
    ("merged-starts", {"demo-3": [c("demo-3", "merged", "PR merged")]}, "start", "dependencies merged", ()),
    ("merged-then-archived-starts", {"demo-3": [c("demo-3", "archived", "merged: PR merged")]},
     "start", "dependencies merged", ()),
    ("archived-without-merging-blocks", {"demo-3": [c("demo-3", "archived", "killed: killed by the user")]},
     "blocked", "blocked: demo-3 (demo-3 killed) without merging", ("demo-3",)),
    ("closed-is-never-done", {"demo-3": [c("demo-3", "closed", "PR closed without merging")]},
     "blocked", "blocked: demo-3 (demo-3 closed) without merging", ("demo-3",)),
    ("done-is-never-done", {"demo-3": [c("demo-3", "done", "agent exited")]},
     "blocked", "blocked: demo-3 (demo-3 done) without merging", ("demo-3",)),
    ("errored-blocks", {"demo-3": [c("demo-3", "errored")]},
     "blocked", "blocked: demo-3 (demo-3 errored) without merging", ("demo-3",)),
    ("issue-without-session-waits", {"11": []}, "wait", "after 11", ()),
    ("issue-second-attempt-live-waits", {"11": [c("demo-1", "closed"), c("demo-4", "working")]},
     "wait", "after 11", ()),
    ("issue-any-attempt-merged-starts", {"11": [c("demo-1", "closed"), c("demo-4", "merged")]},
     "start", "dependencies merged", ()),
    ("issue-every-attempt-ended-blocks", {"11": [c("demo-1", "closed"), c("demo-4", "killed")]},
     "blocked", "blocked: 11 (demo-1 closed, demo-4 killed) without merging", ("11",)),
    ("all-must-merge", {"demo-3": [c("demo-3", "merged")], "demo-5": [c("demo-5", "working")]},
     "wait", "after demo-5", ()),
    ("waits-named-in-order", {"demo-5": [c("demo-5", "working")], "demo-3": [c("demo-3", "queued")]},
     "wait", "after demo-5, demo-3", ()),
    ("blocked-wins-over-waiting", {"demo-3": [c("demo-3", "closed")], "demo-5": [c("demo-5", "working")]},
     "blocked", "blocked: demo-3 (demo-3 closed) without merging", ("demo-3",)),
]


@pytest.mark.parametrize(("case", "deps", "verdict", "reason", "blocked_by"), CASES, ids=[row[0] for row in CASES])
def test_judge(case: str, deps: dict, verdict: str, reason: str, blocked_by: tuple[str, ...]) -> None:
    readiness = judge(deps)
    assert (readiness.verdict, readiness.reason, readiness.blocked_by) == (verdict, reason, blocked_by)
