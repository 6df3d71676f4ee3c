"""Port blocks: one allocator for every project's sessions (`ports.json`, compare-and-set).

A block is held while its session's directory is in sessions/: archiving (cleanup) or giving
up a reserved id frees it, and a crash between any two steps leaves nothing held by a session
that is gone (such entries are dropped at the next allocation). The free block is found by a
pure function.

May import: aod.store.state, aod.store.sessions, aod.store.errors, aod.model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from aod.model import PortBlock, PortBlocks, validate_session_id
from aod.store.errors import NoFreePorts
from aod.store.sessions import SessionRecords
from aod.store.state import StateDir, operation

PORTS_FILE: Final = "ports.json"
HIGHEST_PORT: Final = 65535


def free_block(held: Iterable[PortBlock], first_port: int, size: int) -> int:
    """The lowest first_port + k * size whose `size` ports overlap no block in `held`."""
    taken = sorted((block.first, block.first + block.size) for block in held)
    candidate = first_port
    while candidate + size - 1 <= HIGHEST_PORT:
        clash = next((end for start, end in taken if start < candidate + size and candidate < end), None)
        if clash is None:
            return candidate
        candidate = first_port + -(-(clash - first_port) // size) * size  # the next block boundary after it
    raise NoFreePorts(
        f"no free block of {size} ports between {first_port} and {HIGHEST_PORT}: every one is held by a "
        "session; `aoctl cleanup` frees those of ended sessions (or lower defaults.port_block)"
    )


class PortAllocator:
    def __init__(self, state: StateDir) -> None:
        self.state = state
        self.sessions = SessionRecords(state)  # the records' own blocks, when ports.json is not there

    @operation("allocate_ports")
    def allocate(self, session_id: str, first_port: int, size: int) -> int:
        """The first port of a block of `size` ports held by `session_id` alone among the sessions
        on disk: the lowest free one of first_port + k * size. Asking again for the same session
        gives the same block. Raises NoFreePorts when none fits below 65536."""
        validate_session_id(session_id)
        if size < 1 or first_port < 1:
            raise ValueError(f"bad port block: {size} ports from {first_port}")
        path = self.state.root / PORTS_FILE
        with self.state.lock_for("ports"):
            stored = self.state.load(path, PortBlocks)
            present = set(self.state.session_ids())
            # No allocator yet (or it was unreadable): the blocks sessions already have are held.
            held = dict(stored.blocks) if stored is not None else self._blocks_in_records(size)
            held = {sid: block for sid, block in held.items() if sid in present}
            mine = held.get(session_id)
            if mine is None:
                mine = PortBlock(first=free_block(held.values(), first_port, size), size=size)
                held[session_id] = mine
            new = PortBlocks(blocks=dict(sorted(held.items())))
            if stored is None or new.blocks != stored.blocks:
                self.state.compare_and_replace(path, new, "ports", stored.rev if stored else 0)
            return mine.first

    def _blocks_in_records(self, size: int) -> dict[str, PortBlock]:
        held = {}
        for session_id in self.state.session_ids():
            session = self.sessions.get(session_id)
            if session is not None and session.port_base > 0:
                held[session_id] = PortBlock(first=session.port_base, size=size)
        return held
