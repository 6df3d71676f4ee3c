"""Workspaces on real git: worktrees and clones in tmp_path, created, snapshotted, removed."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from aod.plugins.workspace import DirtyWorkspace, WorkspaceError, WorkspaceSpec
from aod.plugins.workspace.bootstrap import OUTPUT_LIMIT, copy_worktreeinclude, run_setup_hook
from aod.plugins.workspace.clone import CloneWorkspace
from aod.plugins.workspace.git import (
    branch_exists,
    default_branch,
    default_remote,
    git,
    is_git_repo,
)
from aod.plugins.workspace.worktree import WorktreeWorkspace

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No global or system git config of the machine running the tests (signing, hooks, an
    init.defaultBranch) may change what these tests see."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_TEMPLATE_DIR", "GIT_AUTHOR_NAME",
                 "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    yield


def sh(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        check=True,
        env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", **(env or {})},
    )
    return result.stdout.decode()


def commit_file(repo: Path, name: str, content: str, message: str | None = None) -> str:
    target = repo / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)
    sh(repo, "add", name)
    sh(repo, "commit", "-q", "-m", message or f"add {name}")
    return sh(repo, "rev-parse", "HEAD").strip()


def make_repo(root: Path, name: str = "repo") -> Path:
    repo = root / name
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    sh(repo, "config", "user.name", "Test User")
    sh(repo, "config", "user.email", "test@example.com")
    (repo / ".gitignore").write_text(".env\n*.log\nconfig/local.json\ncfg/\n")
    commit_file(repo, "README.md", "hello\n", "initial")
    sh(repo, "add", ".gitignore")
    sh(repo, "commit", "-q", "-m", "ignore")
    return repo


def rev(repo: Path, what: str) -> str | None:
    result = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", what], cwd=repo, capture_output=True, check=False
    )
    return result.stdout.decode().strip() if result.returncode == 0 else None


def worktree_paths(repo: Path) -> list[str]:
    out = sh(repo, "worktree", "list", "--porcelain")
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")]


def fingerprint(path: Path) -> dict[str, str]:
    """Everything a snapshot must not change: every file (and link) in the working tree, the
    index file's bytes, HEAD and the status."""
    files: dict[str, str] = {}
    for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            full = Path(root, name)
            key = str(full.relative_to(path))
            if full.is_symlink():
                files[key] = "link:" + os.readlink(full)
            else:
                files[key] = hashlib.sha256(full.read_bytes()).hexdigest() + oct(full.stat().st_mode)
    index = Path(sh(path, "rev-parse", "--path-format=absolute", "--git-path", "index").strip())
    files["<index>"] = hashlib.sha256(index.read_bytes()).hexdigest()
    files["<HEAD>"] = sh(path, "symbolic-ref", "HEAD") + sh(path, "rev-parse", "HEAD")
    files["<status>"] = sh(path, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    return files


def spec(repo: Path, path: Path, branch: str = "ao/s1", base: str = "main") -> WorkspaceSpec:
    return WorkspaceSpec(repo=repo, path=path, branch=branch, base=base)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path)


@pytest.fixture
def ws() -> WorktreeWorkspace:
    return WorktreeWorkspace(timeout=30)


def write_hook(hooks_dir: Path, name: str, body: str) -> None:
    hooks_dir.mkdir(parents=True, exist_ok=True)
    hook = hooks_dir / name
    hook.write_text("#!/bin/sh\n" + body)
    hook.chmod(0o755)


# ---------------------------------------------------------------------------------------------
# git helpers
# ---------------------------------------------------------------------------------------------


