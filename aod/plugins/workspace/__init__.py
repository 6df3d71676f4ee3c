"""The workspace slot: the directory and branch a session works in (a git worktree or a clone).

A workspace answers: does it exist, is it dirty; and performs: create on a new branch, snapshot
uncommitted work to `refs/ao/wip/<id>`, remove. Removing a dirty workspace without `force` is
refused here too (defence in depth), but whether to remove is the caller's decision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class WorkspaceError(Exception):
    """A workspace command failed; the message says what and what to do."""


class DirtyWorkspace(WorkspaceError):
    pass


@dataclass(frozen=True)
class WorkspaceSpec:
    repo: Path
    """The project's repository (main working tree)."""
    path: Path
    """Where the workspace goes; must not exist yet (or be an empty leftover)."""
    branch: str
    """The session's branch, created from `base`."""
    base: str
    """The ref (or commit) to start from: the project's default branch as just fetched from its
    remote (`refs/remotes/origin/main`), or the local branch when there is no remote to ask."""


class Workspace(Protocol):
    kind: str

    async def create(self, spec: WorkspaceSpec) -> None:
        """Create the workspace with `spec.branch` checked out. All or nothing: on failure,
        nothing of it is left (no directory, no branch, no worktree registration)."""
        ...

    async def exists(self, repo: Path, path: Path) -> bool: ...

    async def is_dirty(self, path: Path) -> bool:
        """Uncommitted changes, staged or not, or untracked files that are not ignored."""
        ...

    async def ignored_files(self, path: Path, leave_out: Callable[[str, bool], bool]) -> dict[str, int]:
        """The git-ignored files at `path` (relative path -> size), which `is_dirty` does not
        see but a removal deletes; `leave_out(relative, is_dir)` prunes what the caller does not
        count (a left-out directory is not walked)."""
        ...

    async def snapshot(self, repo: Path, path: Path, session_id: str, also: Sequence[str] = ()) -> str | None:
        """Commit the uncommitted work (tracked changes and untracked, non-ignored files, and
        the ignored files named in `also`) to `refs/ao/wip/<session_id>` in `repo` WITHOUT
        changing the workspace, its index or its branch. Returns the ref name, or None when
        there was nothing to save."""
        ...

    async def remove(self, repo: Path, path: Path, *, force: bool) -> None:
        """Remove the workspace (and for a worktree, its registration). Raises DirtyWorkspace
        when it has uncommitted work and not `force`. The session's branch is kept: commits are
        work (a clone's branch is first fetched into `repo` so it survives the clone)."""
        ...
