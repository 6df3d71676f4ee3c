"""Best-of-N attempts: the rules. Pure (no I/O, no clock, no trio, no plugins): which agents a
group's attempts run, the ids that make a retried request find its first answer, what a grouped
session may do before a pick, and whether a pick is allowed. aod/groups.py does the rest.

Before the pick, attempts work like any session and may open PRs (so their CI can be compared),
but none is merged by aod: its approved-and-green waits with a reason that says to pick. The
picked one behaves like any other session from then on; the others are killed and cleaned up
(their work snapshotted to refs/ao/wip/<id>) and their PRs closed.

May import: aod.facts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Final

import msgspec

from aod.facts import Step

MAX_ATTEMPTS: Final = 10
"""At most this many sessions in one group: each is an agent running (and spending) at once."""
ENDED_FOR_PICK: Final = frozenset({"killed", "errored", "archived"})
"""A member in one of these states cannot be the one kept: its agent is gone (restore it first)."""


class AttemptsProblem(ValueError):
    """A request for attempts or a pick that cannot be done, in words a user can act on."""


def attempt_agents(attempts: int | None, agents: Sequence[str], default_agent: str) -> list[str]:
    """The agent of each attempt: `attempts` × `agents` (each agent `attempts` times, in the
    order named), or one per agent when no count is given; no agents named: the default one.

    >>> attempt_agents(3, [], "claude-code")
    ['claude-code', 'claude-code', 'claude-code']
    >>> attempt_agents(None, ["claude-code", "codex"], "x")
    ['claude-code', 'codex']
    """
    if attempts is not None and attempts < 1:
        raise AttemptsProblem(f"--attempts must be 1 or more (got {attempts})")
    named = list(dict.fromkeys(agents)) or [default_agent]
    each = attempts if attempts is not None else 1
    plan = [agent for agent in named for _ in range(each)]
    if len(plan) < 2:
        raise AttemptsProblem("a group needs at least two attempts: use --attempts N (N ≥ 2) or name two agents")
    if len(plan) > MAX_ATTEMPTS:
        raise AttemptsProblem(f"{len(plan)} attempts asked for; at most {MAX_ATTEMPTS} run in one group")
    return plan


def group_id_for(key: str) -> str:
    """The group id a request with idempotency key `key` makes: the same key, the same group."""
    return "g-" + hashlib.sha256(f"group\0{key}".encode()).hexdigest()[:10]


def member_key(group_id: str, index: int) -> str:
    """The idempotency key of the group's attempt number `index`: a retried (or interrupted)
    group spawn finds the attempts already started instead of starting them again."""
    return f"{group_id}#{index}"


def held_before_pick(step: Step, *, group: str | None, picked: bool) -> Step:
    """A grouped session's lifecycle step with what it may not do before the pick taken out:
    its approved-and-green (the merge, or the notification that it could be merged) waits, and
    its reason says why. Anything else (PRs, CI, review feedback to the agent) goes on."""
    if group is None or picked:
        return step
    waiting = [t for t in step.triggers if t.key == "approved-and-green"]
    if not waiting:
        return step
    reason = f"{step.reason}; pick an attempt first (aoctl compare {group}, aoctl pick {group} ID)"
    return msgspec.structs.replace(step, reason=reason, triggers=tuple(t for t in step.triggers if t.key != "approved-and-green"))


def pick_problem(
    group_id: str, members: Sequence[str], picked: str | None, choice: str, states: Mapping[str, str]
) -> str | None:
    """Why `choice` cannot be picked from the group (None: it can). `states`: each member's
    state now (a member with no record left is `archived`)."""
    if picked is not None:
        if picked == choice:
            return f"{choice} is already the pick of group {group_id}"
        return f"group {group_id} already has its pick ({picked}); a group is picked once"
    if choice not in members:
        return f"{choice} is not an attempt of group {group_id}; its attempts are {', '.join(members) or 'none'}"
    state = states.get(choice, "archived")
    if state in ENDED_FOR_PICK:
        return f"{choice} is {state}: its agent is gone, so it cannot be the one kept (`aoctl restore {choice}` first, or pick another)"
    return None


def to_discard(members: Sequence[str], choice: str) -> list[str]:
    """The attempts a pick ends: every member but the one kept, in the group's order."""
    return [member for member in members if member != choice]
