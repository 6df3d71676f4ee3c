"""Each live session's changed paths, cheaply, for the overlap warnings (issue 19).

A session's changed paths: the files its branch changed since the merge-base with its base
branch, plus what is uncommitted in its worktree (staged, unstaged, untracked and not ignored).

Cost. A worktree is looked at again only when it moved:
- its HEAD: the mtime and size of `<gitdir>/logs/HEAD` (every commit, reset or checkout appends
  to the reflog) and of `<gitdir>/HEAD` (a checkout without a reflog);
- its index: the mtime and size of `<gitdir>/index` (`git add`, a commit);
- its agent: the tick captured its screen because the output moved, or its activity changed.
  An agent that edits files without staging them moves neither HEAD nor the index, but it prints
  while it works (so its pane moves), and its turn ends with an activity change: the last look
  is at that change, so the files it wrote last are seen within a tick of the turn's end. An edit
  made by nothing aod watches (a person in an editor while the agent sleeps) is seen at the
  agent's next output, commit or `git add`.
Per moved worktree: ONE `git status` when only its files or index moved, plus ONE
`git diff --merge-base` when its HEAD moved too (the committed part is kept per HEAD). Quiet
worktrees cost three stat calls and no subprocess. Everything here is a cache: an aod that
restarts looks at every worktree once and knows it all again.

May import: proc (through plugins/workspace/git), model, plugins/workspace.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog
import trio

from aod.plugins.workspace.git import git

log = structlog.get_logger()

Stamp = tuple[int, int] | None
LOOK_TIMEOUT = 30.0


@dataclass(frozen=True)
class WorktreeLook:
    """What one session's worktree is to be asked about this tick."""

    session: str
    workspace: str
    bases: tuple[str, ...]
    """Refs of its base branch, the one to diff against first (the rest: fallbacks)."""
    moved: bool = False
    """Its agent moved since the last tick (screen output or activity)."""


@dataclass
class _Known:
    head: tuple[Stamp, Stamp]
    index: Stamp
    committed: frozenset[str] | None
    uncommitted: frozenset[str] | None


@dataclass
class ChangedPaths:
    limiter: trio.CapacityLimiter = field(default_factory=lambda: trio.CapacityLimiter(8))
    _known: dict[str, _Known] = field(default_factory=dict)
    _gitdirs: dict[str, str] = field(default_factory=dict)
    last_subprocesses: int = 0

    async def look(self, looks: Sequence[WorktreeLook]) -> dict[str, frozenset[str] | None]:
        """Session -> its changed paths (None: not known: no worktree, git failed)."""
        result: dict[str, frozenset[str] | None] = {}
        jobs: list[tuple[WorktreeLook, _Known, bool, bool]] = []
        self.last_subprocesses = 0
        for item in looks:
            stamps = self._stamps(item.workspace)
            if stamps is None:
                result[item.session] = None
                self._known.pop(item.session, None)
                continue
            head, index = stamps
            known = self._known.get(item.session)
            need_committed = known is None or known.head != head or known.committed is None
            need_status = need_committed or known is None or known.index != index or item.moved or known.uncommitted is None
            if known is None:
                known = _Known(head=head, index=index, committed=None, uncommitted=None)
            # The stamps are taken BEFORE git runs: a change while it runs is looked at next tick.
            known.head, known.index = head, index
            self._known[item.session] = known
            if need_committed or need_status:
                jobs.append((item, known, need_committed, need_status))
            else:
                result[item.session] = _union(known)
        if jobs:
            async with trio.open_nursery() as nursery:
                for job in jobs:
                    nursery.start_soon(self._refresh, *job)
            for item, known, _c, _s in jobs:
                result[item.session] = _union(known)
        return result

    def forget_except(self, sessions: set[str], workspaces: set[str]) -> None:
        for stale in set(self._known) - sessions:
            del self._known[stale]
        for stale in set(self._gitdirs) - workspaces:
            del self._gitdirs[stale]

    async def _refresh(self, item: WorktreeLook, known: _Known, committed: bool, status: bool) -> None:
        path = Path(item.workspace)
        async with self.limiter:
            with trio.move_on_after(LOOK_TIMEOUT):
                async with trio.open_nursery() as nursery:
                    if committed:
                        nursery.start_soon(self._committed, path, item, known)
                    if status:
                        nursery.start_soon(self._uncommitted, path, item, known)

    async def _committed(self, path: Path, item: WorktreeLook, known: _Known) -> None:
        known.committed = None
        for base in item.bases:
            self.last_subprocesses += 1
            result = await git(
                path, "diff", "--name-only", "-z", "--no-renames", "--merge-base", base, "HEAD", "--",
                env=_ceiling(path), check=False, timeout=LOOK_TIMEOUT,
            )  # fmt: skip
            if result.ok:
                known.committed = _names(result.stdout)
                return
        log.info("no merge-base with the base branch; only uncommitted changes count", session=item.session, bases=list(item.bases))
        known.committed = frozenset()

    async def _uncommitted(self, path: Path, item: WorktreeLook, known: _Known) -> None:
        self.last_subprocesses += 1
        result = await git(
            path, "status", "--porcelain=v1", "-z", "--no-renames", "--untracked-files=all",
            env=_ceiling(path), check=False, timeout=LOOK_TIMEOUT,
        )  # fmt: skip
        if not result.ok:
            log.info("cannot read the worktree's changes", session=item.session, error=result.err)
            known.uncommitted = None
            known.index = None  # looked at again next tick
            return
        known.uncommitted = parse_status(result.stdout)

    def _stamps(self, workspace: str) -> tuple[tuple[Stamp, Stamp], Stamp] | None:
        gitdir = self._gitdirs.get(workspace)
        if gitdir is None:
            gitdir = _gitdir(Path(workspace))
            if gitdir is None:
                return None
            self._gitdirs[workspace] = gitdir
        elif not os.path.isdir(gitdir):
            self._gitdirs.pop(workspace, None)
            return None
        return (_stat(os.path.join(gitdir, "logs", "HEAD")), _stat(os.path.join(gitdir, "HEAD"))), _stat(
            os.path.join(gitdir, "index")
        )


def _union(known: _Known) -> frozenset[str] | None:
    if known.uncommitted is None:
        return None
    return (known.committed or frozenset()) | known.uncommitted


def _stat(path: str) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _gitdir(workspace: Path) -> str | None:
    """The worktree's own git directory: `.git` in a clone, `<repo>/.git/worktrees/<name>` for a
    linked worktree (its `.git` is a file naming it)."""
    dot_git = workspace / ".git"
    try:
        if dot_git.is_dir():
            return str(dot_git)
        text = dot_git.read_text(errors="replace").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    gitdir = Path(text.removeprefix("gitdir:").strip())
    if not gitdir.is_absolute():
        gitdir = workspace / gitdir
    return str(gitdir) if gitdir.is_dir() else None


def _ceiling(path: Path) -> dict[str, str]:
    return {"GIT_CEILING_DIRECTORIES": os.path.realpath(path.parent)}


def _names(stdout: bytes) -> frozenset[str]:
    return frozenset(os.fsdecode(name) for name in stdout.split(b"\0") if name)


def parse_status(stdout: bytes) -> frozenset[str]:
    """The paths of `git status --porcelain=v1 -z --no-renames` (`XY path\\0` entries)."""
    names: set[str] = set()
    for entry in stdout.split(b"\0"):
        if len(entry) > 3:
            names.add(os.fsdecode(entry[3:]))
    return frozenset(names)