async def test_repository_questions(tmp_path: Path, repo: Path) -> None:
    assert await is_git_repo(repo)
    plain = tmp_path / "plain"
    plain.mkdir()
    assert not await is_git_repo(plain)
    assert not await is_git_repo(tmp_path / "missing")
    assert await branch_exists(repo, "main")
    assert not await branch_exists(repo, "nope")
    assert not await branch_exists(repo, "-x")
    assert await default_remote(repo) == (None, None)
    assert await default_branch(repo) == "main"

    sh(repo, "checkout", "-q", "-b", "topic")
    assert await default_branch(repo) == "topic"  # the main worktree's branch
    sh(repo, "checkout", "-q", "--detach")
    assert await default_branch(repo) == "main"  # detached: fall back to main/master
    sh(repo, "checkout", "-q", "main")

    upstream = tmp_path / "upstream.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "trunk", str(upstream)], check=True)
    sh(repo, "remote", "add", "upstream", str(upstream))
    assert await default_remote(repo) == ("upstream", str(upstream))
    sh(repo, "remote", "add", "origin", str(upstream))
    sh(repo, "push", "-q", "origin", "main:trunk")
    sh(repo, "fetch", "-q", "origin")
    sh(repo, "remote", "set-head", "origin", "trunk")
    assert await default_remote(repo) == ("origin", str(upstream))
    assert await default_branch(repo) == "trunk"

    failed = await git(repo, "rev-parse", "--verify", "nope", check=False)
    assert not failed.ok
    with pytest.raises(WorkspaceError, match="rev-parse"):
        await git(repo, "rev-parse", "--verify", "nope")


# ---------------------------------------------------------------------------------------------
# Worktree: create
# ---------------------------------------------------------------------------------------------


async def test_create_makes_worktree_and_branch(tmp_path: Path, repo: Path, ws: WorktreeWorkspace) -> None:
    path = tmp_path / "worktrees" / "s1"
    await ws.create(spec(repo, path))
    assert (path / "README.md").read_text() == "hello\n"
    assert sh(path, "symbolic-ref", "HEAD").strip() == "refs/heads/ao/s1"
    assert rev(repo, "refs/heads/ao/s1") == rev(repo, "main")
    assert str(path) in worktree_paths(repo)
    # No upstream: a bare `git push` from the agent must not land on main.
    assert subprocess.run(["git", "config", "branch.ao/s1.merge"], cwd=repo, check=False).returncode == 1
    assert await ws.exists(repo, path)
    assert not await ws.exists(repo, tmp_path / "worktrees" / "other")
    assert not await ws.exists(repo, repo)
    assert not await ws.is_dirty(path)


async def test_create_failing_midway_leaves_nothing(tmp_path: Path, repo: Path, ws: WorktreeWorkspace) -> None:
    # git makes the branch and the worktree, then the post-checkout hook fails the command.
    write_hook(repo / ".git" / "hooks", "post-checkout", "exit 7\n")
    path = tmp_path / "deep" / "er" / "s1"
    with pytest.raises(WorkspaceError, match="cannot create the worktree"):
        await ws.create(spec(repo, path))
    assert not (tmp_path / "deep").exists()  # parents git created are gone too
    assert rev(repo, "refs/heads/ao/s1") is None
    assert worktree_paths(repo) == [str(repo)]
    assert not (repo / ".git" / "worktrees").exists() or not any((repo / ".git" / "worktrees").iterdir())

    (repo / ".git" / "hooks" / "post-checkout").unlink()
    await ws.create(spec(repo, path))
    assert (path / "README.md").exists()


async def test_create_refusals_leave_nothing(tmp_path: Path, repo: Path, ws: WorktreeWorkspace) -> None:
    path = tmp_path / "s1"
    path.mkdir()
    (path / "leftover.txt").write_text("someone's\n")
    with pytest.raises(WorkspaceError, match="not empty"):
        await ws.create(spec(repo, path))
    assert (path / "leftover.txt").read_text() == "someone's\n"
    assert rev(repo, "refs/heads/ao/s1") is None

    with pytest.raises(WorkspaceError, match="no commit"):
        await ws.create(spec(repo, tmp_path / "s2", base="no-such-branch"))
    assert not (tmp_path / "s2").exists()
    assert rev(repo, "refs/heads/ao/s1") is None
    with pytest.raises(WorkspaceError, match="invalid branch name"):
        await ws.create(spec(repo, tmp_path / "s2", branch="-f"))
    with pytest.raises(WorkspaceError, match="contain the project"):
        await ws.create(spec(repo, tmp_path))
    assert worktree_paths(repo) == [str(repo)]

    # An empty leftover directory is used.
    (path / "leftover.txt").unlink()
    await ws.create(spec(repo, path))
    assert (path / "README.md").exists()


