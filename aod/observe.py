"""The tick's look at every session: liveness, activity, queued messages.

Cost per tick: ONE runtime probe per runtime server in use (tmux: one `list-panes -a` per socket
that sessions were started on; normally one), plus one
`capture-pane` per pane whose output changed since the last tick, plus the agents' own files
(read incrementally in worker threads). Never one probe per session per tick.

Liveness has three answers: a probe that failed or timed out is `unknown` and changes nothing;
only a definite "not there" or "exited" marks an agent `exited` (LESSONS.md).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from pathlib import Path

import msgspec
import structlog
import trio

from aod.activity import Signals, judge, report_reading, screen_evidence
from aod.errors import storage_error
from aod.events import utc_now_iso
from aod.model import Session
from aod.plugins.agent import Agent, LaunchContext, ScreenReading
from aod.facts import Observation, PRFacts
from aod.branch_sync import BranchSync
from aod.plugins.runtime import PaneState
from aod.metering import Meter, tz_local
from aod.proc import COUNTER
from aod.procinfo import State, foreground
from aod.usage.limits import find_usage_limit
from aod.projects import ResolvedProject
from aod.reactor import Reactor, epoch
from aod.sessions import ENDED_STATES, Sessions
from aod.store import TickRead
from aod.checkpoints import Checkpoints
from aod.overlap import is_finished_turn
from aod.overlap_watch import OverlapWatch

if TYPE_CHECKING:
    from aod.forges import ForgeService

log = structlog.get_logger()


@dataclass(frozen=True)
class _PRSeen:
    """What the project's forge said of one session's PR this tick."""

    facts: PRFacts | None = None
    known_without_pr: bool = False
    """The forge answered, and there is no PR for the branch (not: the forge did not answer)."""

@dataclass(frozen=True)
class _Read:
    """What the tick read of one session's files before looking at it."""

    stored: TickRead | None
    native: ScreenReading | None = None
    committed: float | None = None
    process: State | None = None
    """What the agent's process does (`procinfo.foreground`), read where its screen said
    nothing definite."""


@dataclass(frozen=True)
class _Look:
    """Everything gathered for one session before its look: the forge's word on its PR, its
    files, and whether its screen was captured this tick (it moved)."""

    pr: _PRSeen = _PRSeen()
    read: _Read | None = None
    captured: bool = False


CAPTURE_LINES = 40
_DIGITS = re.compile(r"[0-9]")
USAGE_LIMIT_LINES = 15
UNKNOWN_RESET_WAIT = 3600.0
PROCESS_RECHECK = 15.0
"""Seconds between two looks at the process of an agent whose pane did not move."""
UNREAPED_GRACE = 10.0
"""Seconds a dead pane may go without an exit status before the agent counts as gone."""


@dataclass
class ObserveStats:
    recorded: int = 0
    """Session records in the state dir, ended ones included (what `daemon.status` reports)."""
    sessions: int = 0
    probes: int = 0
    captures: int = 0
    subprocesses: int = 0
    """Subprocesses the tick started (probes, captures, agents' helpers); actions not included."""
    forge_requests: int = 0


