"""The tick's overlap step (issue 19): for one project's live sessions, read the changed paths
(aod/changed_paths.py, a cache), let the pure rule say who overlaps (aod/overlap.py), write the
records that changed, and hand each new overlap's notice to the reactor (exactly once).

Which sessions count: workers with a worktree, in a state where they still change it (not
spawning, not ended). Orchestrators and other kinds (reviewers read, they do not write) are left
out.

May import: overlap, changed_paths, sessions, reactor, model, events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec
import structlog

from aod import overlap
from aod.changed_paths import ChangedPaths, WorktreeLook
from aod.events import utc_now_iso
from aod.model import Overlap, Session
from aod.sessions import ENDED_STATES

if TYPE_CHECKING:
    from aod.projects import ResolvedProject
    from aod.reactor import Reactor
    from aod.sessions import Sessions

log = structlog.get_logger()

COUNTED_KINDS = frozenset({"worker"})


def counted(session: Session) -> bool:
    return (
        session.kind in COUNTED_KINDS
        and bool(session.workspace)
        and session.state not in ENDED_STATES
        and session.state != "spawning"
    )


@dataclass(eq=False)
class OverlapWatch:
    service: Sessions
    reactor: Reactor | None = None
    paths: ChangedPaths = field(default_factory=ChangedPaths)
    # What each session's activity was at the last look: a change is "its agent moved".
    _activity: dict[str, tuple[str, str]] = field(default_factory=dict)

    async def step(self, name: str, project: ResolvedProject | None, group: Sequence[Session], moved: set[str]) -> None:
        """The tick's overlap step for project `name`; never raises but for cancellation (a
        failure is logged and the next tick tries again)."""
        from aod.errors import storage_error

        if project is None:
            try:
                project = await self.service.project(name)
            except Exception:  # noqa: BLE001 - a removed project: its base branch is guessed
                project = None
        try:
            await self.tick(project, group, moved)
        except Exception as exc:
            if storage_error(exc) is None:
                log.exception("the overlap step failed", project=name)

    async def tick(self, project: ResolvedProject | None, group: Sequence[Session], moved: set[str]) -> None:
        sessions = [s for s in group if counted(s)]
        looks = []
        for s in sessions:
            activity = (s.activity, s.activity_at)
            agent_moved = s.id in moved or self._activity.get(s.id) != activity
            self._activity[s.id] = activity
            looks.append(WorktreeLook(s.id, s.workspace, _bases(s, project), agent_moved))
        paths = await self.paths.look(looks)
        changes = [overlap.Changes(s.id, s.created_at, paths.get(s.id), s.group) for s in sessions]
        wanted = overlap.next_overlaps({s.id: s.overlaps for s in sessions}, changes, utc_now_iso())
        for s in group:
            if not counted(s) and s.overlaps:
                wanted[s.id] = []
        by_id = {s.id: s for s in group}
        tell_agent = self._tell_agent(group[0].project) if group else False
        for session_id, entries in wanted.items():
            session = by_id[session_id]
            if entries != list(session.overlaps):
                session = await self._write(session, entries)
            for entry in session.overlaps:
                if entry.notice_due:
                    await self._notice(session, entry, tell_agent)

    def forget_except(self, live: set[str], workspaces: set[str]) -> None:
        self.paths.forget_except(live, workspaces)
        for stale in set(self._activity) - live:
            del self._activity[stale]

    def _tell_agent(self, project_name: str) -> bool:
        project = self.service.config().projects.get(project_name)
        return bool(project is not None and project.overlap.tell_agent)

    async def _write(self, session: Session, entries: list[Overlap]) -> Session:
        before = {o.session for o in session.overlaps}

        def change(current: Session) -> Session | None:
            if current.state in ENDED_STATES:
                return None
            # A notice written meanwhile stays written: keep the record's cleared flag.
            cleared = {(o.session, o.since) for o in current.overlaps if not o.notice_due}
            merged = [
                msgspec.structs.replace(o, notice_due=False) if (o.session, o.since) in cleared else o for o in entries
            ]
            return None if merged == list(current.overlaps) else msgspec.structs.replace(current, overlaps=merged)

        updated = await self.service.update(session.id, change)
        now = {o.session for o in updated.overlaps}
        for other in sorted(now - before):
            entry = next(o for o in updated.overlaps if o.session == other)
            log.info("sessions overlap", session=session.id, other=other, files=entry.file_count)
            await self.service.store.append_journal(
                session.id,
                {"time": utc_now_iso(), "kind": "overlap.started", "other": other, "files": entry.files[:20], "file_count": entry.file_count},
            )
        for other in sorted(before - now):
            await self.service.store.append_journal(session.id, {"time": utc_now_iso(), "kind": "overlap.ended", "other": other})
        self.service.bus.publish(
            "session.overlap", session=session.id, overlaps=[{"session": o.session, "files": o.files} for o in updated.overlaps]
        )
        return updated

    async def _notice(self, session: Session, entry: Overlap, tell_agent: bool) -> None:
        """Write the overlap's notice to the later session's ledger (once, by fingerprint), then
        clear `notice_due` on its record."""
        if self.reactor is not None:
            actions = overlap.notice_actions(session.id, entry, tell_agent=tell_agent)
            await self.reactor.raise_actions(session.id, overlap.OVERLAP_KEY, overlap.notice_subject(entry), actions)

        def clear(current: Session) -> Session | None:
            if not any(o.session == entry.session and o.since == entry.since and o.notice_due for o in current.overlaps):
                return None
            return msgspec.structs.replace(
                current,
                overlaps=[
                    msgspec.structs.replace(o, notice_due=False) if o.session == entry.session and o.since == entry.since else o
                    for o in current.overlaps
                ],
            )

        await self.service.update(session.id, clear)


def _bases(session: Session, project: ResolvedProject | None) -> tuple[str, ...]:
    """The base branch's refs, the project's remote-tracking one first (what the session started
    from when there is a remote), then the local branch."""
    base = session.base_branch or (project.default_branch if project is not None else "") or "main"
    refs = []
    if project is not None and project.remote:
        refs.append(f"refs/remotes/{project.remote}/{base}")
    refs.append(f"refs/heads/{base}")
    return tuple(refs)