async def test_create_cancelled_midway_leaves_nothing(tmp_path: Path, repo: Path, ws: WorktreeWorkspace) -> None:
    started = tmp_path / "hook-started"
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    write_hook(repo / ".git" / "hooks", "post-checkout", f': > "{started}"\nread line < "{gate}"\n')
    path = tmp_path / "s1"
    try:
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                scope = trio.CancelScope()

                async def spawn() -> None:
                    with scope:
                        await ws.create(spec(repo, path))

                nursery.start_soon(spawn)
                while not started.exists():
                    await trio.sleep(0.01)
                assert rev(repo, "refs/heads/ao/s1") is not None  # midway: it had been made
                scope.cancel()
        assert scope.cancelled_caught
    finally:
        try:  # let the orphaned hook go
            fd = os.open(gate, os.O_WRONLY | os.O_NONBLOCK)
            os.write(fd, b"\n")
            os.close(fd)
        except OSError:
            pass
    assert not path.exists()
    assert rev(repo, "refs/heads/ao/s1") is None
    assert worktree_paths(repo) == [str(repo)]


async def test_existing_branch_with_own_commits_is_refused(tmp_path: Path, repo: Path, ws: WorktreeWorkspace) -> None:
    sh(repo, "checkout", "-q", "-b", "ao/s1")
    tip = commit_file(repo, "work.txt", "precious\n")
    sh(repo, "checkout", "-q", "main")
    path = tmp_path / "s1"
    with pytest.raises(WorkspaceError, match=r"branch 'ao/s1' already exists .* 1 commit"):
        await ws.create(spec(repo, path))
    assert not path.exists()
    assert rev(repo, "refs/heads/ao/s1") == tip


async def test_existing_branch_checked_out_elsewhere_is_refused(
    tmp_path: Path, repo: Path, ws: WorktreeWorkspace
) -> None:
    await ws.create(spec(repo, tmp_path / "s1"))
    with pytest.raises(WorkspaceError, match="checked out in"):
        await ws.create(spec(repo, tmp_path / "s1-again"))
    assert not (tmp_path / "s1-again").exists()
    assert rev(repo, "refs/heads/ao/s1") is not None  # the first one's branch is untouched


async def test_leftover_branch_without_commits_is_reused(tmp_path: Path, repo: Path, ws: WorktreeWorkspace) -> None:
    # An interrupted spawn left the branch at an older base; main moved on since.
    old_base = rev(repo, "main")
    sh(repo, "branch", "ao/s1", "main")
    new_base = commit_file(repo, "more.txt", "more\n")
    assert old_base != new_base
    await ws.create(spec(repo, tmp_path / "s1"))
    assert rev(repo, "refs/heads/ao/s1") == new_base
    assert (tmp_path / "s1" / "more.txt").exists()


async def test_stale_registration_is_pruned(tmp_path: Path, repo: Path, ws: WorktreeWorkspace) -> None:
    path = tmp_path / "s1"
    await ws.create(spec(repo, path))
    subprocess.run(["rm", "-rf", str(path)], check=True)  # someone deleted the directory
    # Re-spawning the same session: the stale registration goes, the commit-less branch is reused.
    await ws.create(spec(repo, path))
    assert sh(path, "symbolic-ref", "--short", "HEAD").strip() == "ao/s1"
    assert worktree_paths(repo) == [str(repo), str(path)]


