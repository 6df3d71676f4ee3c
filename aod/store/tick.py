"""What one tick reads of every session's files besides its record, in ONE operation: the
reaction ledger and how many messages wait in the outbox. A tick that asked per session and per
file spent most of its time handing small jobs to worker threads and back (docs/performance.md).

May import: aod.store.state, aod.store.session_files, aod.store.outbox, aod.store.errors, aod.model.
"""

from __future__ import annotations

from dataclasses import dataclass

from aod.model import SessionLedger
from aod.store.errors import NoSuchSession
from aod.store.outbox import Outbox
from aod.store.session_files import Ledgers
from aod.store.state import StateDir, operation


@dataclass(frozen=True)
class TickRead:
    """One session's files as the tick read them (`Store.tick_reads`)."""

    ledger: SessionLedger
    pending: int
    """Messages waiting in the session's outbox."""


class TickReads:
    def __init__(self, state: StateDir) -> None:
        self._ledgers = Ledgers(state)
        self._outbox = Outbox(state)

    @operation("tick_reads")
    def read(self, session_ids: list[str]) -> dict[str, TickRead]:
        """Each session's ledger and outbox count; a session missing from the answer (archived
        meanwhile, or not an id) is read alone by the tick, or not at all."""
        reads = {}
        for session_id in session_ids:
            try:
                reads[session_id] = TickRead(self._ledgers.get(session_id), len(self._outbox.pending(session_id)))
            except (NoSuchSession, ValueError):
                continue
        return reads
