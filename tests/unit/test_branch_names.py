"""Branch names from users and issue titles: what `valid_branch_name` lets through."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aod.plugins.workspace.git import MAX_BRANCH_NAME_BYTES, check_branch_name, valid_branch_name

GOOD = [
    "main",
    "ao/fix-login-42",
    "feature/UI_polish.v2",
    "issue-7",
    "a",
    "x" * MAX_BRANCH_NAME_BYTES,
    "tëst/ünïcode",
    "a.b/c-d_e",
]

HOSTILE = [
    "",
    "-x",
    "--force",
    "-",
    "a..b",
    "..",
    "a b",
    " a",
    "a\tb",
    "a\nb",
    "x.lock",
    "a/x.lock/b",
    "@{",
    "a@{-1}",
    "@{-1}",
    "@",
    "HEAD",
    "a\x00b",
    "a\x1bb",
    "a\x7fb",
    "a\u202eb",  # right-to-left override
    "a\u200bb",  # zero-width space
    "a\u2028b",  # line separator
    "a\u00a0b",  # no-break space
    "x" * (MAX_BRANCH_NAME_BYTES + 1),
    "é" * (MAX_BRANCH_NAME_BYTES // 2 + 1),  # bytes, not characters
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[b",
    "a\\b",
    "/a",
    "a/",
    "a//b",
    ".hidden",
    "a/.b",
    "a.",
    "a/./b",
]


@pytest.mark.parametrize("name", GOOD)
def test_good_names_pass(name: str) -> None:
    assert valid_branch_name(name)


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_hostile_names_are_rejected(name: str) -> None:
    assert not valid_branch_name(name)


def test_non_strings_and_surrogates_are_rejected() -> None:
    assert not valid_branch_name(None)  # type: ignore[arg-type]
    assert not valid_branch_name(b"main")  # type: ignore[arg-type]
    assert not valid_branch_name("a\ud800b")


def _git_accepts(name: str) -> bool:
    result = subprocess.run(
        ["git", "check-ref-format", "--branch", name],
        cwd="/",
        capture_output=True,
        check=False,
    )
    return result.returncode == 0 and result.stdout.decode("utf-8", "replace").strip() == name


@pytest.mark.parametrize("name", GOOD)
def test_git_accepts_the_good_names(name: str) -> None:
    assert _git_accepts(name)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab-./@{}~^:?*[\\ \t.lockHEAD\u202eé")), max_size=12))
def test_never_looser_than_git(name: str) -> None:
    # Soundness: whatever aod accepts, git accepts too (aod may be stricter, never looser).
    if valid_branch_name(name):
        assert _git_accepts(name), name


async def test_check_branch_name_asks_git(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)
    assert await check_branch_name(tmp_path, "ao/fix-1")
    for name in ("-x", "a..b", "a b", "x.lock", "@{-1}", "a\x01b", "x" * 300):
        assert not await check_branch_name(tmp_path, name)
