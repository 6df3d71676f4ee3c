"""A branch's committed changes against its base, as git sees them: which files, how many lines,
and the unified patch read no further than a size limit.

The base is the merge base of the branch and the base branch (what `git diff base...head`
compares): commits the base gained since the branch started are not the branch's changes. Where
the base exists twice (the local branch and the remote's, fetched at spawn), the one the branch
is closer to is used.

Every call is `git -C REPO ...` with an argv (aod/plugins/workspace/git.py's environment, no
shell); `-z` output, so no file name is ever misread. May import: proc, this package's git.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from aod import proc
from aod.plugins.workspace import WorkspaceError
from aod.plugins.workspace import git as gitplug

DIFF_TIMEOUT = 30.0
_STATUS = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "C": "copied", "T": "type_changed"}
# The same diff for every question: renames found, no user diff drivers or textconv (they could
# run programs of the repository's choosing), no colour.
_DIFF_OPTIONS = ("-M", "--no-color", "--no-ext-diff", "--no-textconv")


@dataclass
class ChangedFile:
    path: str
    status: str
    additions: int = 0
    deletions: int = 0
    old_path: str | None = None
    binary: bool = False


@dataclass
class BranchDiff:
    base: str
    """The base ref compared against, short (`main`, `origin/main`)."""
    base_sha: str
    head_sha: str
    files: list[ChangedFile] = field(default_factory=list)
    patch: str = ""
    truncated: bool = False


async def branch_diff(repo: str | os.PathLike[str], head: str, bases: list[str], max_bytes: int) -> BranchDiff:
    """`head` (a ref) against the closest of `bases` (refs; those that do not exist are skipped).
    Raises WorkspaceError when the head or every base is missing."""
    head_sha = await gitplug.rev_parse(repo, head)
    if head_sha is None:
        raise WorkspaceError(f"the branch {_short(head)} does not exist in {os.fspath(repo)}")
    best: tuple[int, str, str] | None = None  # (commits ahead, base ref, merge base)
    for ref in bases:
        if await gitplug.rev_parse(repo, ref) is None:
            continue
        merged = await gitplug.git(repo, "merge-base", head_sha, ref, check=False)
        merge_base = merged.out.strip()
        if not merged.ok or not merge_base:
            continue  # no common history
        ahead = await gitplug.count_commits(repo, head_sha, [merge_base])
        if best is None or ahead < best[0]:
            best = (ahead, ref, merge_base)
    if best is None:
        raise WorkspaceError(f"none of {', '.join(_short(b) for b in bases)} shares history with {_short(head)}")
    _, base_ref, base_sha = best
    files = await _files(repo, base_sha, head_sha)
    patch, truncated = await _patch(repo, base_sha, head_sha, max_bytes)
    return BranchDiff(base=_short(base_ref), base_sha=base_sha, head_sha=head_sha, files=files, patch=patch, truncated=truncated)


async def _files(repo: str | os.PathLike[str], base: str, head: str) -> list[ChangedFile]:
    statuses = await gitplug.git(repo, "diff", *_DIFF_OPTIONS, "--name-status", "-z", base, head, "--", timeout=DIFF_TIMEOUT)
    counts = await gitplug.git(repo, "diff", *_DIFF_OPTIONS, "--numstat", "-z", base, head, "--", timeout=DIFF_TIMEOUT)
    files = parse_name_status(statuses.stdout)
    by_path = {f.path: f for f in files}
    for path, added, deleted in parse_numstat(counts.stdout):
        changed = by_path.get(path)
        if changed is None:
            continue
        if added is None or deleted is None:
            changed.binary = True
        else:
            changed.additions, changed.deletions = added, deleted
    return files


def parse_name_status(raw: bytes) -> list[ChangedFile]:
    """`git diff --name-status -z`: `M\\0path\\0`, `R100\\0old\\0new\\0`, ..."""
    fields = raw.decode("utf-8", "replace").split("\0")
    files: list[ChangedFile] = []
    i = 0
    while i < len(fields) and fields[i]:
        letter = fields[i][0]
        status = _STATUS.get(letter, "modified")
        if letter in "RC" and i + 2 < len(fields):
            files.append(ChangedFile(path=fields[i + 2], status=status, old_path=fields[i + 1]))
            i += 3
        else:
            files.append(ChangedFile(path=fields[i + 1], status=status))
            i += 2
    return files


def parse_numstat(raw: bytes) -> list[tuple[str, int | None, int | None]]:
    """`git diff --numstat -z`: `ADD\\tDEL\\tpath\\0`, or for a rename `ADD\\tDEL\\t\\0old\\0new\\0`;
    `-\\t-` for a binary file (None, None)."""
    fields = raw.decode("utf-8", "replace").split("\0")
    found: list[tuple[str, int | None, int | None]] = []
    i = 0
    while i < len(fields) and fields[i]:
        added, _, rest = fields[i].partition("\t")
        deleted, _, path = rest.partition("\t")
        if path:
            i += 1
        else:  # a rename or copy: the two paths follow
            path = fields[i + 2] if i + 2 < len(fields) else ""
            i += 3
        found.append((path, int(added) if added.isdecimal() else None, int(deleted) if deleted.isdecimal() else None))
    return found


async def _patch(repo: str | os.PathLike[str], base: str, head: str, max_bytes: int) -> tuple[str, bool]:
    argv = ["git", "-C", os.fspath(repo), "diff", *_DIFF_OPTIONS, base, head, "--"]
    try:
        result, cut = await proc.run_capped(argv, timeout=DIFF_TIMEOUT, limit=max_bytes, env=gitplug.git_env())
    except proc.ToolMissing:
        raise WorkspaceError("git is not installed or not on PATH; install git and retry") from None
    except proc.ToolTimeout:
        raise WorkspaceError(f"git diff in {os.fspath(repo)} did not finish within {DIFF_TIMEOUT:g}s") from None
    if not result.ok:
        raise gitplug.GitFailed(result)
    data = result.stdout
    if cut:
        end = data.rfind(b"\n")
        data = data[: end + 1] if end >= 0 else b""  # whole lines only
    return data.decode("utf-8", "replace"), cut


def _short(ref: str) -> str:
    for prefix in ("refs/heads/", "refs/remotes/"):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref
