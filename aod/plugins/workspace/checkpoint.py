"""Per-turn checkpoints of a workspace (issue 19): `refs/ao/checkpoints/<id>/<n>`, n = 1, 2, ...

A checkpoint is a commit whose tree is the working tree as it was (tracked changes and untracked
files that are not ignored; what `refs/ao/wip/<id>` holds too) and whose one parent is the HEAD
it was taken on. Taking one changes nothing of the workspace: its files, index and HEAD stay
byte for byte as they were (the tree is written through a copy of the index, as for the WIP
snapshot: aod/plugins/workspace/worktree.py `working_tree`).

Restoring one puts the branch back on the checkpoint's parent, the files as the checkpoint's
tree has them (files made since are removed: the caller checkpoints them first), and the index
on the new HEAD. Ignored files are left alone: no checkpoint holds them.

The refs live in the repository the workspace belongs to (for a worktree, the project's, so they
outlive the worktree; for a clone, the clone's).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aod.model import SESSION_ID_PATTERN
from aod.plugins.workspace import WorkspaceError
from aod.plugins.workspace.git import git, rev_parse
from aod.plugins.workspace.worktree import SLOW_GIT_TIMEOUT, ceiling_env, is_within, working_tree

CHECKPOINT_REF_PREFIX = "refs/ao/checkpoints/"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "aod",
    "GIT_AUTHOR_EMAIL": "aod@localhost",
    "GIT_COMMITTER_NAME": "aod",
    "GIT_COMMITTER_EMAIL": "aod@localhost",
}
_HEX = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


@dataclass(frozen=True)
class Checkpoint:
    n: int
    ref: str
    commit: str
    tree: str
    head: str
    """Its parent: the commit HEAD was on."""
    at: str
    reason: str
    files_changed: int = 0
    insertions: int = 0
    deletions: int = 0


def checkpoint_prefix(session_id: str) -> str:
    if not isinstance(session_id, str) or SESSION_ID_PATTERN.fullmatch(session_id) is None:
        raise WorkspaceError(f"invalid session id {session_id!r}")
    return f"{CHECKPOINT_REF_PREFIX}{session_id}/"


async def list_checkpoints(path: Path, session_id: str, *, diffstat: bool = False) -> list[Checkpoint]:
    """The session's checkpoints, oldest first; with `diffstat`, each against the previous one
    (the first against its HEAD): one `for-each-ref` and one `diff-tree --stdin` in all."""
    prefix = checkpoint_prefix(session_id)
    env = ceiling_env(path)
    listed = await git(
        path, "for-each-ref", "--format=%(refname)%00%(objectname)%00%(tree)%00%(parent)%00%(committerdate:iso-strict)%00%(contents:subject)",
        prefix, env=env,
    )  # fmt: skip
    found: list[Checkpoint] = []
    for line in listed.out.splitlines():
        parts = line.split("\0")
        if len(parts) != 6:
            continue
        ref, commit, tree, parent, at, subject = parts
        tail = ref.removeprefix(prefix)
        if not tail.isdigit():
            continue
        reason = "rollback" if "(rollback)" in subject else "turn"
        found.append(Checkpoint(int(tail), ref, commit, tree, parent.split(" ")[0], at, reason))
    found.sort(key=lambda c: c.n)
    if not diffstat or not found:
        return found
    pairs: list[tuple[str, str]] = []
    for i, checkpoint in enumerate(found):
        before = found[i - 1].tree if i else f"{checkpoint.head}^{{tree}}"
        pairs.append((before, checkpoint.tree))
    # Tree ids for the stdin form (it takes tree or commit ids, not revision expressions).
    peeled = await git(path, "rev-parse", "--verify", "--quiet", pairs[0][0], env=env, check=False)
    pairs[0] = (peeled.out.strip() if peeled.ok and peeled.out.strip() else pairs[0][1], pairs[0][1])
    stdin = "".join(f"{a} {b}\n" for a, b in pairs).encode()
    result = await git(path, "diff-tree", "--stdin", "-r", "--numstat", "--no-renames", stdin=stdin, env=env, timeout=SLOW_GIT_TIMEOUT)
    stats: dict[tuple[str, str], list[int]] = {}
    current: list[int] | None = None
    for line in result.out.splitlines():
        words = line.split(" ")
        if len(words) == 2 and all(_HEX.fullmatch(w) for w in words):
            current = stats.setdefault((words[0], words[1]), [0, 0, 0])
            continue
        fields = line.split("\t")
        if current is None or len(fields) < 3:
            continue
        current[0] += 1
        current[1] += int(fields[0]) if fields[0].isdigit() else 0
        current[2] += int(fields[1]) if fields[1].isdigit() else 0
    out = []
    for checkpoint, pair in zip(found, pairs, strict=True):
        files, plus, minus = stats.get(pair, [0, 0, 0])
        out.append(
            Checkpoint(**{**checkpoint.__dict__, "files_changed": files, "insertions": plus, "deletions": minus})
        )
    return out


async def take_checkpoint(path: Path, session_id: str, reason: str, *, keep: int, timeout: float = SLOW_GIT_TIMEOUT) -> tuple[int, bool] | None:
    """Checkpoint the workspace at `path`. Returns (n, made): `made` False when the last
    checkpoint already had the same tree and parent (then n is that one's). None when there is
    nothing to checkpoint (no workspace, no commit yet). Keeps the newest `keep` (at least 1)."""
    if not path.is_dir():
        return None
    prefix = checkpoint_prefix(session_id)
    head = await rev_parse(path, "HEAD")
    if head is None:
        return None  # an unborn branch: no HEAD to put back
    _staged, tree = await working_tree(path, head, timeout=timeout)
    existing = await list_checkpoints(path, session_id)
    if existing and existing[-1].tree == tree and existing[-1].head == head:
        return existing[-1].n, False
    n = existing[-1].n + 1 if existing else 1
    env = {**ceiling_env(path), **_IDENTITY}
    message = f"aod: checkpoint {n} of session {session_id} ({reason})\n\nThe tree is the working tree; the parent is the HEAD it was on.\n"
    commit = (
        await git(path, "commit-tree", "--no-gpg-sign", tree, "-p", head, "-F", "-", stdin=message.encode(), env=env)
    ).out.strip()
    # The empty old value: the ref must not exist yet (two takers never share an n).
    await git(path, "update-ref", "-m", f"aod: checkpoint of session {session_id}", f"{prefix}{n}", commit, "", env=env)
    pruned = existing[: max(0, len(existing) + 1 - max(1, keep))]
    if pruned:
        lines = "".join(f"delete {c.ref} {c.commit}\n" for c in pruned)
        await git(path, "update-ref", "--stdin", stdin=lines.encode(), env=env, check=False)
    return n, True


async def restore_checkpoint(path: Path, current: Checkpoint, target: Checkpoint, *, timeout: float = SLOW_GIT_TIMEOUT) -> None:
    """Make the workspace at `path`, whose files are `current`'s tree (just checkpointed), into
    `target`: the files of its tree, the branch on its parent, the index matching that HEAD."""
    env = ceiling_env(path)
    root = os.path.realpath(path)
    changed = await git(
        path, "diff-tree", "-r", "-z", "--no-renames", "--name-status", current.tree, target.tree, env=env, timeout=timeout
    )
    fields = [os.fsdecode(f) for f in changed.stdout.split(b"\0") if f]
    removes: list[str] = []
    writes: list[str] = []
    for status, name in zip(fields[0::2], fields[1::2], strict=False):
        if status == "D":
            removes.append(name)
        elif status == "T":
            removes.append(name)
            writes.append(name)
        else:  # A, M
            writes.append(name)
    for name in removes:
        full = os.path.join(root, name)
        if not is_within(os.path.dirname(full), root) or os.path.isabs(name) or ".." in Path(name).parts:
            raise WorkspaceError(f"refusing to remove {name!r}: it is outside the worktree {root}")
        if os.path.lexists(full) and not os.path.isdir(full) or os.path.islink(full):
            os.unlink(full)
        _remove_empty_parents(os.path.dirname(full), root)
    if writes:
        with tempfile.TemporaryDirectory(prefix="aod-rollback-") as scratch:
            index_env = {**env, "GIT_INDEX_FILE": os.path.join(scratch, "index")}
            await git(path, "read-tree", target.tree, env=index_env, timeout=timeout)
            for name in writes:
                full = os.path.join(root, name)
                if not is_within(os.path.dirname(full), root):
                    raise WorkspaceError(f"refusing to write {name!r}: it is outside the worktree {root}")
            await git(
                path, "checkout-index", "--force", "-z", "--stdin",
                stdin=b"\0".join(os.fsencode(n) for n in writes) + b"\0", env=index_env, timeout=timeout,
            )  # fmt: skip
    # The branch (not a detached HEAD) back on the commit the checkpoint was taken on, and the
    # index with it; the files stay as just written.
    await git(path, "reset", "--quiet", "--mixed", target.head, env=env, timeout=timeout, check=False)
    head = await rev_parse(path, "HEAD")
    if head != target.head:
        raise WorkspaceError(f"the files are restored but HEAD could not be moved to {target.head[:12]}")


def _remove_empty_parents(directory: str, root: str) -> None:
    while os.path.realpath(directory) != root and is_within(directory, root):
        try:
            os.rmdir(directory)
        except OSError:
            return
        directory = os.path.dirname(directory)
