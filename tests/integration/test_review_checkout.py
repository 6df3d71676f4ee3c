"""A reviewer's checkout (aod/reviewers.py:read_only_checkout) with real git: a detached worktree
of the PR head, no branch of its own, and every way of pushing from it refused — to a named
remote, to a URL, with --no-verify — while the project's own worktree still pushes."""

from __future__ import annotations

import subprocess
from pathlib import Path

from aod.plugins.workspace.worktree import WorktreeWorkspace
from aod.reviewers import read_only_checkout
from tests.support.fleet import git, make_repo


def _push(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(path), "push", *args], capture_output=True, text=True, timeout=60)


async def test_a_review_checkout_is_detached_and_refuses_every_push(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    git(repo, "switch", "-q", "-c", "ao/demo-1")
    (repo / "app.txt").write_text("feature\n")
    git(repo, "add", "app.txt")
    git(repo, "commit", "-q", "-m", "feature")
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "switch", "-q", "main")
    branches_before = git(repo, "branch", "--list").split()

    checkout = tmp_path / "worktrees" / "demo-2"
    await read_only_checkout(repo, checkout, head, tmp_path / "hooks")

    assert (checkout / "app.txt").read_text() == "feature\n"
    assert git(checkout, "rev-parse", "HEAD").strip() == head
    assert subprocess.run(["git", "-C", str(checkout), "symbolic-ref", "-q", "HEAD"]).returncode != 0  # detached
    assert git(repo, "branch", "--list").split() == branches_before  # no branch made

    refused = [
        _push(checkout, "origin", "HEAD:refs/heads/from-review"),
        _push(checkout, str(remote), "HEAD:refs/heads/from-review-url"),
        _push(checkout, "--no-verify", f"file://{remote}", "HEAD:refs/heads/from-review-no-verify"),
        _push(checkout, "--no-verify", "origin", "HEAD:refs/heads/from-review-2"),
    ]
    assert all(r.returncode != 0 for r in refused), [r.stderr for r in refused]
    assert "from-review" not in git(remote, "branch", "--list")

    # The refusal is the reviewer checkout's alone: the project's worktree pushes as before.
    ok = _push(repo, "origin", f"{head}:refs/heads/ao/demo-1")
    assert ok.returncode == 0, ok.stderr
    assert "ao/demo-1" in git(remote, "branch", "--list")

    # The hook says why when it gets to run (no rewrite matched, e.g. a push to a local path).
    hook = tmp_path / "hooks" / "pre-push"
    assert "read-only review checkout" in hook.read_text()

    # Cleanup removes it like any session worktree.
    await WorktreeWorkspace().remove(repo, checkout, force=False)
    assert not checkout.exists()
