"""aod/placement.py (issue 21): where a spawn without --host goes, as a table."""

from __future__ import annotations

import pytest

from aod.placement import HostLoad, PlacementError, choose

L = HostLoad("local", True, 3)
A = HostLoad("a", True, 1, 10, 0.5)
B = HostLoad("b", True, 1, 10, 0.2)
FULL = HostLoad("full", True, 5, 5)
DOWN = HostLoad("down", False, 0)


@pytest.mark.parametrize(
    ("policy", "pinned", "project", "hosts", "turn", "expected"),
    [
        ("local", {}, "demo", [L, A], 0, "local"),
        ("local", {"demo": "a"}, "demo", [L, A], 0, "a"),  # a pin wins over the policy
        ("local", {"demo": "local"}, "demo", [L, A], 0, "local"),
        ("least-loaded", {}, "demo", [L, A, B], 0, "b"),  # fewest live, then the lower load
        ("least-loaded", {}, "demo", [L, DOWN, FULL], 0, "local"),  # unreachable and full skipped
        ("least-loaded", {}, None, [HostLoad("local", True, 1), A], 0, "local"),  # a tie stays first
        ("least-loaded", {"other": "a"}, "demo", [L, A, B], 0, "b"),  # another project's pin
        ("round-robin", {}, "demo", [L, A, B], 0, "local"),
        ("round-robin", {}, "demo", [L, A, B], 1, "a"),
        ("round-robin", {}, "demo", [L, A, B], 5, "b"),
        ("round-robin", {}, "demo", [L, DOWN, A, FULL], 1, "a"),  # only the usable take turns
    ],
)
def test_choose(policy: str, pinned: dict[str, str], project: str | None, hosts: list[HostLoad], turn: int, expected: str) -> None:
    assert choose(policy, pinned, project, hosts, turn) == expected


@pytest.mark.parametrize(
    ("pinned", "hosts", "words"),
    [
        ({"demo": "down"}, [L, DOWN], "unreachable"),
        ({"demo": "full"}, [L, FULL], "full (5 of max_sessions 5)"),
        ({"demo": "gone"}, [L], "not in `hosts`"),
    ],
)
def test_a_pinned_project_goes_there_or_is_refused_saying_why(pinned: dict[str, str], hosts: list[HostLoad], words: str) -> None:
    with pytest.raises(PlacementError, match="pinned") as caught:
        choose("least-loaded", pinned, "demo", hosts)
    assert words in str(caught.value)


def test_nothing_usable_is_refused() -> None:
    with pytest.raises(PlacementError, match="--host local"):
        choose("round-robin", {}, "demo", [DOWN, FULL])


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(PlacementError, match="not local"):
        choose("random", {}, "demo", [L])