@dataclass
class Observer:
    service: Sessions
    reactor: Reactor | None = None
    forges: ForgeService | None = None
    limiter: trio.CapacityLimiter = field(default_factory=lambda: trio.CapacityLimiter(8))
    # pane activity time at the last capture, per session: unchanged panes are not captured again
    _seen_activity: dict[str, tuple[float | None, float]] = field(default_factory=dict)
    last: ObserveStats = field(default_factory=ObserveStats)
    # Hook reports from before this aod started may have missed events (a Stop hook that ran
    # while aod was down): they count as stale, a fallback only.
    started_at: float = field(default_factory=time.time)
    _dead_without_status: dict[str, float] = field(default_factory=dict)
    meter: Meter | None = None
    # The usage-limit message last seen at the bottom of each session's screen, and when it lifts.
    _usage_limit: dict[str, tuple[str, float]] = field(default_factory=dict)
    # Caches of the last look at each screen: the plugin's reading, and (digest, when it changed).
    _screen: dict[str, ScreenReading] = field(default_factory=dict)
    _content: dict[str, tuple[int, float]] = field(default_factory=dict)
    # What each agent's process was doing at the last look (`procinfo.foreground`), and when.
    _process: dict[str, tuple[State | None, float]] = field(default_factory=dict)
    # Where each workspace's reflog is (`last_commit_time`), by workspace path.
    _reflogs: dict[str, str] = field(default_factory=dict)
    _branches: BranchSync | None = None
    # issue 19: overlap warnings (each worktree's changed paths, a cache) and per-turn checkpoints
    overlaps: OverlapWatch | None = None
    checkpoints: Checkpoints | None = None

    async def tick(self) -> ObserveStats:
        stats = ObserveStats()
        started = COUNTER.started
        everything = await self.service.store.list_sessions()
        sessions = [s for s in everything if s.state not in ENDED_STATES]
        stats.recorded, stats.sessions = len(everything), len(sessions)
        # One probe per server in use: a session is judged on the server it was started on,
        # which is not the configured one any more once `runtime.tmux_socket` changed.
        servers = {key for s in sessions if s.runtime is not None and (key := _server_key_or_none(self.service, s))}
        snapshots: Snapshots = {}
        for kind, server in sorted(servers):
            runtime = self.service.runtime_for(kind)
            stats.probes += 1
            try:
                snapshots[(kind, server)] = await runtime.snapshot(server)
            except Exception as exc:  # noqa: BLE001 - an unknown answer, never a dead one
                log.warning("runtime probe failed", runtime=kind, server=server, error=str(exc))
                snapshots[(kind, server)] = None
        by_project: dict[str, list[Session]] = {}
        for session in sessions:
            by_project.setdefault(session.project, []).append(session)
        # Projects side by side: one slow forge delays only its own project's sessions.
        async with trio.open_nursery() as nursery:
            for project, group in by_project.items():
                nursery.start_soon(self._observe_project, project, group, snapshots, stats)
        live_ids = {s.id for s in sessions}
        for stale in set(self._seen_activity) - live_ids:
            del self._seen_activity[stale]
        for stale in set(self._dead_without_status) - live_ids:
            del self._dead_without_status[stale]
        for cache in (self._usage_limit, self._screen, self._content, self._process):
            for stale in set(cache) - live_ids:
                del cache[stale]
        for stale in set(self._reflogs) - {s.workspace for s in sessions}:
            self._reflogs.pop(stale, None)
        if self.forges is not None:
            self.forges.forget_except(live_ids)
        if self.overlaps is not None:
            self.overlaps.forget_except(live_ids, {s.workspace for s in sessions})
        if self.reactor is not None:
            await self.reactor.finish_left_over(s for s in everything if s.state in ENDED_STATES)
        await self._reap(live_ids)
        stats.subprocesses = COUNTER.started - started
        self.last = stats
        return stats

    async def _reap(self, live_ids: set[str]) -> None:
        """Runtimes that keep something besides the agent (issue 21: a container per session)
        remove what belongs to sessions no longer live, the leftovers of a kill -9 included."""
        service = self.service

        async def fresh() -> set[str]:
            return {s.id for s in await service.store.list_sessions() if s.state not in ENDED_STATES} | set(service.spawning)

        for kind, runtime in list(service.plugins.runtimes.items()):
            reap = getattr(runtime, "reap", None)
            if reap is None:
                continue
            try:
                await reap(live_ids | set(service.spawning), fresh)
            except Exception as exc:  # noqa: BLE001 - tried again next tick
                log.warning("reaping the runtime's leftovers failed", runtime=kind, error=str(exc))

    async def _observe_project(
        self, name: str, group: list[Session], snapshots: Snapshots, stats: ObserveStats
    ) -> None:
        """ONE forge look at the project's PRs, then each of its sessions."""
        facts: dict[str, PRFacts | None] | None = None
        project: ResolvedProject | None = None
        if self.forges is not None:
            try:
                project = await self.service.project(name)
            except Exception as exc:  # noqa: BLE001 - a removed project: its sessions still get looked at
                log.info("project not resolvable; no PR facts", project=name, error=str(exc))
            if project is not None:
                facts, requests = await self.forges.facts_for(project, group)
                stats.forge_requests += requests
        # What every session's look needs from disk and screen, in O(1) worker-thread jobs and
        # tmux clients for the whole project rather than several per session.
        looked_at = await self._capture_changed(group, snapshots, stats)
        reads = await self._read_files(group, snapshots, looked_at)
        observed: dict[str, Session] = {}

        def look_for(session: Session) -> _Look:
            seen = _PRSeen(
                facts=facts.get(session.id) if facts else None,
                known_without_pr=facts is not None and session.id in facts and facts[session.id] is None,
            )
            return _Look(seen, reads.get(session.id), session.id in looked_at)

        # As many workers as the limiter lets look at once, each taking the next session: the
        # same concurrency as a task per session, without 1,000 tasks queueing on the limiter.
        queue = iter(group)

        async def worker() -> None:
            for session in queue:
                await self._observe_one(session, snapshots, stats, look_for(session), observed)

        async with trio.open_nursery() as nursery:
            for _ in range(min(len(group), int(self.limiter.total_tokens))):
                nursery.start_soon(worker)
        if self.overlaps is not None:  # issue 19: who changes the same files (aod/overlap_watch.py)
            await self.overlaps.step(name, project, [observed.get(s.id, s) for s in group], looked_at)
        if project is not None and self.forges is not None:
            # `push: auto` / `open_pr: auto`: one look at the project's branches, then the due tries.
            if self._branches is None:
                self._branches = BranchSync(self.service, self.forges)
            await self._branches.tick(project, [observed.get(s.id, s) for s in group], facts)

    async def _read_files(self, group: list[Session], snapshots: Snapshots, looked_at: set[str]) -> dict[str, _Read]:
        """Each session's ledger and outbox (one store job), and its agent's own files, its
        worktree's last commit and what its process does (one worker-thread job), for the whole
        group."""
        try:
            stored = await self.service.store.tick_reads([s.id for s in group])
        except Exception as exc:
            if storage_error(exc) is None:
                raise
            log.warning("reading the sessions' files failed; each is read alone", error=str(exc))
            stored = {}
        asks: list[tuple[str, Agent, LaunchContext, int | None, str | None, str]] = []
        now = time.monotonic()
        reused: set[str] = set()
        for session in group:
            if session.runtime is None or session.state == "spawning":
                continue
            key = _server_key_or_none(self.service, session)
            try:
                plugin, _settings = self.service.agent(session.agent)
            except Exception as exc:  # noqa: BLE001 - its agent plugin is unusable: only this session is not read
                log.warning("the session's agent is not available; its files are not read", session=session.id, agent=session.agent, error=str(exc))
                continue
            if key is None:
                continue
            pane = (snapshots.get(key) or {}).get(session.runtime.name)
            pid = pane.pid if pane else session.runtime.pid
            on_screen = self._screen.get(session.id)
            tty, reuse = None, False
            # What the process does counts only where the screen says nothing definite; on a
            # pane that did not move it is looked at again only every PROCESS_RECHECK seconds
            # (a program that starts work without input or output is rare), so a fleet of
            # quiet agents costs no /proc reads most ticks.
            if on_screen is None or on_screen.activity == "unknown" or on_screen.guess:
                known = self._process.get(session.id)
                if known is None or session.id in looked_at or now - known[1] >= PROCESS_RECHECK:
                    tty = pane.tty if pane else None
                else:
                    reuse = True
            if reuse:
                reused.add(session.id)
            asks.append((session.id, plugin, self.service.agent_context(session), pid, tty, session.workspace))

        def read_local() -> dict[str, tuple[ScreenReading | None, float | None, State | None]]:
            local = {}
            for session_id, plugin, ctx, pid, tty, workspace in asks:
                try:
                    native = plugin.read_native(ctx, pid)
                except Exception:  # noqa: BLE001 - one agent's unreadable files must not hide the others'
                    log.exception("reading the agent's own files failed", session=session_id)
                    native = None
                committed = last_commit_time(Path(workspace), self._reflogs) if workspace else None
                local[session_id] = (native, committed, foreground(pid, tty) if tty else None)
            return local

        local = await trio.to_thread.run_sync(read_local) if asks else {}
        for session_id, _plugin, _ctx, _pid, tty, _workspace in asks:
            if tty:
                self._process[session_id] = (local[session_id][2], now)
            elif session_id in reused:
                local[session_id] = (*local[session_id][:2], self._process[session_id][0])
        return {
            s.id: _Read(stored.get(s.id), *local.get(s.id, (None, None, None)))
            for s in group
            if s.id in stored or s.id in local
        }

    async def _capture_changed(
        self, group: list[Session], snapshots: Snapshots, stats: ObserveStats
    ) -> set[str]:
        """Capture the live panes whose output moved since their last capture (and those never
        captured), one tmux client per server for all of them, and read what they show; return
        the sessions looked at. A pane whose output did not move is not captured again, whatever
        its agent's reading: its last reading is kept (`_screen`), and an agent that prints
        nothing costs nothing."""
        wanted: dict[tuple[str, str], list[tuple[Session, PaneState | None]]] = {}
        for session in group:
            if session.runtime is None or session.state == "spawning":
                continue
            key = _server_key_or_none(self.service, session)
            if key is None:
                continue  # its runtime plugin is not available: unknown (the session's own look says why)
            snapshot = snapshots.get(key)
            if self.service.runtime_for(session.runtime.kind).liveness(session.runtime, snapshot) != "alive":
                continue
            pane = (snapshot or {}).get(session.runtime.name)
            if self._screen_moved(session.id, pane) or session.id not in self._screen:
                wanted.setdefault(key, []).append((session, pane))
        looked_at: set[str] = set()
        now = time.time()
        for (kind, _server), items in wanted.items():
            runtime = self.service.runtime_for(kind)
            handles = [s.runtime for s, _pane in items if s.runtime is not None]
            try:
                captured = await runtime.capture_many(handles, CAPTURE_LINES)
            except Exception as exc:  # noqa: BLE001 - not looked at this tick; the last reading stays
                log.warning("capturing the screens failed", runtime=kind, panes=len(handles), error=str(exc))
                continue
            for session, pane in items:
                assert session.runtime is not None
                screen = captured.get(session.runtime.name)
                if screen is None:
                    continue  # the pane went away or refused: looked at again next tick
                stats.captures += 1
                looked_at.add(session.id)
                activity_at = pane.activity_at if pane else None
                self._seen_activity[session.id] = (activity_at, now)
                try:
                    plugin, _settings = self.service.agent(session.agent)
                    self._screen[session.id] = plugin.read_screen(screen)
                except Exception as exc:  # noqa: BLE001 - this session's reading only
                    log.warning("reading the session's screen failed", session=session.id, agent=session.agent, error=str(exc))
                    continue
                self._note_content(session.id, screen, activity_at, now)
                self._note_usage_limit(session.id, screen)
        return looked_at

    def _screen_moved(self, session_id: str, pane: PaneState | None) -> bool:
        activity_at = pane.activity_at if pane else None
        seen = self._seen_activity.get(session_id)
        return (
            seen is None
            or activity_at is None
            or seen[0] != activity_at
            # tmux stamps activity in whole seconds: output later in the second we captured in
            # leaves the stamp unchanged, so look again while the stamp is that recent.
            or activity_at >= seen[1] - 1.0
        )

    async def _observe_one(
        self,
        session: Session,
        snapshots: Snapshots,
        stats: ObserveStats,
        look: _Look | None = None,
        observed: dict[str, Session] | None = None,
    ) -> None:
        slog = log.bind(session=session.id)
        try:
            async with self.limiter:
                with trio.move_on_after(self.service.config().runtime.probe_timeout * 2):
                    session = await self._observe(session, snapshots, stats, look or _Look())
            if observed is not None:
                observed[session.id] = session
        except Exception as exc:
            if (full := storage_error(exc)) is not None:
                # Not a bug: nothing of this look was recorded, nor acted on (intents come first).
                slog.error("the disk refused a write; this session's look is not recorded", error=str(full))
            else:
                slog.exception("observing the session failed")

    async def _observe(self, session: Session, snapshots: Snapshots, stats: ObserveStats, look: _Look) -> Session:
        service = self.service
        pr, read = look.pr, look.read
        if session.state == "spawning":
            if session.id not in service.spawning and session.runtime is None:
                # aod stopped in the middle of this spawn; cleanup removes what it left. Judged on
                # the record as it is now, not as this tick read it: the spawn may have finished.
                def interrupted(current: Session) -> Session | None:
                    if current.state != "spawning" or current.runtime is not None or current.id in service.spawning:
                        return None
                    return msgspec.structs.replace(
                        current,
                        state="errored",
                        reason=f"spawn interrupted ({current.reason}); `aoctl cleanup` removes what it left",
                        since=utc_now_iso(),
                    )

                updated = await service.update(session.id, interrupted)
                if updated.state == "errored":
                    service.bus.publish("session.updated", session=session.id, state="errored", reason=updated.reason)
                return updated
            return session
        if session.runtime is None:
            return session
        runtime = service.runtime_for(session.runtime.kind)
        snapshot = snapshots.get(_server_key(service, session))
        liveness = runtime.liveness(session.runtime, snapshot)
        pane = (snapshot or {}).get(session.runtime.name)
        exit_status = pane.exit_status if pane and liveness == "dead" else None
        if liveness == "dead" and pane is not None and pane.dead and exit_status is None:
            # tmux has not reaped the agent yet (the runtime nudged it): its status is one tick
            # away, and it decides done (0) or errored. Wait a little for it, not forever.
            first = self._dead_without_status.setdefault(session.id, time.monotonic())
            if time.monotonic() - first < UNREAPED_GRACE:
                liveness = "unknown"
        else:
            self._dead_without_status.pop(session.id, None)
        if liveness == "dead":
            detail = f"agent exited (status {exit_status})" if exit_status is not None else "agent is gone"
            session = await self._record(session, ScreenReading("exited", detail))
        elif liveness == "alive":
            reading = await self._activity(session, pane, look)
            if reading is not None:
                if reading.activity == "idle" and session.delivered_seq == 0:
                    reading = ScreenReading("ready", reading.detail)
                session = await self._record(session, reading)
            pending = read.stored.pending if read is not None and read.stored is not None else None
            if pending if pending is not None else await service.store.pending_deliveries(session.id):
                service.kick_delivery(session.id)
        if self.reactor is None or session.state in ENDED_STATES:
            return session
        reading = None
        if self.meter is not None:
            try:
                reading = await self.meter.read(session)
            except Exception:  # noqa: BLE001 - metering must not stop the session's tick
                log.exception("reading the session's usage failed", session=session.id)
        limit = self._usage_limit.get(session.id)
        observation = Observation(
            usage_limit_until=limit[1] if limit else None,
            over_budget=reading.over_budget if reading else None,
            budget_key=reading.budget_key if reading else None,
            pr=pr.facts,
            liveness=liveness,
            activity=session.activity,
            activity_since=epoch(session.activity_at) if session.activity_at else None,
            exit_status=exit_status,
            last_progress=await self._last_progress(session, pane, read),
            commands=tuple(session.commands),
            undelivered=_newest_undelivered(session),
            **_reported_question(session, time.time()),
        )
        ledger = read.stored.ledger if read is not None and read.stored is not None else None
        return await self.reactor.step(session, observation, ledger)

    def _note_usage_limit(self, session_id: str, screen: str) -> None:
        """The plan's usage limit, from the bottom of the screen (an old message scrolled up is
        not a limit now). Without a reset time, aod looks again an hour after it first saw it."""
        bottom = "\n".join(screen.splitlines()[-USAGE_LIMIT_LINES:])
        found = find_usage_limit(bottom, now=time.time(), tz=tz_local())
        if found is None:
            self._usage_limit.pop(session_id, None)
            return
        known = self._usage_limit.get(session_id)
        if known is not None and known[0] == found.text:
            return  # the same message: its reset time stays (a relative one must not move on)
        reset_at = found.reset_at if found.reset_at is not None else time.time() + UNKNOWN_RESET_WAIT
        self._usage_limit[session_id] = (found.text, reset_at)

    async def _last_progress(self, session: Session, pane: PaneState | None, read: _Read | None) -> float | None:
        """The newest sign of progress: a change of what the screen shows, an activity change,
        or a commit (the worktree's HEAD reflog grows on each; one stat, no subprocess)."""
        candidates = [epoch(session.activity_at)] if session.activity_at else []
        content = self._content.get(session.id)
        if content is not None:
            candidates.append(content[1])
        elif pane is not None and pane.activity_at is not None:
            candidates.append(pane.activity_at)
        if session.workspace:
            committed = (
                read.committed if read is not None else await trio.to_thread.run_sync(last_commit_time, Path(session.workspace))
            )
            if committed is not None:
                candidates.append(committed)
        return max(candidates) if candidates else None

    async def _activity(self, session: Session, pane: PaneState | None, look: _Look) -> ScreenReading | None:
        assert session.runtime is not None
        pid = pane.pid if pane else session.runtime.pid
        on_screen = self._screen.get(session.id)
        if look.read is not None:
            native, process = look.read.native, look.read.process
        else:  # the group's reads failed: this session's, alone
            plugin, _settings = self.service.agent(session.agent)
            native = await trio.to_thread.run_sync(plugin.read_native, self.service.agent_context(session), pid)
            process = None
            if on_screen is None or on_screen.activity == "unknown" or on_screen.guess:
                process = foreground(pid, pane.tty if pane else None)
        now = time.time()
        changed_at = self._content.get(session.id, (0, now))[1]
        hook = ScreenReading(session.hook_activity, session.hook_detail) if session.hook_activity else None
        signals = Signals(
            screen=screen_evidence(on_screen, looked_now=look.captured),
            native=native,
            hook=hook,
            hook_age=_hook_age(session.hook_at, now, self.started_at),
            process=process,
            quiet_for=now - changed_at,
            report=standing_report(session, now),
        )
        return judge(signals)

    def _note_content(self, session_id: str, screen: str, activity_at: float | None, now: float) -> None:
        """When what the screen shows last changed. Digits are left out: a clock or an elapsed
        time ticking on screen is not progress, and a program redrawing the same screen is not
        either (tmux stamps both as activity)."""
        digest = hash(_DIGITS.sub("", screen))
        known = self._content.get(session_id)
        if known is None:
            self._content[session_id] = (digest, activity_at if activity_at is not None else now)
        elif known[0] != digest:
            self._content[session_id] = (digest, now)

    async def _record(self, session: Session, reading: ScreenReading) -> Session:
        if reading.activity == session.activity:
            return session

        def change(current: Session) -> Session | None:
            if current.state in ENDED_STATES or current.runtime != session.runtime:
                return None  # killed or restored meanwhile: this observation is stale
            return msgspec.structs.replace(current, activity=reading.activity, activity_at=utc_now_iso())

        updated = await self.service.update(session.id, change)
        if updated.activity == reading.activity:
            self.service.bus.publish(
                "session.activity", session=session.id, activity=reading.activity, detail=reading.detail
            )
            if self.checkpoints is not None and is_finished_turn(session.activity, reading.activity):
                self.checkpoints.turn_finished(updated)
        return updated


