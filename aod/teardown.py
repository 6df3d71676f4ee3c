"""Ending sessions: `kill` (the record first, then the agent), `stop --all`, and `cleanup`, which
removes ended sessions' workspaces and archives their records, never losing work.

Before a worktree goes, its uncommitted work — git-ignored files included, unless the project
declares them disposable or they are unchanged copies `.worktreeinclude` made — is saved to
`refs/ao/wip/<id>`; without `--force` a worktree with work left is kept. An archive that a crash
interrupted is finished by the next cleanup; session directories with no record (a spawn
interrupted before its first write) are released as orphans.

May import: sessions, plugins (runtime, workspace), workfiles, proc, protocol, errors.
"""

from __future__ import annotations

import filecmp
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import msgspec
import structlog

from aod.errors import RpcFailure, failure, first_line
from aod.events import utc_now_iso
from aod.model import Session
from aod.plugins.workspace import DirtyWorkspace, Workspace, WorkspaceError
from aod.proc import ToolMissing
from aod.projects import ResolvedProject
from aod.protocol import CleanupItem, ErrorCode
from aod.sessions import ENDED_STATES, LIVE_STATES, Sessions
from aod.workfiles import MAX_SAVED_BYTES, is_disposable, work_left

log = structlog.get_logger()


@dataclass(eq=False)
class Teardown:
    sessions: Sessions

    async def kill(self, session_id: str) -> Session:
        session = await self.sessions.session(session_id)
        # The record first, then the agent (intent before action, as the reactor does): a kill
        # the disk cannot record fails before the agent is touched. The other way round, a full
        # disk left a stopped agent on a record saying `working`, which the next tick then
        # judged `errored: agent is gone` with an urgent notification.
        # The last activity seen is not the agent's any more: it is stopped (or never ran).
        activity = "exited" if session.runtime is not None else "unknown"
        newly = session.state not in ENDED_STATES
        if newly:
            killed = await self.sessions.set_state(session_id, "killed", "killed by the user", activity=activity, activity_at=utc_now_iso())
        elif session.activity != activity:
            killed = await self.sessions.update(session_id, lambda s: msgspec.structs.replace(s, activity=activity, activity_at=utc_now_iso()))
        else:
            killed = session
        if session.runtime is not None:
            runtime = self.sessions.runtime_for(session.runtime.kind)
            try:
                await runtime.kill(session.runtime)
            except ToolMissing as exc:
                raise failure(
                    ErrorCode.UNAVAILABLE,
                    f"session {session_id} is recorded as killed, but its agent could not be stopped: {exc}; "
                    f"fix that and run `aoctl kill {session_id}` again",
                ) from None
        log.info("killed", session=session_id)
        if newly:
            await self.sessions.outbox.cancel_pending(session_id, "the session was killed")
            self.sessions.bus.publish("session.killed", session=session_id)
        return killed

    async def stop_all(self) -> list[str]:
        killed = []
        for session in await self.sessions.store.list_sessions():
            if session.state in LIVE_STATES:
                await self.kill(session.id)
                killed.append(session.id)
        return killed

    async def cleanup(self, *, dry_run: bool, force: bool, project: str | None) -> list[CleanupItem]:
        items: list[CleanupItem] = []
        for session in await self.sessions.store.list_sessions():
            if project is not None and session.project != project:
                continue
            if session.state not in ENDED_STATES:
                continue
            if session.kind == "orchestrator":
                # Its worktree holds its notes and plan; it is never removed behind its back.
                items.append(CleanupItem(id=session.id, action="kept", reason="an orchestrator session is never cleaned up"))
                continue
            # A reviewer's read-only checkout: saved to refs/ao/wip first if it holds anything, then removed.
            items.append(await self._cleanup_one(session, dry_run=dry_run, force=force or session.kind == "reviewer"))
        items.extend(await self._cleanup_orphans(dry_run=dry_run, project=project))
        return items

    async def cleanup_session(self, session_id: str, *, once_saved: bool = False) -> CleanupItem:
        """Clean up one ended session (the pr-merged reaction); never forced, so dirt is kept.
        `once_saved` (an attempt not picked, issue 19): the worktree goes once all its work is in
        the snapshot, and is kept only when some could not be saved (ignored files too large)."""
        session = await self.sessions.session(session_id)
        if session.state not in ENDED_STATES:
            return CleanupItem(id=session_id, action="kept", reason=f"the session is {session.state} again")
        if session.kind == "orchestrator":
            return CleanupItem(id=session_id, action="kept", reason="an orchestrator session is never cleaned up")
        # A reviewer's checkout is read-only: whatever it holds is saved to refs/ao/wip first,
        # then the checkout goes (forced), so an ended reviewer never lingers.
        return await self._cleanup_one(session, dry_run=False, force=session.kind == "reviewer", once_saved=once_saved)

    async def _cleanup_one(self, session: Session, *, dry_run: bool, force: bool, once_saved: bool = False) -> CleanupItem:
        slog = log.bind(session=session.id)
        path = Path(session.workspace) if session.workspace else None
        try:
            resolved = await self.sessions.project(session.project)
        except RpcFailure:
            resolved = None
        workspace = self.sessions.workspace_for(session.workspace_kind)
        kept = self._keeps_volume(session, force=force)
        if kept is not None:
            return CleanupItem(id=session.id, action="kept", reason=kept, workspace=str(path) if path else None)
        has_workspace = path is not None and path.exists() and resolved is not None
        dirty = False
        ignored: dict[str, int] = {}  # git-ignored files that are work: removal would delete them
        if has_workspace:
            assert path is not None and resolved is not None
            dirty = await workspace.is_dirty(path)
            try:
                ignored = await self._ignored_work(workspace, resolved, path)
            except WorkspaceError as exc:
                if not force:
                    return CleanupItem(id=session.id, action="kept", reason=f"could not check the ignored files: {first_line(exc)}", workspace=str(path))
        saveable = sorted(ignored) if sum(ignored.values()) <= MAX_SAVED_BYTES else []
        left = work_left(dirty, ignored, saved=bool(saveable) or not ignored)
        if dry_run:
            if left and not force:
                lost = "" if saveable or not ignored else "; the ignored ones would be lost"
                return CleanupItem(id=session.id, action="kept", reason=f"{left} (use --force; they are saved to refs/ao/wip first{lost})", workspace=str(path))
            return CleanupItem(id=session.id, action="would-remove", reason=left, workspace=str(path) if has_workspace else None)
        wip_ref = session.wip_ref
        if has_workspace:
            assert path is not None and resolved is not None
            try:
                saved = await workspace.snapshot(resolved.path, path, session.id, also=saveable)
            except Exception as exc:  # noqa: BLE001
                return CleanupItem(id=session.id, action="kept", reason=f"could not save uncommitted work: {first_line(exc)}", workspace=str(path))
            if saved:
                wip_ref = saved
                await self.sessions.update(session.id, lambda s: msgspec.structs.replace(s, wip_ref=saved))
                await self.sessions.store.append_journal(
                    session.id, {"time": utc_now_iso(), "kind": "wip.saved", "ref": saved, "ignored": saveable[:100]}
                )
            if left and not force and not (once_saved and (saveable or not ignored)):
                how = (
                    "saved to " + (wip_ref or "refs/ao/wip") if saveable or not ignored
                    else "the rest is saved to " + (wip_ref or "refs/ao/wip") + "; move them out or declare them disposable"
                )
                return CleanupItem(
                    id=session.id,
                    action="kept",
                    reason=f"{left}; {how}, and --force removes the worktree",
                    wip_ref=wip_ref,
                    workspace=str(path),
                )
            if session.runtime is not None:
                try:
                    await self.sessions.runtime_for(session.runtime.kind).kill(session.runtime)
                except Exception as exc:  # noqa: BLE001
                    slog.warning("could not stop the runtime before cleanup", error=first_line(exc))
            try:
                await workspace.remove(resolved.path, path, force=True)
            except (DirtyWorkspace, WorkspaceError, Exception) as exc:  # noqa: BLE001
                return CleanupItem(id=session.id, action="kept", reason=f"could not remove the worktree: {first_line(exc)}", wip_ref=wip_ref, workspace=str(path))
        elif session.runtime is not None:
            try:
                await self.sessions.runtime_for(session.runtime.kind).kill(session.runtime)
            except Exception:  # noqa: BLE001
                pass
        await self._release_runtime(session)
        await self.sessions.outbox.quiesce(session.id, f"the session is {session.state}")
        ended = await self._mark_archived(session.id)
        await self.sessions.store.append_journal(session.id, {"time": utc_now_iso(), "kind": "archived", "wip_ref": wip_ref, "ended": ended})
        await self.sessions.store.archive_session(session.id)
        self.sessions.bus.publish("session.archived", session=session.id, wip_ref=wip_ref)
        slog.info("cleaned up", wip_ref=wip_ref)
        if ignored and not saveable:
            left += "; deleted with the worktree (--force)"
        return CleanupItem(
            id=session.id, action="removed", reason=left, wip_ref=wip_ref, workspace=str(path) if has_workspace else None
        )

    def _keeps_volume(self, session: Session, *, force: bool) -> str | None:
        """Why a runtime's own storage must stay (kubernetes: the session's volume holds its
        clone, where commits the agent never pushed may be): it goes once the work merged, or
        with --force. None: nothing to keep."""
        if session.runtime is None or force or session.state == "merged":
            return None
        runtime = self.sessions.runtime_for(session.runtime.kind)
        if getattr(runtime, "cleanup", None) is None:
            return None
        return (
            f"the session ended {session.state}: its {session.runtime.kind} volume may hold commits the agent "
            "never pushed; push them from it, or --force removes it"
        )

    async def _release_runtime(self, session: Session) -> None:
        """The runtime's own storage, once `_keeps_volume` said nothing is to be kept."""
        if session.runtime is None:
            return
        release = getattr(self.sessions.runtime_for(session.runtime.kind), "cleanup", None)
        if release is None:
            return
        try:
            await release(session.runtime)
        except Exception as exc:  # noqa: BLE001 - archived anyway; the journal says what is left
            log.warning("could not release the runtime's storage", session=session.id, error=first_line(exc))
            await self.sessions.store.append_journal(session.id, {"time": utc_now_iso(), "kind": "runtime.kept", "reason": first_line(exc)})

    async def _ignored_work(self, workspace: Workspace, project: ResolvedProject, path: Path) -> dict[str, int]:
        """The git-ignored files at `path` that are work: neither disposable (the project's
        patterns) nor an unchanged copy of the project's own file (what `.worktreeinclude` put
        there: the original still exists)."""

        def leave_out(relative: str, is_dir: bool) -> bool:
            if is_disposable(relative, is_dir, project.disposable):
                return True
            return not is_dir and _same_bytes(project.path / relative, path / relative)

        return await workspace.ignored_files(path, leave_out)

    async def _mark_archived(self, session_id: str) -> str:
        """State `archived`, the reason keeping how the session ended (`merged: PR merged`), so
        the archived record and its history still say it; returns the state it ended in."""
        before: list[Session] = []

        def change(current: Session) -> Session | None:
            before.append(current)
            if current.state == "archived":
                return None  # an archive a crash interrupted: already marked
            reason = f"{current.state}: {current.reason}" if current.reason else current.state
            return msgspec.structs.replace(current, state="archived", reason=reason, since=utc_now_iso())

        updated = await self.sessions.update(session_id, change)
        ended = before[-1].state
        if ended == "archived":
            return updated.reason.split(":", 1)[0]
        await self.sessions.store.append_journal(
            session_id,
            {"time": utc_now_iso(), "kind": "state.changed", "from": ended, "to": "archived", "reason": updated.reason},
        )
        return ended

    async def _cleanup_orphans(self, *, dry_run: bool, project: str | None) -> list[CleanupItem]:
        """Session directories with no record: a spawn interrupted before its first write."""
        items = []
        for session_id in await self.sessions.store.orphan_session_ids():
            if project is not None:
                continue
            if not dry_run:
                await self.sessions.store.release_session_id(session_id)
            items.append(CleanupItem(id=session_id, action="would-remove" if dry_run else "removed", reason="interrupted spawn (no record)"))
        return items


def _same_bytes(original: Path, copy: Path) -> bool:
    """Whether `copy` is a plain file with exactly the bytes of `original` (blocking I/O)."""
    try:
        theirs, ours = os.stat(original), os.lstat(copy)
        if not (stat.S_ISREG(theirs.st_mode) and stat.S_ISREG(ours.st_mode)) or theirs.st_size != ours.st_size:
            return False
        return filecmp.cmp(original, copy, shallow=False)
    except OSError:
        return False