async def test_a_stale_registration_whose_branch_is_gone_is_pruned_too(tmp_path: Path, repo: Path, ws: WorktreeWorkspace) -> None:
    # No branch to give it away: git refuses the add, and only then is the registration looked for.
    path = tmp_path / "s1"
    await ws.create(spec(repo, path))
    subprocess.run(["rm", "-rf", str(path)], check=True)
    sh(repo, "update-ref", "-d", "refs/heads/ao/s1")
    await ws.create(spec(repo, path))
    assert sh(path, "symbolic-ref", "--short", "HEAD").strip() == "ao/s1"
    assert worktree_paths(repo) == [str(repo), str(path)]


# ---------------------------------------------------------------------------------------------
# Worktree: dirty, snapshot, remove
# ---------------------------------------------------------------------------------------------


async def test_dirty_detection(tmp_path: Path, repo: Path, ws: WorktreeWorkspace) -> None:
    path = tmp_path / "s1"
    await ws.create(spec(repo, path))
    assert not await ws.is_dirty(path)

    (path / "debug.log").write_text("ignored\n")
    (path / ".env").write_text("SECRET=1\n")
    assert not await ws.is_dirty(path)  # ignored files are not work

    (path / "README.md").write_text("changed\n")
    assert await ws.is_dirty(path)
    sh(path, "checkout", "-q", "--", "README.md")
    assert not await ws.is_dirty(path)

    (path / "staged.txt").write_text("staged\n")
    sh(path, "add", "staged.txt")
    assert await ws.is_dirty(path)
    sh(path, "rm", "-q", "--cached", "staged.txt")
    assert await ws.is_dirty(path)  # now untracked
    (path / "staged.txt").unlink()
    assert not await ws.is_dirty(path)

    with pytest.raises(WorkspaceError, match="no workspace"):
        await ws.is_dirty(tmp_path / "missing")
    # A directory that is not a repository is not mistaken for its enclosing one.
    (path / "sub").mkdir()
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(WorkspaceError):
        await ws.is_dirty(plain)


