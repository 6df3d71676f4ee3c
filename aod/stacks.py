"""PURE: what a PR stack needs when the PR below changes or merges (issue 19).

A stacked session's PR is based on its parent's branch (`Session.stack_parent`, `base_branch`).
Given each member as plain values (`Member`), `decide` says, bottom first:

- the PR below got a new head (its agent pushed a fix) → ask the session above to rebase onto
  it, once per (session, new lower head): the request's `fingerprint` is what the shell records
  as told (the outbox/reaction path makes it exactly once);
- the PR below merged → retarget the one above to the branch the lower one merged into (on the
  local forge: set the PR's base) and ask it to rebase onto that branch, once;
- and `merge_hold` keeps an upper PR from merging before the one below: its approved-and-green
  waits, with a reason.

No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

ENDED: frozenset[str] = frozenset({"merged", "closed", "done", "errored", "killed", "archived"})


class Member(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    branch: str
    base_branch: str
    """The branch its PR is based on (its parent's branch while that is unmerged)."""
    parent: str | None = None
    state: str = "working"
    head: str = ""
    """Its PR's head SHA as last seen ("" before a PR)."""
    told: tuple[str, ...] = ()
    """Fingerprints of stack requests already made to this session."""


class StackStep(msgspec.Struct, frozen=True, kw_only=True):
    kind: Literal["rebase", "retarget"]
    session: str
    onto: str
    """rebase: the branch to rebase onto; retarget: the PR's new base branch."""
    fingerprint: str
    """`<session>:stack:<why>`: made once."""
    message: str = ""


def depth(members: Sequence[Member]) -> dict[str, int]:
    """How far each member is from the bottom of its stack (the bottom is 0)."""
    by_id = {m.id: m for m in members}
    out: dict[str, int] = {}

    def of(m: Member, seen: frozenset[str] = frozenset()) -> int:
        if m.id in out:
            return out[m.id]
        parent = by_id.get(m.parent) if m.parent else None
        value = 0 if parent is None or m.id in seen else of(parent, seen | {m.id}) + 1
        out[m.id] = value
        return value

    for m in members:
        of(m)
    return out


def decide(members: Sequence[Member]) -> list[StackStep]:
    """The steps the stacks need now, bottom first; ended sessions ask nothing."""
    by_id = {m.id: m for m in members}
    levels = depth(members)
    steps: list[StackStep] = []
    for m in sorted(members, key=lambda m: (levels[m.id], m.id)):
        parent = by_id.get(m.parent) if m.parent else None
        if parent is None or m.state in ENDED:
            continue
        if parent.state == "merged" and m.base_branch == parent.branch:
            why = f"{m.id}:stack:merged:{parent.id}"
            if why not in m.told:
                steps.append(StackStep(kind="retarget", session=m.id, onto=parent.base_branch, fingerprint=why + ":retarget"))
                steps.append(StackStep(
                    kind="rebase", session=m.id, onto=parent.base_branch, fingerprint=why,
                    message=f"{parent.id}'s PR (the one below yours) merged into {parent.base_branch}; your PR now targets "
                    f"{parent.base_branch}. Rebase your branch onto {parent.base_branch}, resolve, test, and push.",
                ))
            continue
        if parent.state in ENDED or not parent.head:
            continue
        why = f"{m.id}:stack:head:{parent.head}"
        if why not in m.told:
            steps.append(StackStep(
                kind="rebase", session=m.id, onto=parent.branch, fingerprint=why,
                message=f"The PR below yours ({parent.id}, branch {parent.branch}) changed (head {parent.head[:12]}). "
                f"Rebase your branch onto {parent.branch}, resolve, test, and push.",
            ))
    return steps


def merge_hold(member: Member, parent: Member | None) -> str | None:
    """Why `member`'s PR must not merge yet (None: it may): the PR below it is not merged."""
    if parent is None or member.parent is None:
        return None
    if parent.state == "merged" and member.base_branch != parent.branch:
        return None
    if parent.state == "merged":
        return f"waits to be retargeted off {parent.branch} ({parent.id} merged)"
    return f"waits for {parent.id}'s PR below it to merge first"

