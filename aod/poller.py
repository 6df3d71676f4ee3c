"""The tick: every `poll_interval`, observe every session and react.

For now the tick only reads the session count from disk; the lifecycle work fills in
observation, the pure core, persistence and actions (DESIGN.md §4). What is here already is the
cadence contract: ticks start on a fixed grid, a tick that overruns makes the next ones skip
(never stack), and each tick's timing is recorded for `daemon.status`.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
import trio

from aod.events import utc_now_iso

log = structlog.get_logger()


@dataclass
class TickStats:
    count: int = 0
    skipped: int = 0
    last_started_at: str | None = None
    last_duration: float | None = None
    longest_gap: float = 0.0
    """The longest time between two tick starts since aod started (docs/reliability.md R2:
    at most 2 s under load)."""


class Ticker:
    def __init__(
        self,
        interval: Callable[[], float],
        tick: Callable[[], Awaitable[None]],
    ) -> None:
        self._interval = interval
        self._tick = tick
        self.stats = TickStats()
        self._wake = trio.Event()

    def poke(self) -> None:
        """Run the next tick now (e.g. after the interval changed on reload)."""
        self._wake.set()

    async def run(self) -> None:
        next_at = trio.current_time()
        previous_start: float | None = None
        while True:
            started = trio.current_time()
            started_wall = utc_now_iso()
            if previous_start is not None:
                self.stats.longest_gap = max(self.stats.longest_gap, started - previous_start)
            previous_start = started
            try:
                await self._tick()
            except Exception:
                # A broken tick must not stop the next one; the error is logged with context.
                log.exception("tick failed")
            duration = trio.current_time() - started
            self.stats.count += 1
            self.stats.last_started_at = started_wall
            self.stats.last_duration = duration
            log.debug("tick", n=self.stats.count, duration_ms=round(duration * 1000, 3))

            interval = self._interval()
            next_at += interval
            now = trio.current_time()
            if now > next_at:
                missed = math.ceil((now - next_at) / interval)
                self.stats.skipped += missed
                next_at += missed * interval
                log.warning("tick overran its interval", duration_s=duration, skipped=missed)
            with trio.move_on_at(next_at):
                await self._wake.wait()
            if self._wake.is_set():
                self._wake = trio.Event()
                next_at = trio.current_time()
