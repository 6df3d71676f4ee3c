"""A branch against its base with real git (aod/plugins/workspace/diff.py): statuses, line
counts, renames, binary files, odd file names, the closer base, and a patch cut at a limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from aod.plugins.workspace import WorkspaceError
from aod.plugins.workspace.diff import branch_diff
from tests.support.fleet import git, make_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = make_repo(tmp_path / "repo")
    (path / "old.txt").write_text("".join(f"line {n}\n" for n in range(20)))
    (path / "gone.txt").write_text("bye\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base files")
    git(path, "switch", "-q", "-c", "ao/demo-1")
    return path


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


async def test_files_and_patch_of_a_branch(repo: Path) -> None:
    (repo / "README.md").write_text("demo\nmore\n")
    git(repo, "mv", "old.txt", "renamed.txt")
    (repo / "gone.txt").unlink()
    (repo / "new file\nwith newline ü.txt").write_text("hi\n")
    (repo / "blob.bin").write_bytes(bytes(range(256)))
    commit(repo, "work")
    base_sha = git(repo, "rev-parse", "main").strip()
    diff = await branch_diff(repo, "refs/heads/ao/demo-1", ["refs/heads/main"], 1 << 20)
    assert (diff.base, diff.base_sha, diff.head_sha) == ("main", base_sha, git(repo, "rev-parse", "HEAD").strip())
    files = {f.path: f for f in diff.files}
    assert set(files) == {"README.md", "renamed.txt", "gone.txt", "new file\nwith newline ü.txt", "blob.bin"}
    assert (files["README.md"].status, files["README.md"].additions, files["README.md"].deletions) == ("modified", 1, 0)
    assert (files["renamed.txt"].status, files["renamed.txt"].old_path, files["renamed.txt"].additions) == ("renamed", "old.txt", 0)
    assert (files["gone.txt"].status, files["gone.txt"].deletions) == ("deleted", 1)
    assert files["new file\nwith newline ü.txt"].status == "added" and files["new file\nwith newline ü.txt"].additions == 1
    assert files["blob.bin"].binary and files["blob.bin"].status == "added"
    assert "+more\n" in diff.patch and "rename from old.txt" in diff.patch and not diff.truncated


async def test_the_patch_is_cut_at_a_line_end_and_the_file_list_stays_whole(repo: Path) -> None:
    for n in range(50):
        (repo / f"f{n:02d}.txt").write_text("x" * 200 + "\n")
    commit(repo, "many")
    diff = await branch_diff(repo, "refs/heads/ao/demo-1", ["refs/heads/main"], 1000)
    assert diff.truncated and 0 < len(diff.patch.encode()) <= 1000 and diff.patch.endswith("\n")
    assert len(diff.files) == 50
    whole = await branch_diff(repo, "refs/heads/ao/demo-1", ["refs/heads/main"], 1 << 20)
    assert not whole.truncated and whole.patch.startswith(diff.patch)


async def test_commits_the_base_gained_since_are_not_the_branch_s(repo: Path) -> None:
    (repo / "mine.txt").write_text("mine\n")
    commit(repo, "mine")
    git(repo, "switch", "-q", "main")
    (repo / "theirs.txt").write_text("theirs\n")
    commit(repo, "theirs")
    # The remote's main is further along still (fetched at spawn); the branch grew from it.
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(repo, "switch", "-q", "ao/demo-1")
    diff = await branch_diff(repo, "refs/heads/ao/demo-1", ["refs/heads/main", "refs/remotes/origin/main", "refs/heads/nope"], 1 << 20)
    assert [f.path for f in diff.files] == ["mine.txt"]


async def test_a_missing_branch_is_an_error_that_says_which(repo: Path) -> None:
    with pytest.raises(WorkspaceError, match="ao/nope"):
        await branch_diff(repo, "refs/heads/ao/nope", ["refs/heads/main"], 1000)
    with pytest.raises(WorkspaceError, match="shares history"):
        await branch_diff(repo, "refs/heads/ao/demo-1", ["refs/heads/nope"], 1000)


async def test_an_empty_branch_has_no_files(repo: Path) -> None:
    diff = await branch_diff(repo, "refs/heads/ao/demo-1", ["refs/heads/main"], 1000)
    assert diff.files == [] and diff.patch == "" and not diff.truncated
