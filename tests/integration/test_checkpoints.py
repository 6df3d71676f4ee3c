"""Per-turn checkpoints and rollback, and the changed paths behind the overlap warnings, on real
git: a linked worktree of a repository in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aod.changed_paths import ChangedPaths, WorktreeLook
from aod.plugins.workspace.checkpoint import list_checkpoints, restore_checkpoint, take_checkpoint
from aod.proc import COUNTER
from tests.integration.test_workspace import fingerprint, isolated_git, make_repo, sh  # noqa: F401 - fixture

SID = "s-1"


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path)
    path = tmp_path / "wt"
    sh(repo, "worktree", "add", "-q", "-b", "ao/s-1", str(path), "main")
    return path


def files_of(path: Path) -> dict[str, bytes]:
    """Every file of the working tree but .git, with its bytes."""
    out: dict[str, bytes] = {}
    for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            full = Path(root, name)
            out[str(full.relative_to(path))] = full.read_bytes()
    return out


def dirty(path: Path) -> None:
    """Work of every kind: a commit, a staged change, an unstaged one, an untracked file, a
    deletion, an ignored file."""
    (path / "a.txt").write_text("one\n")
    sh(path, "add", "a.txt")
    sh(path, "commit", "-q", "-m", "a")
    (path / "staged.txt").write_text("staged\n")
    sh(path, "add", "staged.txt")
    (path / "a.txt").write_text("one\ntwo\n")
    (path / "new dir").mkdir()
    (path / "new dir" / "untracked.txt").write_text("u\n")
    (path / "README.md").unlink()
    (path / "x.log").write_text("ignored\n")


async def test_a_checkpoint_changes_nothing_of_the_worktree_index_or_head(worktree: Path) -> None:
    dirty(worktree)
    before = fingerprint(worktree)
    taken = await take_checkpoint(worktree, SID, "turn", keep=50)
    assert taken == (1, True)
    assert fingerprint(worktree) == before
    (checkpoint,) = await list_checkpoints(worktree, SID, diffstat=True)
    assert checkpoint.ref == f"refs/ao/checkpoints/{SID}/1"
    assert checkpoint.head == sh(worktree, "rev-parse", "HEAD").strip()
    names = set(sh(worktree, "ls-tree", "-r", "--name-only", checkpoint.commit).splitlines())
    assert names == {".gitignore", "a.txt", "staged.txt", "new dir/untracked.txt"}  # no README, no x.log
    assert checkpoint.files_changed == 4  # a.txt, staged.txt, untracked, README deleted vs HEAD


async def test_an_identical_checkpoint_is_skipped_and_the_oldest_are_pruned(worktree: Path) -> None:
    assert await take_checkpoint(worktree, SID, "turn", keep=3) == (1, True)
    assert await take_checkpoint(worktree, SID, "turn", keep=3) == (1, False)
    for n in range(2, 6):
        (worktree / "f.txt").write_text(f"{n}\n")
        assert await take_checkpoint(worktree, SID, "turn", keep=3) == (n, True)
    kept = await list_checkpoints(worktree, SID, diffstat=True)
    assert [c.n for c in kept] == [3, 4, 5]
    assert [(c.files_changed, c.insertions, c.deletions) for c in kept[1:]] == [(1, 1, 1), (1, 1, 1)]


async def test_rollback_round_trip_loses_nothing(worktree: Path) -> None:
    (worktree / "early.txt").write_text("early\n")
    await take_checkpoint(worktree, SID, "turn", keep=50)
    early_files, early_head = files_of(worktree), sh(worktree, "rev-parse", "HEAD").strip()
    dirty(worktree)
    (worktree / "early.txt").write_text("changed later\n")
    later_files, later_fp = files_of(worktree), fingerprint(worktree)

    checkpoints = await list_checkpoints(worktree, SID)
    saved_n, _made = await take_checkpoint(worktree, SID, "rollback", keep=50)
    by_n = {c.n: c for c in await list_checkpoints(worktree, SID)}
    await restore_checkpoint(worktree, by_n[saved_n], checkpoints[0])

    back = files_of(worktree)
    back.pop("x.log")  # ignored: no checkpoint holds it, a rollback leaves it
    assert back == early_files
    assert sh(worktree, "rev-parse", "HEAD").strip() == early_head
    assert sh(worktree, "symbolic-ref", "HEAD").strip() == "refs/heads/ao/s-1"  # still on the branch
    assert sh(worktree, "diff", "--cached", "--name-only") == ""  # the index matches HEAD
    assert not (worktree / "new dir").exists()  # made after the checkpoint: removed (and kept in saved_n)

    # ... and rolling back to the checkpoint taken just before gives everything back.
    undo_n, _ = await take_checkpoint(worktree, SID, "rollback", keep=50)
    by_n = {c.n: c for c in await list_checkpoints(worktree, SID)}
    await restore_checkpoint(worktree, by_n[undo_n], by_n[saved_n])
    assert files_of(worktree) == later_files
    after = fingerprint(worktree)
    # The files, HEAD and what is uncommitted are as they were; only the staging is not kept (a
    # checkpoint is the working tree: `staged.txt` comes back as an untracked file).
    assert {k: v for k, v in after.items() if not k.startswith("<")} == {
        k: v for k, v in later_fp.items() if not k.startswith("<")
    }
    assert after["<HEAD>"] == later_fp["<HEAD>"]


async def test_changed_paths_see_commits_index_files_and_untracked_and_cost_nothing_when_quiet(worktree: Path) -> None:
    paths = ChangedPaths()
    look = WorktreeLook(SID, str(worktree), ("refs/heads/main",))
    assert (await paths.look([look]))[SID] == frozenset()
    dirty(worktree)
    started = COUNTER.started
    got = (await paths.look([look]))[SID]
    assert got == frozenset({"a.txt", "staged.txt", "new dir/untracked.txt", "README.md"})
    assert COUNTER.started - started == 2  # HEAD moved: the branch diff and the status

    started = COUNTER.started
    assert (await paths.look([look]))[SID] == got
    assert COUNTER.started == started  # quiet: no subprocess

    # An unstaged edit moves neither HEAD nor the index: seen when the agent moved.
    (worktree / "later.txt").write_text("x\n")
    assert (await paths.look([look]))[SID] == got
    started = COUNTER.started
    moved = WorktreeLook(SID, str(worktree), ("refs/heads/main",), moved=True)
    assert (await paths.look([moved]))[SID] == got | {"later.txt"}
    assert COUNTER.started - started == 1  # one `git status`

    # `git add` moves the index: one status, no diff.
    (worktree / "added.txt").write_text("x\n")
    sh(worktree, "add", "added.txt")
    started = COUNTER.started
    assert "added.txt" in (await paths.look([look]))[SID]
    assert COUNTER.started - started == 1
