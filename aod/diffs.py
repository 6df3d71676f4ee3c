"""`session.diff`: a session branch's committed work against the branch it started from.

Where the branch lives: for a worktree, in the project's repository (they share refs, and the
branch outlives the worktree); for a clone, in the clone while it exists. The base is the
session's recorded base branch, locally and as the project's remote has it (aod fetched that at
spawn); aod/plugins/workspace/diff.py picks the closer one. The patch is redacted like
`session.logs`: it is shown, and may carry a secret the agent committed.

May import: sessions, errors, protocol, plugins/workspace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from aod.errors import failure, first_line
from aod.plugins.workspace import WorkspaceError
from aod.plugins.workspace.diff import branch_diff
from aod.protocol import DiffFile, ErrorCode, SessionDiffResult
from aod.sessions import Sessions

MAX_PATCH_BYTES: Final = 16 * 1024 * 1024


async def session_diff(sessions: Sessions, session_id: str, max_bytes: int) -> SessionDiffResult:
    session = await sessions.session(session_id)
    if not session.branch:
        raise failure(ErrorCode.CONFLICT, f"session {session_id} has no branch ({session.state}: {session.reason})")
    project = await sessions.project(session.project)
    repo = project.path
    if session.workspace_kind == "clone" and session.workspace and Path(session.workspace).is_dir():
        repo = Path(session.workspace)
    base = session.base_branch or project.default_branch
    bases = [f"refs/heads/{base}"]
    if project.remote:
        bases.append(f"refs/remotes/{project.remote}/{base}")
    try:
        diff = await branch_diff(repo, f"refs/heads/{session.branch}", bases, max(1, min(max_bytes, MAX_PATCH_BYTES)))
    except WorkspaceError as exc:
        raise failure(ErrorCode.UNAVAILABLE, f"cannot diff session {session_id}'s branch: {first_line(exc)}") from None
    return SessionDiffResult(
        id=session.id,
        base=diff.base,
        base_sha=diff.base_sha,
        head=session.branch,
        head_sha=diff.head_sha,
        files=[
            DiffFile(path=f.path, status=f.status, additions=f.additions, deletions=f.deletions, old_path=f.old_path, binary=f.binary)  # type: ignore[arg-type]
            for f in diff.files
        ],
        patch=sessions.redactor().text(diff.patch),
        truncated=diff.truncated,
    )
