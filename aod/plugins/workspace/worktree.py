"""Workspaces as git worktrees: one linked worktree and one branch per session.

A worktree shares the project's object store and refs, so the session's branch and its
`refs/ao/wip/<id>` snapshots live in the project repository from the start and survive the
worktree's removal.

Creation is all or nothing, including when it is cancelled half-way (aod shutting down, a
timeout): whatever was made (the directory, its registration, the branch, parent directories)
is taken back before the error or the cancellation goes on. Branches are never deleted if they
hold a commit of their own, and an existing branch is only reused when it holds none.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import structlog
import trio

from aod.model import SESSION_ID_PATTERN
from aod.plugins.workspace import DirtyWorkspace, WorkspaceError, WorkspaceSpec
from aod.plugins.workspace.git import (
    GitFailed,
    WorktreeEntry,
    git,
    is_git_repo,
    list_worktrees,
    rev_parse,
    valid_branch_name,
)
from aod.plugins.workspace.ignored import LeaveOut, ignored_files

log = structlog.get_logger()

WIP_REF_PREFIX = "refs/ao/wip/"
# Checking out or hashing a whole tree can take a while on a big repository.
SLOW_GIT_TIMEOUT = 300.0
# Taking back a failed creation is bounded too; it runs shielded from cancellation.
ROLLBACK_TIMEOUT = 60.0

_FALLBACK_NAME = "aod"
_FALLBACK_EMAIL = "aod@localhost"


# --------------------------------------------------------------------------------------------
# Helpers shared with the clone workspace
# --------------------------------------------------------------------------------------------


def wip_ref(session_id: str) -> str:
    if not isinstance(session_id, str) or SESSION_ID_PATTERN.fullmatch(session_id) is None:
        raise WorkspaceError(
            f"invalid session id {session_id!r}: expected 1 to 63 characters from a-z, 0-9 and '-'"
        )
    return WIP_REF_PREFIX + session_id


def branch_name_error(branch: str) -> WorkspaceError:
    return WorkspaceError(
        f"invalid branch name {branch!r}: use letters, digits, '-', '_', '.' and '/' (no '..', "
        "no leading '-' or '.', no spaces or control characters, no trailing '.lock', at most "
        "200 bytes)"
    )


def same_path(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def registered_at(worktrees: list[WorktreeEntry], path: Path) -> list[WorktreeEntry]:
    """The registrations of `path` among `worktrees`. Strings are compared first and only an
    entry of the same name is resolved: resolving every entry of a repository with hundreds of
    worktrees made each spawn slower as the fleet grew."""
    given, real = os.fspath(path), os.path.realpath(path)
    return [
        entry
        for entry in worktrees
        if os.fspath(entry.path) in (given, real)
        or (os.path.basename(entry.path) == path.name and os.path.realpath(entry.path) == real)
    ]


def is_within(child: str | os.PathLike[str], parent: str | os.PathLike[str]) -> bool:
    """Whether `child` is `parent` or below it, after resolving both."""
    child_real, parent_real = os.path.realpath(child), os.path.realpath(parent)
    return child_real == parent_real or child_real.startswith(parent_real.rstrip(os.sep) + os.sep)


def ceiling_env(path: Path) -> dict[str, str]:
    """Stop git looking above `path` for a repository: a workspace that lost its `.git` must
    answer "not a repository", not report on (or write to) whatever repository encloses it."""
    return {"GIT_CEILING_DIRECTORIES": os.path.realpath(path.parent)}


async def workspace_status(path: Path) -> bytes:
    """`git status --porcelain -z` of the working tree at `path` (ignored files not listed)."""
    if not path.is_dir():
        raise WorkspaceError(f"no workspace at {path}")
    result = await git(
        path,
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=normal",
        env=ceiling_env(path),
        timeout=SLOW_GIT_TIMEOUT,
        check=False,
    )
    if not result.ok:
        raise WorkspaceError(f"cannot read the state of {path}: {result.err or 'not a git working tree'}")
    return result.stdout


async def is_dirty(path: Path) -> bool:
    return bool(await workspace_status(path))


async def _identity_args(path: Path, env: dict[str, str]) -> list[str]:
    """`-c user.name=... -c user.email=...` when git cannot name a committer by itself (no
    user.email configured anywhere); nothing when the user's own identity works."""
    for var in ("GIT_COMMITTER_IDENT", "GIT_AUTHOR_IDENT"):
        probe = await git(path, "var", var, env=env, check=False)
        if not probe.ok:
            break
    else:
        return []
    args: list[str] = []
    for key, fallback in (("user.name", _FALLBACK_NAME), ("user.email", _FALLBACK_EMAIL)):
        configured = await git(path, "config", "--get", key, env=env, check=False)
        value = configured.out.strip() if configured.ok else ""
        args += ["-c", f"{key}={value or fallback}"]
    return args