Snapshots = dict[tuple[str, str], dict[str, PaneState] | None]
"""(runtime kind, server) -> what that server's one probe saw this tick (None: it did not say)."""


def _server_key_or_none(service: Sessions, session: Session) -> tuple[str, str] | None:
    """`_server_key`, or None when the session's runtime is not available in this aod (a
    plugin from another package uninstalled or unusable): its session alone goes unlooked-at."""
    try:
        return _server_key(service, session)
    except Exception as exc:  # noqa: BLE001
        log.warning("the session's runtime is not available", session=session.id, runtime=session.runtime.kind if session.runtime else None, error=str(exc))
        return None


def _server_key(service: Sessions, session: Session) -> tuple[str, str]:
    assert session.runtime is not None
    return session.runtime.kind, service.runtime_for(session.runtime.kind).server_of(session.runtime)


def last_commit_time(workspace: Path, reflogs: dict[str, str] | None = None) -> float | None:
    """When HEAD last moved in `workspace` (a commit, a reset, a checkout), from the mtime of its
    reflog: `.git/logs/HEAD` in a clone, `<gitdir>/logs/HEAD` for a worktree (whose `.git` is a
    file naming its gitdir). None when there is no reflog to look at.

    `reflogs` (workspace -> its reflog's path) remembers where the reflog was found: a tick then
    costs one stat per workspace, not a read of its `.git` file too. A remembered path that is
    gone is looked for again."""
    if reflogs is not None:
        known = reflogs.get(str(workspace))
        if known is not None:
            try:
                return os.stat(known).st_mtime
            except OSError:
                reflogs.pop(str(workspace), None)
    dot_git = workspace / ".git"
    try:
        if dot_git.is_file():
            text = dot_git.read_text(errors="replace").strip()
            if not text.startswith("gitdir:"):
                return None
            gitdir = Path(text.removeprefix("gitdir:").strip())
            if not gitdir.is_absolute():
                gitdir = workspace / gitdir
        else:
            gitdir = dot_git
        reflog = gitdir / "logs" / "HEAD"
        mtime = reflog.stat().st_mtime
    except OSError:
        return None
    if reflogs is not None:
        reflogs[str(workspace)] = str(reflog)
    return mtime


