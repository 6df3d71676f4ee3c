"""Workspaces as separate clones of the project repository (for tools that do not cope with
linked worktrees, or when sessions must not share one object store and ref namespace).

The clone is made from the project repository on disk (`git clone --no-checkout`; git
hard-links the objects when it can, so it is quick). Its remote `aod-project` is that
repository; the project's own remotes (`origin` and the rest, with their push URLs and their
remote-tracking branches) are copied over, so inside the clone `git push origin`, `gh pr create`
and `origin/main` mean what they mean in the project. The session branch is made from the base
commit without an upstream.

What must outlive the clone is carried into the project repository: each snapshot
(`refs/ao/wip/<id>`) is fetched there as soon as it is taken, and on removal the session branch
is fetched to `refs/heads/<branch>` (fast-forward only; a clash refuses the removal). Other
branches with commits of their own, and a detached HEAD with commits, are kept under
`refs/ao/clone/<branch>/...`. The clone records in its config what it is (`aod.workspace`,
`aod.project`, `aod.branch`): `remove` deletes nothing that does not say it was made by aod for
that project.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import structlog
import trio

from aod.plugins.workspace import DirtyWorkspace, WorkspaceError, WorkspaceSpec
from aod.plugins.workspace.git import GitFailed, git, is_git_repo, rev_parse, valid_branch_name
from aod.plugins.workspace.ignored import LeaveOut, ignored_files
from aod.plugins.workspace.worktree import (
    ROLLBACK_TIMEOUT,
    SLOW_GIT_TIMEOUT,
    empty_directory,
    missing_ancestors,
    remove_tree,
    branch_name_error,
    ceiling_env,
    check_target_path,
    checked_spec,
    is_dirty,
    is_within,
    remove_created_directories,
    same_path,
    wip_ref,
    write_snapshot,
)

log = structlog.get_logger()

PROJECT_REMOTE = "aod-project"
"""The clone's remote for the project repository on disk."""
KEPT_PREFIX = "refs/ao/clone/"


