"""The outbox's delivery workers: messages queued on disk reach each agent in order, one in flight
per session, each submitted once or told to a person as not delivered.

    queued (sessions/<id>/outbox/) → wait until the agent is ready → journal `delivery.started`
      → deliver (aod/delivery.py) → journal `delivery.done` → removed from the outbox

A message is never shown as delivered without evidence (aod/delivery.py). An attempt without
proof is counted on the queued message and tried again after a pause — pressing Enter again
when our text still sits in the input, never pasting a second copy of it — and after
MAX_ATTEMPTS the message is given up: `delivery.failed` in the journal and on the record
(`undelivered`), from which the lifecycle raises `delivery-failed` and a person is told once.

After a crash (`delivery.started` in the journal, no `delivery.done`), the restarted aod first
looks for the message: still in the input (Enter only), in the conversation or the agent's own
transcript (done, not sent again), or nowhere (pasted again).

A message queued for a session that is killed ends as "not delivered: the session was killed"
in the journal: an expected end, never an aod error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import msgspec
import structlog
import trio

from aod.activity import Signals, ready_for_a_message
from aod.delivery import DeliveryResult, deliver, needles, wait_until_ready
from aod.events import EventBus, utc_now_iso
from aod.failpoints import failpoint
from aod.model import Delivery, Session, Undelivered
from aod.plugins.agent import Agent, LaunchContext
from aod.plugins.runtime import Look, Runtime, RuntimeError_
from aod.proc import ToolMissing, ToolTimeout
from aod.procinfo import foreground, terminal_of
from aod.store import NoSuchSession, Store



class Sessions(Protocol):
    """What the workers need of the session core (aod/sessions.py), which owns them."""

    store: Store
    bus: EventBus
    home: Path
    nursery: trio.Nursery | None

    def agent(self, name: str) -> tuple[Agent, Any]: ...

    def runtime_for(self, kind: str) -> Runtime: ...

    def ready_timeout(self, agent_name: str) -> float: ...

    def agent_context(self, session: Session) -> LaunchContext: ...

    async def update(self, session_id: str, change: Callable[[Session], Session | None]) -> Session: ...

log = structlog.get_logger()

MAX_ATTEMPTS = 3
"""Attempts without proof before a message is given up and a person is told."""
RETRY_PAUSE = 2.0
"""Seconds before the second attempt; doubled for each one after."""
KEEP_UNDELIVERED = 20
ASKING = frozenset({"waiting_input", "blocked"})
STABLE_FOR = 0.3
"""Seconds a ready screen must hold before a message is pasted."""
ENDED = frozenset({"killed", "errored", "done", "merged", "closed", "archived"})
# A pane that vanished, a tmux that timed out: the outcome of that attempt is unknown, the
# message stays queued.
EXPECTED_FAILURES: tuple[type[BaseException], ...] = (RuntimeError_, ToolMissing, ToolTimeout, OSError)


@dataclass(eq=False)
class Outbox:
    service: Sessions
    _delivering: set[str] = field(default_factory=set)
    _finished: dict[str, trio.Event] = field(default_factory=dict)
    """Set when a session's worker stops (what `quiesce` waits for)."""

    @property
    def store(self) -> Store:
        return self.service.store

    # -- queueing ----------------------------------------------------------------------------

    def kick(self, session_id: str) -> None:
        """Make sure a worker drains this session's outbox (at most one per session)."""
        nursery = self.service.nursery
        if nursery is None or session_id in self._delivering:
            return
        self._delivering.add(session_id)
        self._finished[session_id] = trio.Event()
        nursery.start_soon(self._drain, session_id)

    async def quiesce(self, session_id: str, why: str, timeout: float = 10.0) -> None:
        """Before an ended session is archived: its queued messages end as not delivered, and a
        worker still busy with one (its agent was just stopped) is waited for, so nothing is
        written to the session after its last journal entry."""
        await self.cancel_pending(session_id, why)
        finished = self._finished.get(session_id)
        if session_id in self._delivering and finished is not None:
            with trio.move_on_after(timeout):
                await finished.wait()

    async def cancel_pending(self, session_id: str, why: str) -> int:
        """End every queued message of an ended session as not delivered (in the journal)."""
        cancelled = 0
        for item in await self.store.pending_deliveries(session_id):
            # The kill and the session's worker may both get here: the one that removes the
            # message from the outbox says so in the journal.
            if await self.store.complete_delivery(session_id, item.seq):
                await self._journal(session_id, item, "delivery.done", submitted=False, enter_presses=0,
                                    detail=f"not delivered: {why}")
                cancelled += 1
        return cancelled

    # -- the worker ----------------------------------------------------------------------------

    async def _drain(self, session_id: str) -> None:
        slog = log.bind(session=session_id)
        try:
            while True:
                pending = await self.store.pending_deliveries(session_id)
                if not pending:
                    return
                session = await self.store.get_session(session_id)
                if session is None:
                    return
                if session.state in ENDED:
                    await self.cancel_pending(session_id, f"the session is {session.state}")
                    return
                if session.runtime is None:
                    return  # not started yet (or restored later): the queue stays on disk
                try:
                    if not await self._deliver_one(session, pending[0]):
                        return
                except EXPECTED_FAILURES as exc:
                    current = await self.store.get_session(session_id)
                    if current is None or current.state in ENDED or current.runtime != session.runtime:
                        continue  # killed or restored under us: the next round sees it
                    slog.warning("delivery interrupted; the message stays queued and is tried again",
                                 seq=pending[0].seq, error=str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)
                    return
        except NoSuchSession:
            return  # archived meanwhile
        except Exception:
            slog.exception("delivery failed; the message stays queued and is retried next tick")
        finally:
            self._delivering.discard(session_id)
            finished = self._finished.pop(session_id, None)
            if finished is not None:
                finished.set()

    async def _deliver_one(self, session: Session, item: Delivery) -> bool:
        """One attempt at the first queued message. False: leave the queue for a later tick."""
        service = self.service
        slog = log.bind(session=session.id, seq=item.seq)
        assert session.runtime is not None
        handle = session.runtime
        runtime = service.runtime_for(handle.kind)
        plugin, _settings = service.agent(session.agent)
        # A person's own message may answer the agent's question; aod's never does (a reaction
        # pasted into a question would answer it for the person it was meant for).
        from_a_person = item.source == "user"
        # The first message waits until the CLI's start-up sequence is over: some draw their
        # input first and a choice (a model upgrade) a moment later.
        settle = getattr(plugin, "startup_settle", 0.0) if session.delivered_seq == 0 else 0.0
        readiness = await wait_until_ready(
            runtime, handle, self._activity(plugin, session), timeout=service.ready_timeout(session.agent),
            stable_for=max(STABLE_FOR, settle), also=ASKING if from_a_person else frozenset(),
        )
        if readiness != "ready":
            if runtime.liveness(handle, await runtime.snapshot(runtime.server_of(handle))) == "dead":
                slog.info("the agent is gone; the message waits for a restore")
                return False
            if readiness in ASKING and not from_a_person:
                slog.info("the agent waits for a person; the message stays queued", activity=readiness)
                return False
            slog.info("agent not at its prompt; delivering anyway", activity=readiness)
        resuming = item.attempts > 0 or await self._was_started(session.id, item.seq)
        started_at = utc_now_iso()
        await self._journal(session.id, item, "delivery.started", attempt=item.attempts + 1)
        result = await deliver(
            runtime,
            handle,
            item.text,
            read_input=plugin.read_input,
            marker=item.marker,
            resuming=resuming,
            taken_elsewhere=self._transcript_check(plugin, session, item),
            asks=lambda screen: plugin.read_screen(screen).activity in ASKING,
            on_pasted=lambda: failpoint("delivery-pasted"),
        )
        if item.fingerprint:
            await failpoint("reaction-pasted")  # submitted, the outcome not yet recorded
        if result.submitted:
            await self._done(session.id, item, result, started_at)
            return True
        return await self._unverified(session.id, item, result)

    def _activity(self, plugin: Agent, session: Session) -> Callable[[Look, float], str]:
        pid = session.runtime.pid if session.runtime else None
        tty = [None]  # the pane's terminal, looked up once

        def activity(look: Look, quiet: float) -> str:
            screen = plugin.read_screen(look.text)
            process = None
            if screen.activity == "unknown" or screen.guess:
                if tty[0] is None:
                    tty[0] = terminal_of(pid)
                process = foreground(pid, tty[0])
            signals = Signals(screen=screen, process=process, quiet_for=quiet)
            return ready_for_a_message(signals, knows_its_prompt=plugin.reads_its_prompt)

        return activity

    def _transcript_check(self, plugin: Agent, session: Session, item: Delivery) -> Callable[[], Awaitable[bool]] | None:
        saw = getattr(plugin, "saw_message", None)
        if saw is None or not session.workspace:
            return None
        pieces = needles(item.text, item.marker)
        if not pieces:
            return None
        ctx = self.service.agent_context(session)

        async def check() -> bool:
            return bool(await trio.to_thread.run_sync(saw, ctx, pieces[0]))

        return check

    async def _was_started(self, session_id: str, seq: int) -> bool:
        tail = await self.store.journal_tail(session_id, 200)
        return any(e.get("kind") == "delivery.started" and e.get("seq") == seq for e in tail)

    async def _done(self, session_id: str, item: Delivery, result: DeliveryResult, started_at: str) -> None:
        await self._journal(session_id, item, "delivery.done", submitted=True,
                            enter_presses=result.enter_presses, detail=result.detail)
        await self.store.complete_delivery(session_id, item.seq)
        await self.service.update(session_id, lambda s: _after_delivery(s, item.seq, started_at))
        self.service.bus.publish("session.delivered", session=session_id, seq=item.seq, submitted=True)
        log.info("delivered", session=session_id, seq=item.seq, enter_presses=result.enter_presses, detail=result.detail)

    async def _unverified(self, session_id: str, item: Delivery, result: DeliveryResult) -> bool:
        attempts = item.attempts + 1
        await self._journal(session_id, item, "delivery.unverified", attempt=attempts,
                            enter_presses=result.enter_presses, detail=result.detail)
        if attempts < MAX_ATTEMPTS:
            await self.store.note_delivery_attempt(session_id, item.seq, attempts)
            log.info("delivery not verified; trying again", session=session_id, seq=item.seq,
                     attempt=attempts, detail=result.detail)
            await trio.sleep(RETRY_PAUSE * 2 ** (attempts - 1))
            return True
        detail = f"{result.detail}; gave up after {attempts} attempts"
        await self._journal(session_id, item, "delivery.failed", submitted=False,
                            enter_presses=result.enter_presses, detail=detail)
        await self.store.complete_delivery(session_id, item.seq)
        failed = Undelivered(seq=item.seq, source=item.source, detail=detail, at=utc_now_iso())

        def record(s: Session) -> Session:
            return msgspec.structs.replace(
                s, delivered_seq=max(s.delivered_seq, item.seq), undelivered=[*s.undelivered, failed][-KEEP_UNDELIVERED:]
            )

        await self.service.update(session_id, record)
        self.service.bus.publish("session.delivered", session=session_id, seq=item.seq, submitted=False)
        log.warning("message not delivered", session=session_id, seq=item.seq, detail=detail)
        return True

    async def _journal(self, session_id: str, item: Delivery, kind: str, **fields: Any) -> None:
        entry = {"time": utc_now_iso(), "kind": kind, "seq": item.seq, "source": item.source,
                 "fingerprint": item.fingerprint, **fields}
        await self.store.append_journal(session_id, entry)


def _after_delivery(session: Session, seq: int, started_at: str) -> Session:
    """The record once message `seq` reached the agent: a report (done, blocked, a question)
    made before the message went in no longer stands, for the agent has been told something
    since (an answer, a CI failure). One made after it is the agent's answer to the message,
    however long aod took to prove the message arrived. (Both times: aod's clock, same format.)"""
    report = session.report
    if report is not None and report.status != "working" and report.at < started_at:
        report = None
    return msgspec.structs.replace(session, delivered_seq=max(session.delivered_seq, seq), report=report)