def _newest_undelivered(session: Session) -> tuple[int, str, str] | None:
    if not session.undelivered:
        return None
    newest = session.undelivered[-1]
    return newest.seq, newest.source, newest.detail


def standing_report(session: Session, now: float) -> ScreenReading | None:
    """The agent's own report, while it stands (aod/activity.py, report_reading)."""
    report = session.report
    if report is None:
        return None
    at = epoch(report.at) if report.at else None
    hook_at = epoch(session.hook_at) if session.hook_at else None
    return report_reading(
        report.status, report.message,
        age=None if at is None else now - at,
        hook_spoke_since=hook_at is not None and at is not None and hook_at > at,
    )


def _reported_question(session: Session, now: float) -> dict[str, Any]:
    """The lifecycle's `question` and `reported_at`: the agent's words while its report of being
    blocked or asking stands."""
    report = session.report
    if report is None or report.status not in ("blocked", "needs_input") or not report.message:
        return {}
    if standing_report(session, now) is None:
        return {}
    return {"question": report.message, "reported_at": epoch(report.at) if report.at else None}


def _hook_age(hook_at: str, now: float, started_at: float) -> float | None:
    """Seconds since the agent's hook last reported; infinite (stale) for a report older than
    this aod, which cannot know what the agent's hooks said while it was down."""
    if not hook_at:
        return None
    reported = epoch(hook_at)
    return now - reported if reported >= started_at else float("inf")
