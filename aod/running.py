"""Operations on a session while its agent runs, that neither start nor end it: what the agent's
hooks report (`session.hook`), what the agent says of its own work (`session.report`,
`human.ask`), the user's commands for the tick (`pause`, `resume`, `done`,
applied by the lifecycle), the screen (`session.logs`, redacted) and how to attach to it.

May import: sessions, protocol, errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import structlog

from aod.errors import failure, first_line
from aod.events import utc_now_iso
from aod.model import AgentReport, Session
from aod.protocol import ErrorCode
from aod.sessions import ENDED_STATES, Sessions

log = structlog.get_logger()


@dataclass(eq=False)
class Running:
    sessions: Sessions

    async def hook_reported(self, session_id: str, agent: str, event: str, kind: str, message: str) -> str:
        """An agent's hook (`aoctl hook`) said what it is doing: kept on the record, where the
        tick weighs it against the other signals while it is fresh (aod/activity.py)."""
        session = await self.sessions.session(session_id)
        if session.state in ENDED_STATES or agent != session.agent:
            return ""
        plugin, _settings = self.sessions.agent(session.agent)
        reader = getattr(plugin, "read_hook", None)
        reading = reader(event, kind, message[:300]) if reader is not None else None
        if reading is None:
            return ""
        now = utc_now_iso()

        def change(current: Session) -> Session:
            return msgspec.structs.replace(current, hook_activity=reading.activity, hook_detail=reading.detail, hook_at=now)

        await self.sessions.update(session_id, change)
        log.debug("hook", session=session_id, hook_event=event, activity=reading.activity)
        return reading.activity

    async def report(self, session_id: str, status: str, message: str, *, asked: bool = False) -> Session:
        """The agent says where its work stands: kept on the record, where the tick weighs it
        first (aod/activity.py), journalled, and published for the dashboard."""
        session = await self.sessions.session(session_id)
        if session.state in ENDED_STATES:
            raise failure(ErrorCode.CONFLICT, f"session {session_id} is {session.state} ({session.reason}); nothing to report")
        said = self.sessions.redactor().text(message.replace("\x00", ""))
        report = AgentReport(status=status, message=said, at=utc_now_iso())
        updated = await self.sessions.update(session_id, lambda s: msgspec.structs.replace(s, report=report))
        kind = "human.asked" if asked else "session.reported"
        await self.sessions.store.append_journal(
            session_id, {"time": report.at, "kind": kind, "status": status, "message": said}
        )
        self.sessions.bus.publish(kind, session=session_id, status=status, message=said)
        log.info("agent reported", session=session_id, status=status, asked=asked)
        return updated

    async def queue_command(self, session_id: str, command: str) -> Session:
        """Put a user command (`pause`, `resume`, `done`) on the record for the next tick's lifecycle."""
        session = await self.sessions.session(session_id)
        if session.state in ENDED_STATES:
            what = "mark done" if command == "done" else command
            raise failure(ErrorCode.CONFLICT, f"session {session_id} is {session.state} ({session.reason}); nothing to {what}")
        if command == "pause" and session.state == "paused":
            raise failure(ErrorCode.CONFLICT, f"session {session_id} is already paused ({session.reason})")
        if command == "resume" and session.state != "paused" and "pause" not in session.commands:
            raise failure(ErrorCode.CONFLICT, f"session {session_id} is {session.state}, not paused")

        def change(current: Session) -> Session:
            commands = [c for c in current.commands if c not in ("pause", "resume")]
            return msgspec.structs.replace(current, commands=[*commands, command])

        updated = await self.sessions.update(session_id, change)
        await self.sessions.store.append_journal(session_id, {"time": utc_now_iso(), "kind": "command", "command": command})
        return updated

    # -- seeing ----------------------------------------------------------------------------------

    async def logs(self, session_id: str, lines: int) -> tuple[str, str]:
        session = await self.sessions.session(session_id)
        if session.runtime is None:
            raise failure(ErrorCode.CONFLICT, f"session {session_id} has no runtime ({session.state}: {session.reason})")
        runtime = self.sessions.runtime_for(session.runtime.kind)
        snapshot = await runtime.snapshot(runtime.server_of(session.runtime))
        alive = runtime.liveness(session.runtime, snapshot)
        try:
            text = await runtime.capture(session.runtime, max(1, min(lines, 10_000)))
        except Exception as exc:  # noqa: BLE001
            if alive == "dead":
                return "", alive
            raise failure(ErrorCode.UNAVAILABLE, f"cannot read session {session_id}'s screen: {first_line(exc)}") from None
        return self.sessions.redactor().text(text), alive

    async def attach_argv(self, session_id: str) -> list[str]:
        session = await self.sessions.session(session_id)
        if session.runtime is None:
            raise failure(ErrorCode.CONFLICT, f"session {session_id} has no runtime ({session.state})")
        argv = self.sessions.runtime_for(session.runtime.kind).attach_argv(session.runtime)
        if not argv:
            raise failure(ErrorCode.CONFLICT, f"the {session.runtime.kind} runtime cannot be attached to")
        return argv