async def write_snapshot(
    path: Path, session_id: str, *, timeout: float = SLOW_GIT_TIMEOUT, also: Sequence[str] = ()
) -> str | None:
    """Commit the uncommitted work of the working tree at `path` to `refs/ao/wip/<id>` in the
    repository `path` belongs to, leaving its files, index and HEAD as they were. `also`: ignored
    files (relative paths) that are work too, saved with the rest.

    How: a copy of the workspace's index (so unchanged files are not re-hashed, and sparse or
    intent-to-add entries keep their meaning) gets `git add --all` under GIT_INDEX_FILE; its
    tree is the working tree as it is. The commit's parents: HEAD; the previous snapshot, when
    there is one (so every older snapshot stays reachable); and a commit of the staged state
    when it differs from both HEAD and the working tree (work split between index and files).
    Returns the ref name, or None when there was nothing to save.
    """
    ref = wip_ref(session_id)
    env = ceiling_env(path)
    head = await rev_parse(path, "HEAD")
    if head is None:
        # An unborn branch: nothing committed yet, compare against the empty tree.
        head_tree = (await git(path, "mktree", stdin=b"", env=env)).out.strip()
    else:
        head_tree = (await git(path, "rev-parse", f"{head}^{{tree}}", env=env)).out.strip()
    staged_tree, work_tree = await working_tree(path, head, timeout=timeout, also=also, staged=True)
    if work_tree == head_tree and staged_tree == head_tree:
        return None

    identity = await _identity_args(path, env)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    parents: list[str] = []
    described: list[str] = []
    if head is not None:
        parents.append(head)
        described.append("the HEAD it was taken on")
    old = await rev_parse(path, ref)
    if old is not None:
        parents.append(old)
        described.append("the previous snapshot of this session")
    if staged_tree not in (head_tree, work_tree):
        staged = await _commit_tree(
            path,
            identity,
            staged_tree,
            [head] if head else [],
            f"aod: staged changes of session {session_id} at {now}\n",
            env,
        )
        parents.append(staged)
        described.append("the staged (index) state")
    message = (
        f"aod: uncommitted work of session {session_id} at {now}\n\n"
        "The tree is the working tree: tracked changes, untracked files, and the ignored files\n"
        "that are not disposable.\n"
        + "".join(f"Parent {n}: {what}.\n" for n, what in enumerate(described, start=1))
    )
    commit = await _commit_tree(path, identity, work_tree, parents, message, env)
    # The old value makes the update a compare-and-set: a concurrent snapshot is not lost.
    reason = f"aod: snapshot of session {session_id}"
    await git(path, "update-ref", "-m", reason, ref, commit, old or "", env=env)
    log.info("workspace.snapshot", session=session_id, path=str(path), ref=ref, commit=commit)
    return ref


async def working_tree(
    path: Path, head: str | None, *, timeout: float = SLOW_GIT_TIMEOUT, also: Sequence[str] = (), staged: bool = False
) -> tuple[str, str]:
    """(the staged tree, the working tree) of the workspace at `path` as tree ids, written to
    its object store WITHOUT changing its files, index or HEAD. The staged tree is "" unless
    `staged`. `also`: ignored files (relative paths) to put in the working tree too.

    How: a copy of the workspace's index (so unchanged files are not re-hashed, and sparse or
    intent-to-add entries keep their meaning) gets `git add --all` under GIT_INDEX_FILE."""
    env = ceiling_env(path)
    index_file = (
        await git(path, "rev-parse", "--path-format=absolute", "--git-path", "index", env=env)
    ).out.rstrip("\n")
    staged_tree = ""
    with tempfile.TemporaryDirectory(prefix="aod-snapshot-") as scratch:
        temp_index = os.path.join(scratch, "index")
        index_env = {**env, "GIT_INDEX_FILE": temp_index}
        if os.path.isfile(index_file):
            # copy2 keeps the index's mtime, which git's "racily clean" check relies on: with a
            # fresh mtime, a file rewritten within the same clock tick as its checkout (same size)
            # would look unchanged and be left out of the snapshot.
            await trio.to_thread.run_sync(shutil.copy2, index_file, temp_index)
        elif head is not None:
            await git(path, "read-tree", head, env=index_env, timeout=timeout)
        if staged:
            staged_tree = (await git(path, "write-tree", env=index_env, timeout=timeout)).out.strip()
        await git(path, "add", "--all", env=index_env, timeout=timeout)
        if also:
            # Literal names from stdin: no argv limit, and a `*` in a file name is just a `*`.
            await git(
                path, "add", "--force", "--pathspec-from-file=-", "--pathspec-file-nul",
                stdin=b"\0".join(os.fsencode(name) for name in also),
                env={**index_env, "GIT_LITERAL_PATHSPECS": "1"}, timeout=timeout,
            )  # fmt: skip
        work_tree = (await git(path, "write-tree", env=index_env, timeout=timeout)).out.strip()
    return staged_tree, work_tree


