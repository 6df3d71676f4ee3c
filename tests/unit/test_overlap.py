"""The overlap rule and the finished-turn rule (aod/overlap.py), as tables."""

from __future__ import annotations

import msgspec
import pytest

from aod.changed_paths import parse_status
from aod.model import Overlap
from aod.overlap import (
    MAX_FILES,
    Changes,
    is_finished_turn,
    next_overlaps,
    notice_actions,
    notice_subject,
    pairs,
)

T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"


def c(session: str, created: str, *paths: str, unknown: bool = False) -> Changes:
    return Changes(session, created, None if unknown else frozenset(paths))


@pytest.mark.parametrize(
    "sessions, expected",
    [
        ([], {}),
        ([c("a", T0, "x"), c("b", T1, "y")], {}),
        ([c("a", T0, "x", "y"), c("b", T1, "y", "z")], {("a", "b"): ("y",)}),
        # ordered by spawn time, not by id
        ([c("z", T0, "f"), c("a", T1, "f")], {("z", "a"): ("f",)}),
        # same spawn time: by id
        ([c("b", T0, "f"), c("a", T0, "f")], {("a", "b"): ("f",)}),
        # three sessions on one file: every pair
        (
            [c("a", T0, "f"), c("b", T1, "f", "g"), c("c", T2, "g", "f")],
            {("a", "b"): ("f",), ("a", "c"): ("f",), ("b", "c"): ("f", "g")},
        ),
        # unknown paths overlap with nothing
        ([c("a", T0, "f"), c("b", T1, unknown=True)], {}),
        # attempts of one group work on one task: no overlap between them, but with others
        (
            [Changes("a", T0, frozenset("f"), "g-1"), Changes("b", T1, frozenset("f"), "g-1"), c("c", T2, "f")],
            {("a", "c"): ("f",), ("b", "c"): ("f",)},
        ),
        ([Changes("a", T0, frozenset("f"), "g-1"), Changes("b", T1, frozenset("f"), "g-2")], {("a", "b"): ("f",)}),
    ],
)
def test_pairs(sessions: list[Changes], expected: dict) -> None:
    assert pairs(sessions) == expected


def test_a_new_overlap_is_recorded_on_both_sides_and_due_on_the_later_only() -> None:
    result = next_overlaps({}, [c("a", T0, "f", "g"), c("b", T1, "g", "f", "h")], T2)
    assert result == {
        "a": [Overlap(session="b", files=["f", "g"], file_count=2, since=T2, notice_due=False)],
        "b": [Overlap(session="a", files=["f", "g"], file_count=2, since=T2, notice_due=True)],
    }


def test_an_overlap_already_recorded_keeps_its_since_and_its_cleared_notice() -> None:
    current = {
        "a": [Overlap(session="b", files=["f"], file_count=1, since=T0)],
        "b": [Overlap(session="a", files=["f"], file_count=1, since=T0, notice_due=False)],
    }
    result = next_overlaps(current, [c("a", T0, "f", "g"), c("b", T1, "f", "g")], T2)
    assert result["b"] == [Overlap(session="a", files=["f", "g"], file_count=2, since=T0, notice_due=False)]
    assert result["a"][0].since == T0


def test_an_overlap_not_yet_noticed_stays_due() -> None:
    current = {"b": [Overlap(session="a", files=["f"], file_count=1, since=T0, notice_due=True)]}
    result = next_overlaps(current, [c("a", T0, "f"), c("b", T1, "f")], T2)
    assert result["b"][0].notice_due is True and result["b"][0].since == T0


def test_a_pair_that_stops_overlapping_is_dropped_and_a_new_episode_is_told_again() -> None:
    first = next_overlaps({}, [c("a", T0, "f"), c("b", T1, "f")], T0)
    cleared = {k: [o if k == "a" else msgspec.structs.replace(o, notice_due=False) for o in v] for k, v in first.items()}
    gone = next_overlaps(cleared, [c("a", T0, "f"), c("b", T1, "other")], T1)
    assert gone == {"a": [], "b": []}
    again = next_overlaps(gone, [c("a", T0, "f"), c("b", T1, "f")], T2)
    assert again["b"][0].since == T2 and again["b"][0].notice_due is True
    assert notice_subject(again["b"][0]) != notice_subject(first["b"][0])


def test_unknown_paths_change_nothing() -> None:
    current = {
        "a": [Overlap(session="b", files=["f"], file_count=1, since=T0)],
        "b": [Overlap(session="a", files=["f"], file_count=1, since=T0, notice_due=True)],
    }
    result = next_overlaps(current, [c("a", T0, "f"), c("b", T1, unknown=True)], T2)
    assert result == current


def test_an_ended_partner_is_dropped() -> None:
    current = {"b": [Overlap(session="a", files=["f"], file_count=1, since=T0)]}
    assert next_overlaps(current, [c("b", T1, "f")], T2) == {"b": []}


def test_files_are_bounded_and_counted() -> None:
    many = [f"f{n:03}" for n in range(MAX_FILES + 7)]
    result = next_overlaps({}, [c("a", T0, *many), c("b", T1, *many)], T2)
    entry = result["b"][0]
    assert len(entry.files) == MAX_FILES and entry.file_count == MAX_FILES + 7


def test_notice_actions_fingerprints_and_texts() -> None:
    entry = Overlap(session="a", files=["src/x.py"], file_count=1, since=T0, notice_due=True)
    (notify,) = notice_actions("b", entry, tell_agent=False)
    assert notify.kind == "notify" and notify.key == "overlap"
    assert notify.fingerprint == f"b:overlap:a@{T0}:notify"
    assert "src/x.py" in notify.message and "a" in notify.title and "b" in notify.title
    notify2, tell = notice_actions("b", entry, tell_agent=True)
    assert notify2 == notify
    assert tell.kind == "send-to-agent" and tell.fingerprint == f"b:overlap:a@{T0}:send-to-agent"
    assert "src/x.py" in tell.message and "(a)" in tell.message
    # the same overlap decided again: the same fingerprints (the ledger makes it once)
    assert notice_actions("b", entry, tell_agent=True) == [notify2, tell]


@pytest.mark.parametrize(
    "previous, current, finished",
    [
        ("active", "idle", True),
        ("active", "ready", True),
        ("active", "waiting_input", False),
        ("active", "exited", False),
        ("active", "blocked", False),
        ("active", "unknown", False),
        ("idle", "ready", False),
        ("ready", "idle", False),
        ("unknown", "idle", False),
        ("waiting_input", "idle", False),
        ("idle", "active", False),
    ],
)
def test_finished_turn(previous: str, current: str, finished: bool) -> None:
    assert is_finished_turn(previous, current) is finished


def test_parse_status() -> None:
    out = b" M a.py\0A  new dir/b.txt\0?? c\0D  gone\0"
    assert parse_status(out) == frozenset({"a.py", "new dir/b.txt", "c", "gone"})
    assert parse_status(b"") == frozenset()