class CloneWorkspace:
    kind = "clone"

    def __init__(self, *, timeout: float = SLOW_GIT_TIMEOUT) -> None:
        self.timeout = timeout

    # ---------------------------------------------------------------------------------- create

    async def create(self, spec: WorkspaceSpec) -> None:
        repo, path, branch, base_sha = await checked_spec(spec)
        path_existed = check_target_path(path, repo)
        created = missing_ancestors(path)
        log.info("workspace.create", kind=self.kind, path=str(path), branch=branch, base=spec.base)
        try:
            await self._make(repo, path, branch, base_sha)
        except BaseException as exc:
            with trio.CancelScope(shield=True), trio.move_on_after(ROLLBACK_TIMEOUT):
                log.warning("workspace.create_rollback", path=str(path), branch=branch)
                try:
                    if os.path.lexists(path):
                        if path_existed:
                            await trio.to_thread.run_sync(empty_directory, path)
                        else:
                            await trio.to_thread.run_sync(remove_tree, path)
                except OSError as cleanup_error:
                    log.warning("workspace.rollback_step_failed", step="remove directory",
                                error=str(cleanup_error))
                remove_created_directories(created, path if path_existed else None)
            if isinstance(exc, GitFailed):
                raise WorkspaceError(f"cannot create the clone {path} on branch {branch}: {exc}") from exc
            raise

    async def _make(self, repo: Path, path: Path, branch: str, base_sha: str) -> None:
        # Run from `/`, not from inside a repository whose config would apply to the clone.
        await git(
            os.sep, "clone", "--quiet", "--no-checkout", "--origin", PROJECT_REMOTE, "--",
            str(repo), str(path), timeout=self.timeout,
        )
        env = ceiling_env(path)
        for key, value in (
            ("aod.workspace", self.kind),
            ("aod.project", os.path.realpath(repo)),
            ("aod.branch", branch),
        ):
            await git(path, "config", key, value, env=env)
        for key in ("user.name", "user.email"):
            local = await git(repo, "config", "--local", "--get", key, check=False)
            if local.ok and local.out.strip():
                await git(path, "config", key, local.out.strip(), env=env)
        await self._copy_remotes(repo, path, env)
        await git(
            path, "checkout", "--quiet", "--no-track", "-b", branch, base_sha,
            env=env, timeout=self.timeout,
        )
        head = await git(path, "symbolic-ref", "--quiet", "HEAD", env=env, check=False)
        if head.out.strip() != f"refs/heads/{branch}":
            raise WorkspaceError(f"the new clone {path} is not on branch {branch}")

    async def _copy_remotes(self, repo: Path, path: Path, env: dict[str, str]) -> None:
        listed = await git(repo, "remote")
        names = [n.strip() for n in listed.out.splitlines() if n.strip() and n.strip() != PROJECT_REMOTE]
        refspecs: list[str] = []
        for name in names:
            url = await git(repo, "remote", "get-url", name, check=False)
            if not url.ok or not url.out.strip():
                continue
            await git(path, "remote", "add", "--", name, url.out.strip(), env=env)
            push = await git(repo, "remote", "get-url", "--push", "--all", name, check=False)
            push_urls = [u for u in push.out.splitlines() if u.strip()] if push.ok else []
            if push_urls and push_urls != [url.out.strip()]:
                for push_url in push_urls:
                    await git(path, "remote", "set-url", "--push", "--add", "--", name, push_url, env=env)
            refspecs.append(f"+refs/remotes/{name}/*:refs/remotes/{name}/*")
        if not refspecs:
            return
        # The project's remote-tracking branches, from the project itself (no network).
        await git(
            path, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", PROJECT_REMOTE, *refspecs,
            env=env, timeout=self.timeout,
        )
        for name in names:
            symbolic = await git(repo, "symbolic-ref", "--quiet", f"refs/remotes/{name}/HEAD", check=False)
            if symbolic.ok and symbolic.out.strip():
                await git(path, "symbolic-ref", f"refs/remotes/{name}/HEAD", symbolic.out.strip(), env=env)

    # ----------------------------------------------------------------------------------- query

    async def _is_our_clone(self, repo: Path, path: Path) -> bool:
        if not Path(path).is_dir() or same_path(path, repo):
            return False
        env = ceiling_env(Path(path))
        kind = await git(path, "config", "--get", "aod.workspace", env=env, check=False)
        project = await git(path, "config", "--get", "aod.project", env=env, check=False)
        return (
            kind.ok
            and kind.out.strip() == self.kind
            and project.ok
            and same_path(project.out.strip(), repo)
        )

    async def exists(self, repo: Path, path: Path) -> bool:
        try:
            return await self._is_our_clone(Path(repo), Path(path))
        except WorkspaceError:
            return False

    async def is_dirty(self, path: Path) -> bool:
        return await is_dirty(Path(path))

    async def ignored_files(self, path: Path, leave_out: LeaveOut) -> dict[str, int]:
        return await ignored_files(Path(path), leave_out, ceiling_env(Path(path)))

    # -------------------------------------------------------------------------------- snapshot

    async def snapshot(self, repo: Path, path: Path, session_id: str, also: Sequence[str] = ()) -> str | None:
        ref = wip_ref(session_id)
        repo = Path(os.path.abspath(repo))
        path = Path(os.path.abspath(path))
        if not path.is_dir():
            return None  # nothing there to save
        if not await self._is_our_clone(repo, path):
            raise WorkspaceError(f"{path} is not a clone of {repo} made by aod; not saving its work there")
        env = ceiling_env(path)
        if await rev_parse(repo, ref) is not None:
            # Chain onto the project's latest snapshot, even one this clone never saw.
            await git(path, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(repo),
                      f"+{ref}:{ref}", env=env, timeout=self.timeout)
        saved = await write_snapshot(path, session_id, timeout=self.timeout, also=also)
        if saved is not None:
            await git(repo, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(path),
                      f"+{ref}:{ref}", timeout=self.timeout)
        return saved

    # ---------------------------------------------------------------------------------- remove

    async def remove(self, repo: Path, path: Path, *, force: bool) -> None:
        repo = Path(os.path.abspath(repo))
        path = Path(os.path.abspath(path))
        if not os.path.lexists(path):
            return
        if same_path(path, repo) or is_within(repo, path):
            raise WorkspaceError(f"refusing to remove {path}: it holds the project repository")
        if not await self._is_our_clone(repo, path):
            raise WorkspaceError(f"{path} is not a clone of {repo} made by aod; not removing it")
        if not force and await is_dirty(path):
            raise DirtyWorkspace(
                f"{path} has uncommitted changes or untracked files; snapshot them first (they "
                "are saved to refs/ao/wip/<session>) or remove with --force to discard them"
            )
        await self._keep_commits(repo, path)
        await trio.to_thread.run_sync(remove_tree, path)
        log.info("workspace.removed", kind=self.kind, path=str(path), force=force)

    async def _own_commits(self, path: Path, rev: str, env: dict[str, str]) -> int:
        """Commits reachable from `rev` in the clone that the project did not have at clone time
        (nor on any remote-tracking branch the clone knows)."""
        result = await git(path, "rev-list", "--count", rev, "--not", "--remotes", env=env)
        return int(result.out.strip() or "0")

    async def _keep_commits(self, repo: Path, path: Path) -> None:
        env = ceiling_env(path)
        configured = await git(path, "config", "--get", "aod.branch", env=env, check=False)
        session_branch = configured.out.strip() if configured.ok else ""
        if not valid_branch_name(session_branch):
            head = await git(path, "symbolic-ref", "--quiet", "--short", "HEAD", env=env, check=False)
            session_branch = head.out.strip() if head.ok else ""
        refspecs: list[str] = []
        kept_under = KEPT_PREFIX + (session_branch or os.path.basename(path))
        branches = await git(path, "for-each-ref", "--format=%(refname:short)", "refs/heads/", env=env)
        for name in branches.out.splitlines():
            name = name.strip()
            if not valid_branch_name(name) or not await self._own_commits(path, f"refs/heads/{name}", env):
                continue
            if name == session_branch:
                # Fast-forward only: never rewrite a branch the project already has.
                refspecs.append(f"refs/heads/{name}:refs/heads/{name}")
            else:
                refspecs.append(f"+refs/heads/{name}:{kept_under}/{name}")
        detached = await git(path, "symbolic-ref", "--quiet", "HEAD", env=env, check=False)
        if not detached.ok and await rev_parse(path, "HEAD") and await self._own_commits(path, "HEAD", env):
            refspecs.append(f"+HEAD:{kept_under}/HEAD")
        if not refspecs:
            return
        result = await git(
            repo, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(path), *refspecs,
            timeout=self.timeout, check=False,
        )
        if not result.ok:
            raise WorkspaceError(
                f"cannot keep the commits of {path} in {repo} ({result.err}); nothing was removed. "
                f"If {repo} has its own branch {session_branch!r} that diverged, rename one of them"
            )
        log.info("workspace.kept_commits", path=str(path), refspecs=refspecs)
