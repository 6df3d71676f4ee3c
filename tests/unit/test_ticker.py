"""The tick's cadence under a virtual clock: a 5 s interval is tested in microseconds."""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock

from aod.poller import Ticker


@pytest.fixture
def autojump_clock() -> MockClock:
    return MockClock(autojump_threshold=0)


async def test_ticks_every_interval(autojump_clock: MockClock) -> None:
    started: list[float] = []

    async def tick() -> None:
        started.append(trio.current_time())

    ticker = Ticker(lambda: 5.0, tick)
    origin = trio.current_time()
    with trio.move_on_after(60.5):
        await ticker.run()
    assert [round(t - origin, 6) for t in started] == [5.0 * i for i in range(13)]
    assert ticker.stats.count == 13
    assert ticker.stats.skipped == 0


async def test_an_overrunning_tick_skips_instead_of_stacking(autojump_clock: MockClock) -> None:
    started: list[float] = []

    async def tick() -> None:
        started.append(trio.current_time())
        if len(started) == 2:
            await trio.sleep(12)  # overruns two and a bit intervals

    ticker = Ticker(lambda: 5.0, tick)
    origin = trio.current_time()
    with trio.move_on_after(31):
        await ticker.run()
    # 0, 5 (runs until 17), then the grid resumes at 20 — never a burst of catch-up ticks.
    assert [round(t - origin, 6) for t in started] == [0, 5, 20, 25, 30]
    assert ticker.stats.skipped == 2
    assert ticker.stats.last_duration == 0
    assert ticker.stats.longest_gap == pytest.approx(15.0)  # from the start at 5 to the one at 20


async def test_a_failing_tick_does_not_stop_the_next(autojump_clock: MockClock) -> None:
    calls = 0

    async def tick() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("probe blew up")

    ticker = Ticker(lambda: 1.0, tick)
    with trio.move_on_after(3.5):
        await ticker.run()
    assert calls == 4


async def test_poke_runs_a_tick_now_and_new_interval_applies(autojump_clock: MockClock) -> None:
    interval = 5.0
    started: list[float] = []

    async def tick() -> None:
        started.append(trio.current_time())

    ticker = Ticker(lambda: interval, tick)
    origin = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker.run)
        await trio.sleep(7)
        interval = 1.0
        ticker.poke()
        await trio.sleep(2.5)
        nursery.cancel_scope.cancel()
    assert [round(t - origin, 6) for t in started] == [0, 5, 7, 8, 9]


async def test_requests_take_worker_threads_from_their_own_pool() -> None:
    """aod/lanes.py: inside a request, the store's blocking work uses the requests' small pool;
    the tick (any other task) uses trio's default limiter, which requests never fill."""
    from aod.lanes import REQUEST_THREADS, in_request_lane, thread_limiter

    assert thread_limiter() is None
    with in_request_lane():
        pool = thread_limiter()
        assert pool is not None and pool.total_tokens == REQUEST_THREADS
        assert pool is not trio.to_thread.current_default_thread_limiter()
        assert thread_limiter() is pool  # one pool for every request of the run
    assert thread_limiter() is None