async def test_snapshot_saves_work_without_touching_the_workspace(
    tmp_path: Path, repo: Path, ws: WorktreeWorkspace
) -> None:
    path = tmp_path / "s1"
    await ws.create(spec(repo, path))
    assert await ws.snapshot(repo, path, "s1") is None  # clean
    (path / "app.log").write_text("ignored\n")
    assert await ws.snapshot(repo, path, "s1") is None  # only ignored files
    assert rev(repo, "refs/ao/wip/s1") is None

    (path / "README.md").write_text("modified\n")
    (path / "new dir").mkdir()
    (path / "new dir" / "untracked.txt").write_text("untracked\n")
    (path / "staged.txt").write_text("staged version\n")
    sh(path, "add", "staged.txt")
    (path / "staged.txt").write_text("working version\n")  # staged and then changed again
    (path / "tool.sh").write_text("#!/bin/sh\n")
    (path / "tool.sh").chmod(0o755)
    before = fingerprint(path)

    ref = await ws.snapshot(repo, path, "s1")

    assert ref == "refs/ao/wip/s1"
    assert fingerprint(path) == before
    assert sh(repo, "show", f"{ref}:README.md") == "modified\n"
    assert sh(repo, "show", f"{ref}:new dir/untracked.txt") == "untracked\n"
    assert sh(repo, "show", f"{ref}:staged.txt") == "working version\n"
    assert "100755" in sh(repo, "ls-tree", ref, "tool.sh")
    assert "app.log" not in sh(repo, "ls-tree", "--name-only", ref)
    head = rev(repo, "refs/heads/ao/s1")
    parents = sh(repo, "rev-list", "--parents", "-n1", ref).split()[1:]
    assert parents[0] == head
    # The staged state differs from both HEAD and the files: it is kept as another parent.
    assert sh(repo, "show", f"{parents[-1]}:staged.txt") == "staged version\n"
    assert "uncommitted work of session s1" in sh(repo, "log", "-1", "--format=%s", ref)
    assert sh(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"  # repo untouched


@pytest.mark.parametrize("kind", ["worktree", "clone"])
async def test_ignored_files_are_listed_and_saved_when_asked(tmp_path: Path, repo: Path, kind: str) -> None:
    """`ignored_files` sees what git status does not; the caller prunes directories before they
    are walked; `snapshot(also=...)` saves the names literally (a `*` in a name is a `*`)."""
    workspace = WorktreeWorkspace(timeout=30) if kind == "worktree" else CloneWorkspace(timeout=30)
    path = tmp_path / "s1"
    await workspace.create(spec(repo, path))
    (path / "cfg" / "deep").mkdir(parents=True)
    (path / "cfg" / "deep" / "notes.txt").write_text("notes\n")
    (path / "cfg" / "cache").mkdir()
    (path / "cfg" / "cache" / "blob").write_bytes(b"x" * 10)
    (path / "run*.log").write_text("odd name\n")
    (path / "cfg" / "link").symlink_to("deep/notes.txt")
    asked: list[tuple[str, bool]] = []

    def leave_out(relative: str, is_dir: bool) -> bool:
        asked.append((relative, is_dir))
        return relative == "cfg/cache"

    found = await workspace.ignored_files(path, leave_out)
    assert sorted(found) == ["cfg/deep/notes.txt", "cfg/link", "run*.log"]
    assert found["cfg/deep/notes.txt"] == 6
    assert ("cfg/cache", True) in asked and not any(r.startswith("cfg/cache/") for r, _ in asked)
    assert not await workspace.is_dirty(path)

    ref = await workspace.snapshot(repo, path, "s1", also=sorted(found))
    assert ref == "refs/ao/wip/s1"
    assert sh(repo, "show", f"{ref}:cfg/deep/notes.txt") == "notes\n"
    assert sh(repo, "show", f"{ref}:run*.log") == "odd name\n"
    assert "120000" in sh(repo, "ls-tree", f"{ref}:cfg", "link")  # saved as the link it is
    assert "cache" not in sh(repo, "ls-tree", "-r", "--name-only", ref)
    assert sh(path, "status", "--porcelain") == ""  # the workspace's index is untouched


async def test_second_snapshot_keeps_the_first_reachable(
    tmp_path: Path, repo: Path, ws: WorktreeWorkspace
) -> None:
    path = tmp_path / "s1"
    await ws.create(spec(repo, path))
    (path / "notes.txt").write_text("first\n")
    await ws.snapshot(repo, path, "s1")
    first = rev(repo, "refs/ao/wip/s1")
    (path / "notes.txt").write_text("second\n")
    await ws.snapshot(repo, path, "s1")
    second = rev(repo, "refs/ao/wip/s1")
    assert first != second
    assert rev(repo, "refs/ao/wip/s1^2") == first
    assert sh(repo, "show", "refs/ao/wip/s1^2:notes.txt") == "first\n"
    assert sh(repo, "show", "refs/ao/wip/s1:notes.txt") == "second\n"

    with pytest.raises(WorkspaceError, match="invalid session id"):
        await ws.snapshot(repo, path, "../x")


async def test_snapshot_without_a_configured_identity(tmp_path: Path, ws: WorktreeWorkspace) -> None:
    # The first commit gets an identity through the environment only; none is configured.
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a",
           "GIT_COMMITTER_EMAIL": "a@x"}
    repo = tmp_path / "anon"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "f.txt").write_text("x\n")
    sh(repo, "add", "f.txt")
    sh(repo, "commit", "-q", "-m", "one", env=env)
    sh(repo, "config", "user.useConfigOnly", "true")  # git would otherwise guess from the host
    path = tmp_path / "anon-s1"
    await ws.create(spec(repo, path))
    (path / "f.txt").write_text("y\n")
    ref = await ws.snapshot(repo, path, "anon")
    assert sh(repo, "log", "-1", "--format=%an <%ae>", ref).strip() == "aod <aod@localhost>"