async def _commit_tree(
    path: Path, identity: list[str], tree: str, parents: Sequence[str], message: str, env: dict[str, str]
) -> str:
    parent_args = [arg for parent in parents for arg in ("-p", parent)]
    result = await git(
        path,
        *identity,
        "commit-tree",
        "--no-gpg-sign",  # commit.gpgSign would ask for a passphrase nobody is there to type
        tree,
        *parent_args,
        "-F",
        "-",
        stdin=message.encode("utf-8"),
        env=env,
    )
    return result.out.strip()


async def common_dir(path: Path) -> str | None:
    result = await git(
        path, "rev-parse", "--path-format=absolute", "--git-common-dir", env=ceiling_env(path), check=False
    )
    return os.path.realpath(result.out.rstrip("\n")) if result.ok and result.out.strip() else None


def missing_ancestors(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist, deepest first."""
    missing: list[Path] = []
    current = path
    while not os.path.lexists(current) and current != current.parent:
        missing.append(current)
        current = current.parent
    return missing


def remove_tree(path: Path) -> None:
    """Delete a directory tree we made, even where files were made read-only."""

    def retry_writable(function, failed_path, _exc_info):  # type: ignore[no-untyped-def]
        try:
            os.chmod(os.path.dirname(failed_path), 0o700)
            if not os.path.islink(failed_path) and os.path.isdir(failed_path):
                os.chmod(failed_path, 0o700)
            function(failed_path)
        except FileNotFoundError:
            pass

    if os.path.islink(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path, onerror=retry_writable)


def _has_entries(path: Path) -> bool:
    with os.scandir(path) as entries:
        return any(True for _ in entries)


def empty_directory(path: Path) -> None:
    with os.scandir(path) as scan:
        entries = list(scan)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            remove_tree(Path(entry.path))
        else:
            os.unlink(entry.path)


def remove_created_directories(created: list[Path], keep: Path | None) -> None:
    """Remove the directories a failed creation made (deepest first), as long as they are
    empty; `keep` (a directory that existed before) stays."""
    for directory in created:
        if directory == keep:
            continue
        try:
            os.rmdir(directory)
        except FileNotFoundError:
            continue
        except OSError:
            break


def check_target_path(path: Path, repo: Path) -> bool:
    """Raise unless `path` can receive a new workspace. Returns whether it already exists (as
    an empty directory, which is then used)."""
    if same_path(path, repo) or is_within(repo, path):
        raise WorkspaceError(f"workspace path {path} would contain the project repository {repo}")
    if not os.path.lexists(path):
        return False
    if os.path.islink(path):
        raise WorkspaceError(f"workspace path {path} is a symbolic link; remove it or choose another path")
    if not path.is_dir():
        raise WorkspaceError(
            f"workspace path {path} exists and is not a directory; remove it or choose another path"
        )
    if _has_entries(path):
        raise WorkspaceError(
            f"workspace path {path} exists and is not empty (a leftover of an earlier session?); "
            "remove it or choose another path"
        )
    return True


async def checked_spec(spec: WorkspaceSpec) -> tuple[Path, Path, str, str]:
    """The spec's absolute repo and path, its branch and the base commit, after the checks every
    workspace kind makes before it creates anything."""
    repo = Path(os.path.abspath(spec.repo))
    path = Path(os.path.abspath(spec.path))
    if not valid_branch_name(spec.branch):
        raise branch_name_error(spec.branch)
    if not await is_git_repo(repo):
        raise WorkspaceError(f"{repo} is not a git repository")
    base_sha = await rev_parse(repo, spec.base)
    if base_sha is None:
        raise WorkspaceError(
            f"base {spec.base!r} names no commit in {repo}; fetch it, or set the project's "
            "default branch to one that exists"
        )
    return repo, path, spec.branch, base_sha


# --------------------------------------------------------------------------------------------
# The plugin
# --------------------------------------------------------------------------------------------


class WorktreeWorkspace:
    """A linked worktree of the project repository per session (`git worktree add`)."""

    kind = "worktree"

    def __init__(self, *, timeout: float = SLOW_GIT_TIMEOUT) -> None:
        self.timeout = timeout

    async def create(self, spec: WorkspaceSpec) -> None:
        repo, path, branch, base_sha = await checked_spec(spec)
        path_existed = check_target_path(path, repo)
        # The registered worktrees are listed only when they matter: `git worktree list` reads
        # every worktree's files (~90 ms beside 1,000 of them), and a new branch at a new path —
        # nearly every spawn — needs none of it. A registration left at the path with its branch
        # gone makes git refuse the add; it is looked for then (below).
        old_sha = None
        current = await rev_parse(repo, f"refs/heads/{branch}")
        if current is not None:
            worktrees = await list_worktrees(repo)
            if await self._clear_stale_registration(repo, path, worktrees):
                worktrees = await list_worktrees(repo)
            old_sha = await self._reusable_branch(repo, branch, current, base_sha, worktrees)

        created = missing_ancestors(path)
        log.info("workspace.create", kind=self.kind, path=str(path), branch=branch, base=spec.base,
                 reuse=old_sha is not None)
        add = ["worktree", "add", "--no-track", "-b" if old_sha is None else "-B", branch, str(path), base_sha]
        try:
            try:
                await git(repo, *add, timeout=self.timeout)
            except GitFailed:
                worktrees = await list_worktrees(repo)
                if old_sha is not None or not registered_at(worktrees, path) or (path / ".git").exists():
                    raise  # not a registration left behind: the rollback below takes back what git made
                # git made the branch before it refused the path: both go, then the add once more.
                await git(repo, "update-ref", "-d", f"refs/heads/{branch}", base_sha, check=False)
                await self._clear_stale_registration(repo, path, worktrees)
                await git(repo, *add, timeout=self.timeout)
            head = await git(path, "symbolic-ref", "--quiet", "HEAD", env=ceiling_env(path), check=False)
            if head.out.strip() != f"refs/heads/{branch}":
                raise WorkspaceError(f"the new worktree {path} is not on branch {branch}")
        except BaseException as exc:
            with trio.CancelScope(shield=True):
                with trio.move_on_after(ROLLBACK_TIMEOUT):
                    await self._take_back(repo, path, branch, base_sha, old_sha, path_existed, created)
            if isinstance(exc, GitFailed):
                raise WorkspaceError(f"cannot create the worktree {path} on branch {branch}: {exc}") from exc
            raise

    async def _clear_stale_registration(self, repo: Path, path: Path, worktrees: list[WorktreeEntry]) -> bool:
        """Prune a registration left at `path` by a worktree whose directory is gone (an
        interrupted spawn, a manual `rm -rf`). Returns whether it pruned."""
        for entry in registered_at(worktrees, path):
            if (path / ".git").exists():
                raise WorkspaceError(f"{path} is already a worktree of {repo}; remove it first")
            if entry.locked:
                raise WorkspaceError(
                    f"{path} is still registered as a locked worktree of {repo}; run "
                    f"`git -C {repo} worktree unlock {path}` and `git worktree prune`, then retry"
                )
            log.info("workspace.prune_stale", path=str(path))
            await git(repo, "worktree", "prune")
            return True
        return False

    async def _reusable_branch(
        self, repo: Path, branch: str, current: str, base_sha: str, worktrees: list[WorktreeEntry]
    ) -> str:
        """The existing `branch`'s commit (`current`) when it may be reused (not checked out
        anywhere and without commits of its own); raises otherwise."""
        for entry in worktrees:
            if entry.branch == branch:
                gone = (
                    f" (its directory is gone: `git -C {repo} worktree prune` clears it)"
                    if not entry.path.exists() else ""
                )
                raise WorkspaceError(
                    f"branch {branch!r} already exists and is checked out in {entry.path}{gone}; "
                    "choose another branch name"
                )
        ahead = await git(repo, "rev-list", "--count", current, "--not", base_sha)
        count = int(ahead.out.strip() or "0")
        if count:
            raise WorkspaceError(
                f"branch {branch!r} already exists in {repo} with {count} commit(s) not in the "
                f"base; choose another branch name (or delete it with `git branch -D {branch}` "
                "if its work is not needed)"
            )
        return current

    async def _take_back(
        self,
        repo: Path,
        path: Path,
        branch: str,
        base_sha: str,
        old_sha: str | None,
        path_existed: bool,
        created: list[Path],
    ) -> None:
        """Undo a creation, step by step; a failing step does not stop the others."""
        log.warning("workspace.create_rollback", path=str(path), branch=branch)
        try:
            await git(repo, "worktree", "remove", "--force", "--force", str(path), check=False)
        except WorkspaceError as exc:
            log.warning("workspace.rollback_step_failed", step="worktree remove", error=str(exc))
        try:
            if os.path.lexists(path):
                if path_existed:
                    await trio.to_thread.run_sync(empty_directory, path)
                else:
                    await trio.to_thread.run_sync(remove_tree, path)
        except OSError as exc:
            log.warning("workspace.rollback_step_failed", step="remove directory", error=str(exc))
        try:
            for entry in registered_at(await list_worktrees(repo), path):
                if entry.locked:
                    # A `worktree add` killed half-way leaves its registration locked.
                    await git(repo, "worktree", "unlock", str(path), check=False)
            await git(repo, "worktree", "prune", check=False)
        except WorkspaceError as exc:
            log.warning("workspace.rollback_step_failed", step="worktree prune", error=str(exc))
        try:
            ref = f"refs/heads/{branch}"
            if old_sha is None:
                # Delete only if it is still exactly what we made (no commit of its own).
                await git(repo, "update-ref", "-d", ref, base_sha, check=False)
            elif old_sha != base_sha:
                await git(repo, "update-ref", ref, old_sha, base_sha, check=False)
        except WorkspaceError as exc:
            log.warning("workspace.rollback_step_failed", step="branch", error=str(exc))
        remove_created_directories(created, path if path_existed else None)

    async def exists(self, repo: Path, path: Path) -> bool:
        if not Path(path).is_dir() or same_path(path, repo):
            return False
        try:
            worktrees = await list_worktrees(repo)
        except WorkspaceError:
            return False
        return bool(registered_at(worktrees[1:], Path(path)))

    async def is_dirty(self, path: Path) -> bool:
        return await is_dirty(Path(path))

    async def ignored_files(self, path: Path, leave_out: LeaveOut) -> dict[str, int]:
        return await ignored_files(Path(path), leave_out, ceiling_env(Path(path)))

    async def snapshot(self, repo: Path, path: Path, session_id: str, also: Sequence[str] = ()) -> str | None:
        wip_ref(session_id)
        path = Path(os.path.abspath(path))
        if not path.is_dir():
            return None  # nothing there to save
        repo_common = await common_dir(Path(repo))
        if repo_common is None or await common_dir(path) != repo_common:
            raise WorkspaceError(f"{path} is not a worktree of {repo}; not saving its work there")
        return await write_snapshot(path, session_id, timeout=self.timeout, also=also)

    async def remove(self, repo: Path, path: Path, *, force: bool) -> None:
        repo = Path(os.path.abspath(repo))
        path = Path(os.path.abspath(path))
        if same_path(path, repo):
            raise WorkspaceError(f"refusing to remove {path}: it is the project's main worktree")
        if not os.path.lexists(path):
            await git(repo, "worktree", "prune", check=False)
            return
        entry = next(iter(registered_at(await list_worktrees(repo), path)), None)
        if entry is None:
            raise WorkspaceError(f"{path} is not a worktree of {repo}; not removing it")
        if not (path / ".git").exists():
            # Registered, but its checkout is gone: only the registration is left to clear.
            await git(repo, "worktree", "prune", check=False)
            if path.is_dir() and not _has_entries(path):
                path.rmdir()
            return
        if not force and await is_dirty(path):
            raise self._dirty(path)
        result = await git(
            repo, "worktree", "remove", *(["--force"] if force else []), str(path),
            timeout=self.timeout, check=False,
        )
        if not result.ok:
            if not force and path.is_dir() and await is_dirty(path):
                raise self._dirty(path)
            raise GitFailed(result, f"git worktree remove {path}")
        await git(repo, "worktree", "prune", check=False)
        log.info("workspace.removed", kind=self.kind, path=str(path), force=force)

    @staticmethod
    def _dirty(path: Path) -> DirtyWorkspace:
        return DirtyWorkspace(
            f"{path} has uncommitted changes or untracked files; snapshot them first (they are "
            "saved to refs/ao/wip/<session>) or remove with --force to discard them"
        )
