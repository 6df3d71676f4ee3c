"""aod.stacks: rebase order, retarget on merge, and no upper PR merging first (issue 19)."""

from __future__ import annotations

import pytest

from aod.stacks import Member, decide, depth, merge_hold


def m(id: str, parent: str | None = None, **kw: object) -> Member:
    base = f"ao/{parent}" if parent else "main"
    fields: dict[str, object] = {"id": id, "branch": f"ao/{id}", "base_branch": base, "parent": parent}
    return Member(**(fields | kw))  # type: ignore[arg-type]


def steps(members: list[Member]) -> list[tuple[str, str, str, str]]:
    return [(s.kind, s.session, s.onto, s.fingerprint) for s in decide(members)]


CASES = [
    ("no-pr-below-yet", [m("a"), m("b", "a")], []),
    ("lower-head-asks-the-one-above", [m("a", head="h1"), m("b", "a")],
     [("rebase", "b", "ao/a", "b:stack:head:h1")]),
    ("told-once-per-head", [m("a", head="h1"), m("b", "a", told=("b:stack:head:h1",))], []),
    ("a-new-head-is-asked-again", [m("a", head="h2"), m("b", "a", told=("b:stack:head:h1",))],
     [("rebase", "b", "ao/a", "b:stack:head:h2")]),
    ("bottom-first", [m("c", "b"), m("b", "a", head="hb"), m("a", head="ha")],
     [("rebase", "b", "ao/a", "b:stack:head:ha"), ("rebase", "c", "ao/b", "c:stack:head:hb")]),
    ("only-above-the-change", [m("a"), m("b", "a", head="hb"), m("c", "b")],
     [("rebase", "c", "ao/b", "c:stack:head:hb")]),
    ("lower-merged-retargets-then-rebases", [m("a", state="merged", head="h1"), m("b", "a")],
     [("retarget", "b", "main", "b:stack:merged:a:retarget"), ("rebase", "b", "main", "b:stack:merged:a")]),
    ("retargeted-already", [m("a", state="merged"), m("b", "a", base_branch="main", told=("b:stack:merged:a",))], []),
    ("lower-closed-asks-nothing", [m("a", state="closed", head="h1"), m("b", "a")], []),
    ("ended-upper-asks-nothing", [m("a", head="h1"), m("b", "a", state="killed")], []),
]


@pytest.mark.parametrize(("case", "members", "expected"), CASES, ids=[c[0] for c in CASES])
def test_decide(case: str, members: list[Member], expected: list[tuple[str, str, str, str]]) -> None:
    assert steps(members) == expected


def test_depth_counts_from_the_bottom_and_survives_a_loop() -> None:
    assert depth([m("c", "b"), m("b", "a"), m("a")]) == {"c": 2, "b": 1, "a": 0}
    assert set(depth([m("x", "y"), m("y", "x")])) == {"x", "y"}  # a broken record never hangs


HOLDS = [
    ("bottom-may-merge", m("a"), None, None),
    ("upper-waits-for-lower", m("b", "a"), m("a", state="approved"), "waits for a's PR below it to merge first"),
    ("upper-waits-for-retarget", m("b", "a"), m("a", state="merged"), "waits to be retargeted off ao/a (a merged)"),
    ("upper-retargeted-may-merge", m("b", "a", base_branch="main"), m("a", state="merged"), None),
]


@pytest.mark.parametrize(("case", "member", "parent", "reason"), HOLDS, ids=[h[0] for h in HOLDS])
def test_merge_hold(case: str, member: Member, parent: Member | None, reason: str | None) -> None:
    assert merge_hold(member, parent) == reason