async def test_remove_refuses_dirty_without_force(tmp_path: Path, repo: Path, ws: WorktreeWorkspace) -> None:
    path = tmp_path / "s1"
    await ws.create(spec(repo, path))
    (path / "draft.txt").write_text("draft\n")
    with pytest.raises(DirtyWorkspace, match=r"snapshot.*--force"):
        await ws.remove(repo, path, force=False)
    assert (path / "draft.txt").read_text() == "draft\n"
    assert await ws.exists(repo, path)


async def test_snapshot_then_forced_remove_keeps_the_work(
    tmp_path: Path, repo: Path, ws: WorktreeWorkspace
) -> None:
    path = tmp_path / "s1"
    await ws.create(spec(repo, path))
    commit_file(path, "committed.txt", "committed\n")
    (path / "draft.txt").write_text("draft\n")
    ref = await ws.snapshot(repo, path, "s1")
    assert ref is not None
    await ws.remove(repo, path, force=True)
    assert not path.exists()
    assert worktree_paths(repo) == [str(repo)]
    assert sh(repo, "show", f"{ref}:draft.txt") == "draft\n"
    assert sh(repo, "show", "ao/s1:committed.txt") == "committed\n"  # the branch is kept
    await ws.remove(repo, path, force=False)  # already gone: nothing to do
    assert not await ws.exists(repo, path)


async def test_remove_clean_and_refusals(tmp_path: Path, repo: Path, ws: WorktreeWorkspace) -> None:
    path = tmp_path / "s1"
    await ws.create(spec(repo, path))
    (path / ".env").write_text("ignored\n")
    await ws.remove(repo, path, force=False)
    assert not path.exists()
    assert rev(repo, "refs/heads/ao/s1") is not None

    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "file").write_text("mine\n")
    with pytest.raises(WorkspaceError, match="not a worktree"):
        await ws.remove(repo, stranger, force=True)
    assert (stranger / "file").exists()
    with pytest.raises(WorkspaceError, match="main worktree"):
        await ws.remove(repo, repo, force=True)


# ---------------------------------------------------------------------------------------------
# Clone
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def repo_with_origin(tmp_path: Path, repo: Path) -> Path:
    upstream = tmp_path / "upstream.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(upstream)], check=True)
    sh(repo, "remote", "add", "origin", str(upstream))
    sh(repo, "push", "-q", "origin", "main")
    sh(repo, "fetch", "-q", "origin")
    sh(repo, "remote", "set-head", "origin", "main")
    return repo


async def test_clone_create_snapshot_remove(tmp_path: Path, repo_with_origin: Path) -> None:
    repo = repo_with_origin
    clones = CloneWorkspace(timeout=30)
    path = tmp_path / "clones" / "s1"
    await clones.create(spec(repo, path))
    assert (path / ".git").is_dir()
    assert (path / "README.md").read_text() == "hello\n"
    assert sh(path, "symbolic-ref", "HEAD").strip() == "refs/heads/ao/s1"
    assert sh(path, "remote", "get-url", "origin").strip() == str(tmp_path / "upstream.git")
    assert rev(path, "origin/main") == rev(repo, "origin/main")
    assert await default_branch(path) == "main"
    assert await clones.exists(repo, path)
    assert not await clones.exists(repo, repo)
    assert rev(repo, "refs/heads/ao/s1") is None  # the branch lives in the clone for now

    commit_file(path, "feature.txt", "feature\n")
    (path / "draft.txt").write_text("draft\n")
    assert await clones.is_dirty(path)
    with pytest.raises(DirtyWorkspace):
        await clones.remove(repo, path, force=False)

    ref = await clones.snapshot(repo, path, "s1")
    assert ref == "refs/ao/wip/s1"
    assert sh(repo, "show", f"{ref}:draft.txt") == "draft\n"  # already in the project repo
    (path / "draft.txt").write_text("draft 2\n")
    await clones.snapshot(repo, path, "s1")
    assert sh(repo, "show", f"{ref}^2:draft.txt") == "draft\n"

    await clones.remove(repo, path, force=True)
    assert not path.exists()
    assert sh(repo, "show", "ao/s1:feature.txt") == "feature\n"  # the branch survived the clone
    assert sh(repo, "show", f"{ref}:draft.txt") == "draft 2\n"
    await clones.remove(repo, path, force=False)  # idempotent


