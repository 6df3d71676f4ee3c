"""Issue intake (`projects.NAME.intake`): new open issues that match get a worker, once.

A task of aod's nursery beside the tick. Every `intake.every` it asks each project's tracker
for the matching open issues (one request per project), reads the project's intake ledger, and
starts what `orchestration.intake_choice` (pure) says, within the orchestrator's `max_workers`.
Each issue is written in the ledger *before* its spawn, with the spawn's idempotency key: a
crash between the two is finished by the next run with the same key, so nothing starts twice,
and a relabel, a restart or a reopened issue never starts a second worker.

May import: sessions, forges (issues), orchestration, store, errors, events.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import structlog
import trio

from aod.errors import RpcFailure
from aod.failpoints import failpoint
from aod.orchestration import KIND, intake_choice
from aod.sessions import LIVE_STATES

if TYPE_CHECKING:
    from aod.config import IntakeConfig
    from aod.forges import ForgeService
    from aod.service import SessionService

log = structlog.get_logger()

ISSUES_READ = 100


class Intake:
    def __init__(self, sessions: SessionService, forges: ForgeService) -> None:
        self.sessions = sessions
        self.forges = forges
        self.due: dict[str, float] = {}
        self.wake = trio.Event()

    async def run(self) -> None:
        """Forever: each project's intake when it is due; woken early by `poke` (tests, reload)."""
        while True:
            await self.run_once(time.monotonic())
            with trio.move_on_after(self.sessions.config().poll_interval):
                await self.wake.wait()
            self.wake = trio.Event()

    def poke(self) -> None:
        self.due.clear()
        self.wake.set()

    async def run_once(self, now: float) -> None:
        for name, settings in self.sessions.config().projects.items():
            intake = settings.intake
            if intake is None or self.due.get(name, 0.0) > now:
                continue
            self.due[name] = now + intake.every
            try:
                await self._project(name, intake)
            except RpcFailure as exc:
                log.warning("intake could not run", project=name, error=exc.message)

    async def _project(self, name: str, intake: IntakeConfig) -> None:
        project = await self.sessions.project(name)
        _name, issues = await self.forges.list_issues(
            name, None, state="open", labels=list(intake.labels), assignee=intake.assignee, milestone=None, limit=ISSUES_READ,
        )
        store = self.sessions.store
        ledger = await store.get_intake(name)
        live = [s for s in await store.list_sessions() if s.project == name and s.kind != KIND and s.state in LIVE_STATES]
        policy = self.sessions.orchestrator_policy(name)
        choice = intake_choice([i.id for i in issues], dict(ledger.taken), live_workers=len(live), max_workers=policy.max_workers)
        for issue in (*choice.resume, *choice.start):
            # The tracker's kind: for configs with `forge: X` it is X, as in keys written before.
            key = f"intake:{project.tracker}:{name}:{issue}"
            await store.note_intake(name, issue, f"spawning:{key}")
            await failpoint("intake-noted")
            try:
                session = await self.sessions.spawner.spawn_once(
                    idempotency_key=key, reuse_live=True, project=name, issue=issue, task=None,
                    agent_name=intake.agent, branch=None,
                )
            except RpcFailure as exc:
                # Left as `spawning`: the next run tries again with the same key.
                log.warning("intake spawn failed", project=name, issue=issue, error=exc.message)
                continue
            await failpoint("intake-spawned")
            await store.note_intake(name, issue, session.id)
            self.sessions.bus.publish("intake.spawned", session=session.id, project=name, issue=issue)
            log.info("intake started a worker", project=name, issue=issue, session=session.id)
