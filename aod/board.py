"""PURE: the dashboard's lanes — where a session stands for the person supervising the fleet.

    lane(state, ci_escalated=False) -> "working" | "needs_you" | "in_review" | "ready" | "done"
                                       (protocol.LANES, in the order the page shows them)

Every client (the page, aoctl, an editor) gets it as `SessionInfo.lane`, so they all agree. The
states are aod/lifecycle.py's (docs/states.md). A CI failure is the agent's to fix — it gets the
failing logs — until the `ci-failed` reaction runs out of retries and escalates: only then does
the session need a person. The escalation is recorded in the session's reaction ledger
(`LedgerEntry.escalated` of the `ci-failed` key); `ci_escalated` reads it from the ledger's plain
entries.

No I/O, no clock, no imports of aod.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

NEEDS_YOU: Final = frozenset({"needs_input", "stuck", "errored", "paused", "merge_failed"})
IN_REVIEW: Final = frozenset({"pr_open", "review_pending", "changes_requested"})
READY: Final = frozenset({"approved", "mergeable"})
DONE: Final = frozenset({"merged", "done", "killed", "closed", "archived"})
"""Ended without needing anyone (until cleanup archives them). `closed`: the PR was closed
unmerged, which ends the session like a kill; `errored` ended too, but someone has to look."""

CI_FAILED_KEY: Final = "ci-failed"


def lane(state: str, *, ci_escalated: bool = False) -> str:
    """The lane of a session in `state`. Unknown states (a newer aod's) count as working."""
    if state in NEEDS_YOU or (state == "ci_failed" and ci_escalated):
        return "needs_you"
    if state in IN_REVIEW:
        return "in_review"
    if state in READY:
        return "ready"
    if state in DONE:
        return "done"
    return "working"  # spawning, working, queued, ci_failed while the agent still has retries


def ci_escalated(ledger_entries: Mapping[str, Any]) -> bool:
    """Whether the `ci-failed` reaction has escalated, from a SessionLedger's `entries`
    (reaction key -> LedgerEntry as a plain mapping on disk)."""
    entry = ledger_entries.get(CI_FAILED_KEY)
    return isinstance(entry, Mapping) and entry.get("escalated") is True