async def test_clone_create_failing_midway_leaves_nothing(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Clones take their hooks from the template directory: a failing post-checkout hook makes
    # the checkout of the session branch fail after the clone was made.
    templates = tmp_path / "templates"
    write_hook(templates / "hooks", "post-checkout", "exit 3\n")
    monkeypatch.setenv("GIT_TEMPLATE_DIR", str(templates))
    clones = CloneWorkspace(timeout=30)
    path = tmp_path / "clones" / "s1"
    with pytest.raises(WorkspaceError, match="cannot create the clone"):
        await clones.create(spec(repo, path))
    assert not (tmp_path / "clones").exists()
    assert rev(repo, "refs/heads/ao/s1") is None

    monkeypatch.delenv("GIT_TEMPLATE_DIR")
    await clones.create(spec(repo, path))
    assert (path / "README.md").exists()


async def test_clone_remove_refuses_what_it_did_not_make(tmp_path: Path, repo: Path) -> None:
    other = make_repo(tmp_path, "other")
    clones = CloneWorkspace(timeout=30)
    with pytest.raises(WorkspaceError, match="not a clone"):
        await clones.remove(repo, other, force=True)
    with pytest.raises(WorkspaceError, match="holds the project"):
        await clones.remove(repo, tmp_path, force=True)
    assert (other / "README.md").exists()


async def test_clone_keeps_a_diverged_branch_rather_than_removing(tmp_path: Path, repo: Path) -> None:
    clones = CloneWorkspace(timeout=30)
    path = tmp_path / "s1"
    await clones.create(spec(repo, path))
    commit_file(path, "theirs.txt", "clone\n")
    sh(repo, "branch", "ao/s1", "main")
    sh(repo, "checkout", "-q", "ao/s1")
    commit_file(repo, "ours.txt", "project\n")
    sh(repo, "checkout", "-q", "main")
    with pytest.raises(WorkspaceError, match="nothing was removed"):
        await clones.remove(repo, path, force=True)
    assert (path / "theirs.txt").exists()


# ---------------------------------------------------------------------------------------------
# Bootstrap: .worktreeinclude and the setup hook
# ---------------------------------------------------------------------------------------------


async def test_worktreeinclude_copies_ignored_files_and_nothing_outside(
    tmp_path: Path, repo: Path, ws: WorktreeWorkspace
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("do not copy\n")
    (tmp_path / "outside.txt").write_text("do not copy\n")

    (repo / ".env").write_text("TOKEN=abc\n")
    (repo / ".env").chmod(0o600)
    (repo / "config").mkdir()
    (repo / "config" / "local.json").write_text("{}\n")
    (repo / "config" / "deep").mkdir()
    (repo / "config" / "deep" / "x.json").write_text("no: * does not cross /\n")
    (repo / "run.log").write_text("log\n")
    (repo / "link-out").symlink_to(outside / "secret.txt")
    (repo / "linkdir").symlink_to(outside, target_is_directory=True)
    (repo / "cfg").mkdir()
    (repo / "cfg" / "a.txt").write_text("a\n")
    (repo / "script.sh").write_text("#!/bin/sh\n")
    (repo / "script.sh").chmod(0o755)
    (repo / ".worktreeinclude").write_text(
        "# files the agents need\n"
        "\n"
        ".env\n"
        "config/*.json\n"
        "../outside.txt\n"
        "link-out\n"
        "linkdir/secret.txt\n"
        "linkdir/\n"
        "cfg/\n"
        "!run.log\n"
        "README.md\n"
        "script.sh\n"
    )
    path = tmp_path / "ws" / "s1"
    await ws.create(spec(repo, path))
    (path / "README.md").write_text("the workspace's own\n")
    # A link inside the workspace must not be written through.
    (path / "cfg").symlink_to(outside, target_is_directory=True)

    copied = await trio.to_thread.run_sync(copy_worktreeinclude, repo, path)

    assert sorted(copied) == [".env", "config/local.json", "script.sh"]
    assert (path / ".env").read_text() == "TOKEN=abc\n"
    assert stat.S_IMODE((path / ".env").stat().st_mode) == 0o600
    assert stat.S_IMODE((path / "script.sh").stat().st_mode) == 0o755
    assert (path / "README.md").read_text() == "the workspace's own\n"  # never overwritten
    assert not (path / "config" / "deep").exists()
    assert not (path / "run.log").exists()
    assert not (path / "link-out").exists()
    assert not (path / "linkdir").exists()
    assert not (tmp_path / "ws" / "outside.txt").exists()  # `../` was refused
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]  # nothing written there
    # Running it again copies nothing: everything is there already.
    assert await trio.to_thread.run_sync(copy_worktreeinclude, repo, path) == []


def test_worktreeinclude_missing_file_copies_nothing(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    (repo / ".env").write_text("x\n")
    assert copy_worktreeinclude(repo, tmp_path / "w") == []


async def test_setup_hook_results(tmp_path: Path) -> None:
    ok = await run_setup_hook(
        [sys.executable, "-c",
         "import os; print('ready', os.environ['AOD_TEST'], os.getcwd(), 'NOTIFY_SOCKET' in os.environ)"],
        tmp_path,
        {"AOD_TEST": "42", "NOTIFY_SOCKET": "/run/systemd/notify"},
        timeout=20,
    )
    assert ok.ok and ok.returncode == 0 and not ok.timed_out
    assert f"ready 42 {tmp_path} False" in ok.output
    assert ok.duration >= 0

    failed = await run_setup_hook(
        [sys.executable, "-c", "import sys; print('out'); sys.stderr.write('broken'); sys.exit(3)"],
        tmp_path,
        {},
        timeout=20,
    )
    assert not failed.ok and failed.returncode == 3
    assert "out" in failed.output and "broken" in failed.output

    slow = await run_setup_hook(
        [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path, {}, timeout=0.5
    )
    assert not slow.ok and slow.timed_out and slow.returncode is None
    assert "did not finish" in slow.output

    missing = await run_setup_hook(["aod-no-such-program-xyz"], tmp_path, {}, timeout=5)
    assert not missing.ok and not missing.timed_out and missing.returncode is None
    assert "not found" in missing.output

    no_dir = await run_setup_hook(["true"], tmp_path / "gone", {}, timeout=5)
    assert not no_dir.ok and "does not exist" in no_dir.output
    empty = await run_setup_hook([], tmp_path, {}, timeout=5)
    assert not empty.ok


async def test_setup_hook_output_is_bounded(tmp_path: Path) -> None:
    noisy = await run_setup_hook(
        [sys.executable, "-c",
         "import sys; sys.stdout.write('x' * 300000 + 'END-OUT'); sys.stderr.write('e' * 300000 + 'END-ERR')"],
        tmp_path,
        {},
        timeout=20,
    )
    assert noisy.ok
    assert len(noisy.output.encode()) <= OUTPUT_LIMIT
    assert "END-OUT" in noisy.output and noisy.output.endswith("END-ERR")
