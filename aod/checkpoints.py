"""Per-turn checkpoints and rollback (issue 19): `aoctl checkpoints ID`, `aoctl rollback ID N`.

When a finished turn is seen (aod/overlap.py `is_finished_turn`, from the tick's activity), a
checkpoint of the session's worktree is taken beside the tick (aod/plugins/workspace/checkpoint.py
does the git). A session's checkpoints are taken one at a time (a lock per session), so two never
race for the same n, and a rollback never runs beside one.

Kept: the newest `projects.NAME.checkpoints.keep` per session. Cleanup does not delete them:
they are small (objects shared with the branch) and they are the session's history; for a
worktree they live in the project's repository and outlive the session, like `refs/ao/wip/<id>`.

May import: sessions, errors, protocol, model, plugins/workspace, events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import structlog
import trio

from aod.errors import RpcFailure, failure, first_line
from aod.events import utc_now_iso
from aod.model import Session
from aod.plugins.workspace import WorkspaceError
from aod.plugins.workspace.checkpoint import list_checkpoints, restore_checkpoint, take_checkpoint
from aod.protocol import CheckpointInfo, CheckpointsResult, ErrorCode, RollbackResult
from aod.sessions import ENDED_STATES, Sessions

log = structlog.get_logger()

DEFAULT_KEEP = 50


@dataclass(eq=False)
class Checkpoints:
    sessions: Sessions
    _locks: dict[str, trio.Lock] = field(default_factory=dict)

    def _lock(self, session_id: str) -> trio.Lock:
        return self._locks.setdefault(session_id, trio.Lock())

    def _keep(self, session: Session) -> int:
        project = self.sessions.config().projects.get(session.project)
        return project.checkpoints.keep if project is not None else DEFAULT_KEEP

    def turn_finished(self, session: Session) -> None:
        """The tick saw the session's agent finish a turn: checkpoint its worktree beside the
        tick (a few git calls; the tick does not wait for them)."""
        if self._keep(session) == 0 or not session.workspace:
            return
        nursery = self.sessions.nursery
        if nursery is None:
            log.info("no nursery to checkpoint in", session=session.id)
            return
        nursery.start_soon(self._turn, session.id)

    async def _turn(self, session_id: str) -> None:
        try:
            await self.take(session_id, "turn")
        except Exception as exc:  # noqa: BLE001 - a checkpoint that failed is logged, not fatal
            log.warning("checkpoint failed", session=session_id, error=first_line(exc))

    async def take(self, session_id: str, reason: str) -> int | None:
        async with self._lock(session_id):
            return await self._take(await self.sessions.session(session_id), reason)

    async def _take(self, session: Session, reason: str) -> int | None:
        if not session.workspace:
            return None
        taken = await take_checkpoint(Path(session.workspace), session.id, reason, keep=max(1, self._keep(session)))
        if taken is None:
            return None
        n, made = taken
        if made:
            log.info("checkpoint taken", session=session.id, n=n, reason=reason)
            await self.sessions.store.append_journal(
                session.id, {"time": utc_now_iso(), "kind": "checkpoint.taken", "n": n, "reason": reason}
            )
            self.sessions.bus.publish("session.checkpoint", session=session.id, n=n, reason=reason)
        return n

    async def list(self, session_id: str) -> CheckpointsResult:
        session = await self.sessions.session(session_id)
        path = self._workspace(session)
        try:
            found = await list_checkpoints(path, session.id, diffstat=True)
        except WorkspaceError as exc:
            raise failure(ErrorCode.UNAVAILABLE, f"cannot list session {session_id}'s checkpoints: {first_line(exc)}") from None
        return CheckpointsResult(
            id=session.id,
            checkpoints=[
                CheckpointInfo(
                    n=c.n, ref=c.ref, commit=c.commit, at=c.at, head=c.head, reason=c.reason,
                    files_changed=c.files_changed, insertions=c.insertions, deletions=c.deletions,
                )  # fmt: skip
                for c in found
            ],
        )

    async def rollback(self, session_id: str, n: int, *, force: bool) -> RollbackResult:
        session = await self.sessions.session(session_id)
        if session.state in ENDED_STATES:
            raise failure(ErrorCode.CONFLICT, f"session {session_id} is {session.state}; only a live session's worktree is rolled back")
        path = self._workspace(session)
        if session.activity == "active" and not force:
            raise failure(
                ErrorCode.CONFLICT,
                f"the agent of session {session_id} is working (activity active): a rollback now would race "
                "its edits. Wait for its turn to end (`aoctl status` shows it idle), or use --force.",
            )
        async with self._lock(session.id):
            try:
                found = {c.n: c for c in await list_checkpoints(path, session.id)}
                target = found.get(n)
                if target is None:
                    have = ", ".join(str(k) for k in sorted(found)) or "none yet"
                    raise failure(
                        ErrorCode.NOT_FOUND,
                        f"session {session_id} has no checkpoint {n} (it has: {have}); `aoctl checkpoints {session_id}` lists them",
                    )
                saved = await self._take(session, "rollback")
                if saved is None:
                    raise failure(ErrorCode.UNAVAILABLE, f"cannot checkpoint session {session_id}'s worktree before rolling back")
                current = {c.n: c for c in await list_checkpoints(path, session.id)}[saved]
                await restore_checkpoint(path, current, target)
            except RpcFailure:
                raise
            except WorkspaceError as exc:
                raise failure(ErrorCode.UNAVAILABLE, f"cannot roll session {session_id} back: {first_line(exc)}") from None
        log.info("rolled back", session=session.id, n=n, saved=saved)
        await self.sessions.store.append_journal(
            session.id, {"time": utc_now_iso(), "kind": "checkpoint.rollback", "n": n, "saved": saved, "head": target.head}
        )
        self.sessions.bus.publish("session.rollback", session=session.id, n=n, saved=saved)
        try:
            await self.sessions.enqueue(
                session.id,
                f"Note from aod: your worktree was rolled back to checkpoint {n} (the branch is on commit "
                f"{target.head[:12]} again, and the files are as they were then). The state from just "
                f"before is kept as checkpoint {saved}. Look at the files again before you go on.",
                source="rollback",
            )
        except RpcFailure as exc:
            log.info("could not tell the agent of the rollback", session=session.id, error=exc.message)
        return RollbackResult(id=session.id, n=n, saved=saved, head=target.head)

    def _workspace(self, session: Session) -> Path:
        if not session.workspace or not Path(session.workspace).is_dir():
            raise failure(ErrorCode.CONFLICT, f"session {session.id} has no worktree (any more); nothing to check point")
        return Path(session.workspace)
