"""The tick's look at every session: liveness, activity, queued messages.

Cost per tick: ONE runtime probe per runtime kind in use (tmux: one `list-panes -a`), plus one
`capture-pane` per pane whose output changed since the last tick, plus the agents' own files
(read incrementally in worker threads). Never one probe per session per tick.

Liveness has three answers: a probe that failed or timed out is `unknown` and changes nothing;
only a definite "not there" or "exited" marks an agent `exited` (LESSONS.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import structlog
import trio

from aod.events import utc_now_iso
from aod.model import Session
from aod.plugins.agent import LaunchContext, ScreenReading
from aod.plugins.runtime import PaneState
from aod.service import ENDED_STATES, SessionService

log = structlog.get_logger()

CAPTURE_LINES = 40


@dataclass
class ObserveStats:
    sessions: int = 0
    probes: int = 0
    captures: int = 0


@dataclass
class Observer:
    service: SessionService
    limiter: trio.CapacityLimiter = field(default_factory=lambda: trio.CapacityLimiter(8))
    # pane activity time at the last capture, per session: unchanged panes are not captured again
    _seen_activity: dict[str, tuple[float | None, float]] = field(default_factory=dict)
    last: ObserveStats = field(default_factory=ObserveStats)

    async def tick(self) -> ObserveStats:
        stats = ObserveStats()
        sessions = [s for s in await self.service.store.list_sessions() if s.state not in ENDED_STATES]
        stats.sessions = len(sessions)
        kinds = {s.runtime.kind for s in sessions if s.runtime is not None}
        snapshots: dict[str, dict[str, PaneState] | None] = {}
        for kind in kinds:
            runtime = self.service.runtime_for(kind)
            stats.probes += 1
            try:
                snapshots[kind] = await runtime.snapshot()
            except Exception as exc:  # noqa: BLE001 - an unknown answer, never a dead one
                log.warning("runtime probe failed", runtime=kind, error=str(exc))
                snapshots[kind] = None
        async with trio.open_nursery() as nursery:
            for session in sessions:
                nursery.start_soon(self._observe_one, session, snapshots, stats)
        live_ids = {s.id for s in sessions}
        for stale in set(self._seen_activity) - live_ids:
            del self._seen_activity[stale]
        self.last = stats
        return stats

    async def _observe_one(
        self, session: Session, snapshots: dict[str, dict[str, PaneState] | None], stats: ObserveStats
    ) -> None:
        slog = log.bind(session=session.id)
        try:
            async with self.limiter:
                with trio.move_on_after(self.service.config().runtime.probe_timeout * 2):
                    await self._observe(session, snapshots, stats)
        except Exception:
            slog.exception("observing the session failed")

    async def _observe(
        self, session: Session, snapshots: dict[str, dict[str, PaneState] | None], stats: ObserveStats
    ) -> None:
        service = self.service
        if session.state == "spawning":
            if session.id not in service.spawning and session.runtime is None:
                # aod stopped in the middle of this spawn; cleanup removes what it left.
                await service.set_state(
                    session.id,
                    "errored",
                    f"spawn interrupted ({session.reason}); `aoctl cleanup` removes what it left",
                )
            return
        if session.runtime is None:
            return
        runtime = service.runtime_for(session.runtime.kind)
        snapshot = snapshots.get(session.runtime.kind)
        liveness = runtime.liveness(session.runtime, snapshot)
        if liveness == "unknown":
            return
        if liveness == "dead":
            pane = (snapshot or {}).get(session.runtime.name)
            status = pane.exit_status if pane else None
            detail = f"agent exited (status {status})" if status is not None else "agent is gone"
            await self._record(session, ScreenReading("exited", detail))
            return
        plugin, _settings = service.agent(session.agent)
        ctx = LaunchContext(
            session_id=session.id,
            workspace=Path(session.workspace),
            prompt="",
            home=service.home,
        )
        pane = (snapshot or {}).get(session.runtime.name)
        pid = pane.pid if pane else session.runtime.pid
        native = await trio.to_thread.run_sync(plugin.read_native, ctx, pid)
        activity_at = pane.activity_at if pane else None
        seen = self._seen_activity.get(session.id)
        screen_changed = (
            seen is None
            or activity_at is None
            or seen[0] != activity_at
            # tmux stamps activity in whole seconds: output later in the second we captured in
            # leaves the stamp unchanged, so look again while the stamp is that recent.
            or activity_at >= seen[1] - 1.0
            or session.activity in ("unknown", "exited")
        )
        on_screen = None
        if screen_changed:
            stats.captures += 1
            screen = await runtime.capture(session.runtime, CAPTURE_LINES)
            self._seen_activity[session.id] = (activity_at, time.time())
            on_screen = plugin.read_screen(screen)
        # The agent's own records are the better witness of work, but some agents ask for
        # approval only on screen (Codex records no prompts): a question or a blocking dialog
        # on screen wins over a transcript that says "working".
        if on_screen is not None and on_screen.activity in ("waiting_input", "blocked"):
            reading = on_screen
        elif native is not None:
            reading = native
        else:
            reading = on_screen
        if reading is not None:
            if reading.activity == "idle" and session.delivered_seq == 0:
                reading = ScreenReading("ready", reading.detail)
            await self._record(session, reading)
        if await service.store.pending_deliveries(session.id):
            service.kick_delivery(session.id)

    async def _record(self, session: Session, reading: ScreenReading) -> None:
        if reading.activity == session.activity and (reading.activity != "exited" or session.reason == reading.detail):
            return

        def change(current: Session) -> Session | None:
            if current.state in ENDED_STATES or current.runtime != session.runtime:
                return None  # killed or restored meanwhile: this observation is stale
            reason = reading.detail if reading.activity == "exited" else current.reason
            return msgspec.structs.replace(
                current, activity=reading.activity, activity_at=utc_now_iso(), reason=reason
            )

        updated = await self.service.update(session.id, change)
        if updated.activity == reading.activity:
            self.service.bus.publish(
                "session.activity", session=session.id, activity=reading.activity, detail=reading.detail
            )
