"""Small git helpers shared by the workspace plugins (and by whoever needs to ask a repository
a question: its default branch, its remote, whether a branch exists or is a valid name).

Every call goes through `aod.proc.run` (argv only, a timeout, the no-prompt environment) and
runs `git -C PATH ...`, so no call depends on aod's own working directory. Variables that would
point git at another repository (GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, ...) are never
inherited from aod's environment: if aod was started from inside a git hook they would silently
redirect every command.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aod import proc
from aod.branch_names import MAX_BRANCH_NAME_BYTES, valid_branch_name
from aod.plugins.workspace import WorkspaceError

GIT_TIMEOUT = 30.0

# Variables that select a repository, an index or object store; set by git for hooks and
# aliases. Inherited, they would make `git -C other` act on the wrong repository.
_REPOSITORY_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
)



class GitFailed(WorkspaceError):
    """A git command exited non-zero; `result` holds its output."""

    def __init__(self, result: proc.Result, what: str = "") -> None:
        self.result = result
        detail = result.err or result.out.strip() or f"exit status {result.returncode}"
        command = what or " ".join(["git", *_visible_args(result.argv)][:4])
        super().__init__(f"{command} failed: {detail}")


def _visible_args(argv: list[str]) -> list[str]:
    """The argv after `git -C PATH` and any `-c key=value`, for messages."""
    rest = argv[1:]
    while rest and rest[0] in ("-C", "-c") and len(rest) >= 2:
        rest = rest[2:]
    return rest


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for git: the tool defaults, minus repository selectors, plus `extra`."""
    env = proc.child_env()
    for name in _REPOSITORY_VARIABLES:
        env.pop(name, None)
    if extra:
        env.update(extra)
    return env


