"""The git-ignored files of a working tree: what `git status` does not show and a removal
deletes. Shared by the worktree and clone workspaces.

git lists them (`ls-files --others --ignored --exclude-standard --directory`), a wholly ignored
directory as one entry; such a directory is walked here, without following links, asking the
caller's `leave_out(relative, is_dir)` about each directory before going in, so a left-out
`node_modules/` costs one question, not a walk. Which entries to leave out is the caller's
policy (aod/workfiles.py); this module only looks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import trio

from aod.plugins.workspace import WorkspaceError
from aod.plugins.workspace.git import git

LeaveOut = Callable[[str, bool], bool]
"""leave_out(relative_path, is_dir) -> True to skip it (and, for a directory, all below it)."""

MAX_FILES = 100_000
"""More ignored files than this (after leaving out) is an error, not a list: declare the bulk
disposable."""

LIST_TIMEOUT = 300.0


async def ignored_files(path: Path, leave_out: LeaveOut, env: dict[str, str]) -> dict[str, int]:
    """relative path ('/'-separated) -> size in bytes, for every ignored file (or symlink) of the
    working tree at `path` that `leave_out` keeps."""
    result = await git(
        path, "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory",
        "--no-empty-directory", env=env, timeout=LIST_TIMEOUT, check=False,
    )  # fmt: skip
    if not result.ok:
        raise WorkspaceError(f"cannot list the ignored files of {path}: {result.err or 'not a git working tree'}")
    entries = [os.fsdecode(entry) for entry in result.stdout.split(b"\0") if entry]
    return await trio.to_thread.run_sync(_expand, path, entries, leave_out)


def _expand(root: Path, entries: list[str], leave_out: LeaveOut) -> dict[str, int]:
    found: dict[str, int] = {}

    def add(relative: str, full: str) -> None:
        if relative in found or leave_out(relative, False):
            return
        try:
            found[relative] = os.lstat(full).st_size
        except FileNotFoundError:
            return  # gone meanwhile: nothing to keep
        if len(found) > MAX_FILES:
            raise WorkspaceError(
                f"{root} holds more than {MAX_FILES} ignored files that are not disposable; declare "
                "the directories that a build makes again disposable (workspace.disposable in config)"
            )

    for entry in entries:
        if not entry.endswith("/"):
            add(entry, os.path.join(root, entry))
            continue
        top = entry.rstrip("/")
        if leave_out(top, True):
            continue
        for directory, subdirs, files in os.walk(os.path.join(root, top), followlinks=False):
            relative_dir = os.path.relpath(directory, root).replace(os.sep, "/")
            keep: list[str] = []
            for name in subdirs:
                full = os.path.join(directory, name)
                if os.path.islink(full):
                    add(f"{relative_dir}/{name}", full)  # a link is a file to git: saved as a link
                elif not leave_out(f"{relative_dir}/{name}", True):
                    keep.append(name)
            subdirs[:] = keep
            for name in files:
                add(f"{relative_dir}/{name}", os.path.join(directory, name))
    return found
