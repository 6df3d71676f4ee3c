"""PURE: whether a `queued` session may start, from the states of the sessions it waits for.

A queued session names its dependencies (`Session.depends_on`): session ids, or issue ids of its
project whose session must merge. For each one the caller passes the sessions that could satisfy
it (the session itself, or every session of that issue), as plain `Candidate` values:

- a candidate merged (state `merged`, or `archived` with a `merged: ...` reason) → that
  dependency is met;
- else one still live (or none exists yet: the issue has no session so far) → wait;
- else every candidate ended without merging (closed, killed, errored, done) → blocked. An
  ended dependency is never read as done: a person decides (restore it, merge it by hand, or
  kill the queued session), and is told once; the session stays queued.

`judge` answers `start` only when every dependency is met. No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import msgspec

ENDED: frozenset[str] = frozenset({"merged", "closed", "done", "errored", "killed", "archived"})

Verdict = Literal["wait", "start", "blocked"]


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    """A session that can satisfy a dependency, as far as the rule needs it."""

    id: str
    state: str
    reason: str = ""


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    verdict: Verdict
    reason: str
    """What `aoctl status` shows after `queued`: `after demo-3`, or why it is blocked."""
    blocked_by: tuple[str, ...] = ()
    """The dependencies that ended without merging (the subject told to a person, once)."""


def merged(candidate: Candidate) -> bool:
    return candidate.state == "merged" or (
        candidate.state == "archived" and candidate.reason.startswith("merged")
    )


def _ended_how(candidate: Candidate) -> str:
    if candidate.state == "archived":
        return candidate.reason.split(":", 1)[0] or "archived"
    return candidate.state


def judge(dependencies: Mapping[str, Sequence[Candidate]]) -> Readiness:
    """The verdict for one queued session; `dependencies` maps each named dependency (in the
    order given) to its candidate sessions."""
    waiting: list[str] = []
    blocked: list[str] = []
    for name, candidates in dependencies.items():
        if any(merged(c) for c in candidates):
            continue
        if not candidates or any(c.state not in ENDED for c in candidates):
            waiting.append(name)
            continue
        how = ", ".join(f"{c.id} {_ended_how(c)}" for c in candidates)
        blocked.append(f"{name} ({how})")
    if blocked:
        names = tuple(b.split(" ", 1)[0] for b in blocked)
        return Readiness(
            verdict="blocked",
            reason="blocked: " + "; ".join(blocked) + " without merging",
            blocked_by=names,
        )
    if waiting:
        return Readiness(verdict="wait", reason="after " + ", ".join(waiting))
    return Readiness(verdict="start", reason="dependencies merged")

