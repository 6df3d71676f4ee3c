"""Who waits for a worker thread: the tick, or a request.

Blocking file work runs in worker threads (`trio.to_thread`), and trio's default limiter is
one queue for all of it. Under a flood of requests (64 clients listing sessions back to back)
every read the tick makes waited behind dozens of theirs, and 40 threads decoding records
starved the event loop of the GIL: ticks stretched to seconds (docs/reliability.md R2). So work
done for a request takes its threads from a small pool of its own (`REQUEST_THREADS`), and the
tick, the reactions and the delivery workers keep trio's default one to themselves.

A request's handler runs `in_request_lane()`; `thread_limiter()` is what the store passes to
`trio.to_thread.run_sync`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import trio

REQUEST_THREADS = 4
"""Worker threads that requests use at once, all connections together. Fewer threads also
means less fighting over the GIL: with 4, 64 clients flooding `session.list` over 33 sessions
are served as fast as with trio's 40, and the 100 ms tick's starts stay ~0.4 s apart instead of
3-4 s (the reliability test R2; tests/bench/bench_tick_load.py has the figures)."""

_in_request: ContextVar[bool] = ContextVar("aod_in_request", default=False)
_request_limiter: trio.lowlevel.RunVar[trio.CapacityLimiter] = trio.lowlevel.RunVar("aod_request_limiter")


@contextmanager
def in_request_lane() -> Iterator[None]:
    token = _in_request.set(True)
    try:
        yield
    finally:
        _in_request.reset(token)


def thread_limiter() -> trio.CapacityLimiter | None:
    """The limiter for blocking work of the current task: the requests' own pool inside a
    request, else None (trio's default, the tick's)."""
    if not _in_request.get():
        return None
    try:
        return _request_limiter.get()
    except LookupError:
        limiter = trio.CapacityLimiter(REQUEST_THREADS)
        _request_limiter.set(limiter)
        return limiter
