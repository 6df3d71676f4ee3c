"""Signs of progress the observer reads without a subprocess: a commit in a real worktree."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from aod.observe import last_commit_time


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=dev@example.com", "-c", "user.name=Dev", *args],
        cwd=cwd, check=True, capture_output=True,
    )


@pytest.mark.parametrize("remembered", [False, True], ids=["looked-up", "remembered"])
def test_a_commit_in_a_worktree_or_a_clone_moves_the_last_commit_time(tmp_path: Path, remembered: bool) -> None:
    # remembered: the tick's way, where the reflog found once is only stat'ed afterwards.
    reflogs: dict[str, str] | None = {} if remembered else None
    repo, tree = tmp_path / "repo", tmp_path / "tree"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "first")
    git(repo, "worktree", "add", "-q", str(tree), "-b", "ao/x")
    for workspace in (tree, repo):
        reflog_time = last_commit_time(workspace, reflogs)
        assert reflog_time is not None
        # Pretend the last commit was long ago, then commit: the time must move to now.
        reflog = Path(subprocess.run(["git", "rev-parse", "--git-dir"], cwd=workspace, capture_output=True,
                                     text=True, check=True).stdout.strip())
        reflog = (workspace / reflog if not reflog.is_absolute() else reflog) / "logs" / "HEAD"
        os.utime(reflog, (1_000_000.0, 1_000_000.0))
        assert last_commit_time(workspace, reflogs) == 1_000_000.0
        git(workspace, "commit", "-q", "--allow-empty", "-m", "work")
        moved = last_commit_time(workspace, reflogs)
        assert moved is not None and moved > 1_000_000.0


def test_a_remembered_reflog_that_went_away_is_looked_for_again(tmp_path: Path) -> None:
    repo, tree = tmp_path / "repo", tmp_path / "tree"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "first")
    git(repo, "worktree", "add", "-q", str(tree), "-b", "ao/x")
    reflogs: dict[str, str] = {}
    assert last_commit_time(tree, reflogs) is not None and str(tree) in reflogs
    git(repo, "worktree", "remove", "--force", str(tree))
    assert last_commit_time(tree, reflogs) is None
    assert reflogs == {}


def test_no_repository_means_no_signal(tmp_path: Path) -> None:
    assert last_commit_time(tmp_path) is None
    (tmp_path / ".git").write_text("not a gitdir line\n")
    assert last_commit_time(tmp_path) is None
