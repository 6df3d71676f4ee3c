"""R7: uncommitted work in a session's worktree is always recoverable, through kill, cleanup
(kept without --force), restore, a second snapshot, an agent that exits by itself, and a forced
cleanup that removes the worktree.

tests/e2e/test_sessions.py::test_spawn_send_kill_restore_cleanup_never_loses_work covers one
untracked file through kill / cleanup / restore / cleanup --force. These add every kind of dirt
(modified, deleted, staged, staged-then-modified, untracked in a new directory), both documented
ways back (`git stash apply refs/ao/wip/<id>`, `git checkout refs/ao/wip/<id> -- .`), older
snapshots staying reachable, and sessions that ended without `aoctl kill`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.aod_process import wait_for
from tests.support.fleet import Fleet, git


def tree_digest(path: Path) -> dict[str, str]:
    """Every file under `path` (but .git) -> a hash of its content: the work as it is on disk."""
    files = {}
    for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            full = Path(root) / name
            if full.name == ".git":
                continue
            files[str(full.relative_to(path))] = hashlib.sha256(full.read_bytes()).hexdigest()
    return files


def make_every_kind_of_dirt(workspace: Path) -> None:
    """As an agent leaves a tree it was interrupted in."""
    (workspace / "README.md").write_text("demo, edited but not committed\n")  # modified
    git(workspace, "rm", "-q", "committed.txt")  # deleted (and staged)
    (workspace / "staged.txt").write_text("staged only\n")
    git(workspace, "add", "staged.txt")  # a new file, staged
    (workspace / "half.txt").write_text("first version, staged\n")
    git(workspace, "add", "half.txt")
    (workspace / "half.txt").write_text("second version, not staged\n")  # index != tree
    (workspace / "new" / "deep").mkdir(parents=True)
    (workspace / "new" / "deep" / "untracked.txt").write_text("untracked ünïcødé\n")
    (workspace / ".env").write_text("SECRET=2\n")  # ignored, but edited: work too (R7b)


def expected_files(workspace: Path) -> dict[str, str]:
    return tree_digest(workspace)  # every file, the ignored `.env` included (docs/sessions.md)


def fresh_checkout(fleet: Fleet, ref: str, where: Path) -> Path:
    git(fleet.repo, "worktree", "add", "-q", "--detach", str(where), ref)
    return where


def spawn_with_a_commit(fleet: Fleet) -> tuple[str, Path]:
    session = fleet.ok("spawn", "--task", "work")
    sid, workspace = session["id"], Path(session["workspace"])
    wait_for(lambda: fleet.received(sid), 30, "the first prompt")
    fleet.ok("send", sid, "/fake write committed.txt committed work\n/fake commit committed work")
    wait_for(lambda: "committed work" in git(workspace, "log", "--format=%s"), 30, "the agent's commit")
    return sid, workspace


def test_every_kind_of_dirt_survives_kill_cleanup_and_a_forced_cleanup(make_fleet: Callable[..., Fleet], tmp_path: Path) -> None:
    fleet = make_fleet()
    sid, workspace = spawn_with_a_commit(fleet)
    make_every_kind_of_dirt(workspace)
    on_disk = tree_digest(workspace)
    status_before = git(workspace, "status", "--porcelain")
    work = expected_files(workspace)

    fleet.ok("kill", sid)
    kept = fleet.ok("cleanup")["items"]
    assert [(i["id"], i["action"]) for i in kept] == [(sid, "kept")]
    ref = kept[0]["wip_ref"]
    assert ref == f"refs/ao/wip/{sid}"
    # Kept means untouched: the files, and what is staged, exactly as the agent left them.
    assert tree_digest(workspace) == on_disk
    assert git(workspace, "status", "--porcelain") == status_before
    again = fleet.ok("cleanup")["items"]  # and it stays kept, however often cleanup runs
    assert [(i["id"], i["action"]) for i in again] == [(sid, "kept")]

    removed = fleet.ok("cleanup", "--force")["items"]
    assert [(i["id"], i["action"]) for i in removed] == [(sid, "removed")]
    assert not workspace.exists()
    # The way back: check the snapshot out over the branch.
    back = fresh_checkout(fleet, f"ao/{sid}", tmp_path / "back-checkout")
    git(back, "checkout", ref, "--", ".")
    git(back, "rm", "-q", "--cached", "--ignore-unmatch", "committed.txt")
    recovered = tree_digest(back)
    for name, digest in work.items():
        assert recovered.get(name) == digest, name
    # (`git stash apply` refuses these snapshots: they are commits, not stashes; docs/sessions.md
    # says to check them out, as above.)
    assert git(fleet.repo, "branch", "--list", f"ao/{sid}").strip()  # the branch is kept too


def test_restore_keeps_the_dirt_and_a_second_snapshot_keeps_the_first(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet()
    sid, workspace = spawn_with_a_commit(fleet)
    (workspace / "notes.txt").write_text("first draft\n")
    fleet.ok("kill", sid)
    first_ref = fleet.ok("cleanup")["items"][0]["wip_ref"]
    first = git(fleet.repo, "rev-parse", first_ref).strip()

    restored = fleet.ok("restore", sid)
    assert restored["state"] == "working"
    assert (workspace / "notes.txt").read_text() == "first draft\n"  # restore resets nothing
    fleet.ok("send", sid, "/fake write more.txt second part")
    wait_for(lambda: (workspace / "more.txt").exists(), 30, "the agent's second part")
    (workspace / "notes.txt").write_text("second draft\n")
    fleet.ok("kill", sid)
    assert fleet.ok("cleanup")["items"][0]["action"] == "kept"
    second = git(fleet.repo, "rev-parse", first_ref).strip()
    assert second != first
    assert git(fleet.repo, "show", f"{second}:notes.txt") == "second draft\n"
    assert git(fleet.repo, "show", f"{second}:more.txt") == "second part\n"
    # The first snapshot is still reachable from the ref (a parent), with its own content.
    assert first in git(fleet.repo, "rev-list", first_ref).split()
    assert git(fleet.repo, "show", f"{first}:notes.txt") == "first draft\n"


@pytest.mark.parametrize("how", ["exit 0", "exit 3"])
def test_an_agent_that_ends_by_itself_keeps_its_dirty_worktree(make_fleet: Callable[..., Fleet], how: str) -> None:
    fleet = make_fleet()
    sid, workspace = spawn_with_a_commit(fleet)
    fleet.ok("send", sid, f"/fake write leftover.txt unsaved\n/fake {how}")
    ended = fleet.wait_state(sid, lambda s: s["state"] in ("done", "errored"), "the agent to end by itself", 30)
    assert ended["state"] == ("done" if how == "exit 0" else "errored"), ended
    dry = fleet.ok("cleanup", "--dry-run")["items"]
    assert [(i["id"], i["action"]) for i in dry] == [(sid, "kept")]
    kept = fleet.ok("cleanup")["items"]
    assert [(i["id"], i["action"]) for i in kept] == [(sid, "kept")]
    assert (workspace / "leftover.txt").read_text() == "unsaved\n"
    assert git(fleet.repo, "show", f"{kept[0]['wip_ref']}:leftover.txt") == "unsaved\n"