async def git(
    repo_or_path: str | os.PathLike[str],
    *args: str,
    timeout: float = GIT_TIMEOUT,
    check: bool = True,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> proc.Result:
    """Run `git -C repo_or_path args...`.

    `env` holds variables added to the git environment (not a replacement for it). Raises
    GitFailed when `check` and git exits non-zero; WorkspaceError when git is missing or
    overran `timeout` (whatever `check` says: there is no result to look at).
    """
    argv = ["git", "-C", os.fspath(repo_or_path), *args]
    try:
        result = await proc.run(argv, timeout=timeout, env=git_env(env), stdin=stdin)
    except proc.ToolMissing:
        raise WorkspaceError("git is not installed or not on PATH; install git and retry") from None
    except proc.ToolTimeout:
        raise WorkspaceError(
            f"git {' '.join(args[:2])} in {os.fspath(repo_or_path)} did not finish within "
            f"{timeout:g}s; is the repository on a slow or hung file system?"
        ) from None
    if check and not result.ok:
        raise GitFailed(result)
    return result


async def is_git_repo(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a directory inside a git working tree or a git directory (bare)."""
    if not os.path.isdir(path):
        return False
    result = await git(path, "rev-parse", "--git-dir", check=False)
    return result.ok


async def toplevel(path: str | os.PathLike[str]) -> Path | None:
    """The top of the working tree `path` is in, or None (not in a working tree)."""
    if not os.path.isdir(path):
        return None
    result = await git(path, "rev-parse", "--show-toplevel", check=False)
    if not result.ok or not result.out.strip():
        return None
    return Path(result.out.rstrip("\n"))


async def branch_exists(repo: str | os.PathLike[str], branch: str) -> bool:
    if not branch or branch.startswith("-"):
        return False
    result = await git(repo, "show-ref", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
    return result.ok


async def rev_parse(repo: str | os.PathLike[str], rev: str) -> str | None:
    """The object id `rev` names (peeled to a commit), or None when it names no commit."""
    if not rev or rev.startswith("-"):
        return None
    result = await git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    sha = result.out.strip()
    return sha if result.ok and sha else None


FETCH_TIMEOUT = 20.0
"""A fetch of the base branch before a spawn; past it, the spawn goes on from the local branch."""


async def fetch_branch(
    repo: str | os.PathLike[str], remote: str, branch: str, *, timeout: float = FETCH_TIMEOUT
) -> str:
    """Fetch `branch` from `remote` into its remote-tracking ref (`refs/remotes/REMOTE/BRANCH`)
    and return that ref. Raises WorkspaceError when the remote cannot be reached in time."""
    if not remote or remote.startswith("-") or "/" in remote or not valid_branch_name(branch):
        raise WorkspaceError(f"cannot fetch {branch!r} from remote {remote!r}: not a usable name")
    tracking = f"refs/remotes/{remote}/{branch}"
    await git(
        repo, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, f"+refs/heads/{branch}:{tracking}",
        timeout=timeout,
    )
    return tracking


PUSH_TIMEOUT = 60.0


async def ref_commits(repo: str | os.PathLike[str], patterns: list[str]) -> dict[str, str]:
    """Full ref name -> commit, for the refs matching `patterns` (exact names, or for-each-ref
    globs like `refs/remotes/*/main`), in ONE git call however many there are."""
    if not patterns:
        return {}
    if any(not p.startswith("refs/") for p in patterns):
        raise ValueError(f"ref patterns start with refs/: {patterns}")
    result = await git(repo, "for-each-ref", "--format=%(objectname) %(refname)", *patterns)
    found = {}
    for line in result.out.splitlines():
        sha, _, ref = line.partition(" ")
        if sha and ref:
            found[ref] = sha
    return found


async def count_commits(repo: str | os.PathLike[str], head: str, excluded: list[str]) -> int:
    """Commits reachable from `head` and from none of `excluded` (commits or refs)."""
    result = await git(repo, "rev-list", "--count", head, "--not", *excluded, "--")
    return int(result.out.strip() or "0")


async def push_commit(
    repo: str | os.PathLike[str], remote: str, sha: str, branch: str, *, timeout: float = PUSH_TIMEOUT
) -> None:
    """Push commit `sha` to `branch` on `remote`, a fast-forward only (never forced), with the
    user's own git configuration and credentials and no prompt. Raises GitFailed when the remote
    refuses (a diverged branch, no permission) and WorkspaceError when it cannot be reached."""
    if not remote or remote.startswith("-") or not valid_branch_name(branch) or not sha.isalnum():
        raise WorkspaceError(f"cannot push {sha[:12]!r} to {branch!r} on {remote!r}: not a usable name")
    await git(repo, "push", "--porcelain", "--quiet", remote, f"{sha}:refs/heads/{branch}", timeout=timeout)


async def delete_branch_at(repo: str | os.PathLike[str], branch: str, sha: str) -> bool:
    """Delete `refs/heads/<branch>` only while it still points at `sha` (a compare-and-delete:
    a branch that moved since, or never existed, is left alone). Whether it was deleted."""
    if not valid_branch_name(branch) or not sha:
        return False
    result = await git(repo, "update-ref", "-d", f"refs/heads/{branch}", sha, check=False)
    return result.ok


async def default_remote(repo: str | os.PathLike[str]) -> tuple[str | None, str | None]:
    """The remote pull requests go to, as (name, url): `origin` when it exists, else the first
    remote configured; (None, None) without remotes."""
    listed = await git(repo, "remote", check=False)
    names = [line.strip() for line in listed.out.splitlines() if line.strip()] if listed.ok else []
    if not names:
        return None, None
    name = "origin" if "origin" in names else names[0]
    url = await git(repo, "remote", "get-url", name, check=False)
    return name, (url.out.strip() or None) if url.ok else None


@dataclass(frozen=True)
class WorktreeEntry:
    path: Path
    head: str | None
    branch: str | None
    """The short branch name checked out there, None when detached (or bare)."""
    bare: bool = False
    detached: bool = False
    locked: bool = False
    prunable: bool = False


async def list_worktrees(repo: str | os.PathLike[str]) -> list[WorktreeEntry]:
    """`git worktree list --porcelain`, parsed; the main worktree comes first."""
    result = await git(repo, "worktree", "list", "--porcelain")
    entries: list[WorktreeEntry] = []
    for block in result.out.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            fields[key] = value
        if "worktree" not in fields:
            continue
        branch = fields.get("branch")
        entries.append(
            WorktreeEntry(
                path=Path(fields["worktree"]),
                head=fields.get("HEAD"),
                branch=branch.removeprefix("refs/heads/") if branch else None,
                bare="bare" in fields,
                detached="detached" in fields,
                locked="locked" in fields,
                prunable="prunable" in fields,
            )
        )
    return entries


async def default_branch(repo: str | os.PathLike[str]) -> str:
    """The branch sessions start from: what the default remote's HEAD points at, else the
    branch checked out in the main worktree, else `main` or `master` (whichever exists)."""
    remote, _ = await default_remote(repo)
    if remote:
        result = await git(
            repo, "symbolic-ref", "--quiet", f"refs/remotes/{remote}/HEAD", check=False
        )
        prefix = f"refs/remotes/{remote}/"
        target = result.out.strip()
        if result.ok and target.startswith(prefix) and target != prefix:
            return target.removeprefix(prefix)
    worktrees = await list_worktrees(repo)
    if worktrees and worktrees[0].branch:
        return worktrees[0].branch
    head = await git(repo, "symbolic-ref", "--quiet", "HEAD", check=False)
    if head.ok and head.out.strip().startswith("refs/heads/"):
        return head.out.strip().removeprefix("refs/heads/")
    for candidate in ("main", "master"):
        if await branch_exists(repo, candidate):
            return candidate
    raise WorkspaceError(
        f"cannot tell the default branch of {os.fspath(repo)}: no remote HEAD, HEAD is detached "
        "and there is no main or master branch; set the project's default branch explicitly"
    )


async def check_branch_name(repo: str | os.PathLike[str], name: str) -> bool:
    """`valid_branch_name`, confirmed by the repository's own git (`check-ref-format --branch`),
    which also knows the rules of the installed version."""
    if not valid_branch_name(name):
        return False
    result = await git(repo, "check-ref-format", "--branch", name, check=False)
    # --branch expands `@{-1}`-style names; a valid session branch names itself.
    return result.ok and result.out.strip() == name


# The name the service layer first used for `check_branch_name`.
valid_branch = check_branch_name
