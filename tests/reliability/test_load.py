"""R2: 64 concurrent clients, each on its own connection, sending `session.list` (three in four)
and `daemon.ping` back to back over the real socket while the tick runs every 100 ms over 33 live
sessions (each a real tmux pane at a prompt, probed, captured and judged every tick): every
request gets its own correct answer, and the tick keeps its cadence: at most 2 s between two
tick starts (aod's own count, `last_tick.longest_gap_ms`), and on time again once the load ends.
Before requests had a thread pool of their own (aod/lanes.py) the gap was 3-4 s here.

The 2 s is a guarantee with room (it measures ~0.4 s on 2 cores); how fast the tick and the
requests actually are is for tests/bench/bench_tick_load.py. Normal mode: 64 x 150 requests;
`AOD_SOAK=1`: 64 x 1000.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.reliability.conftest import soak
from tests.support.aod_process import AodProcess, wait_for
from tests.support.load import flood, idle_sessions_aod
from tests.support.tmux import tmux_server

CLIENTS = 64
REQUESTS = soak(150, 1000)
SESSIONS = 33
MAX_TICK_GAP = 2.0
"""Seconds between two tick starts, at most, under the load (5 s ticks are the default; here
every 100 ms is asked for, and a 2-core machine saturated by 64 clients skips most slots)."""


@pytest.fixture
def loaded_aod(make_aod: Callable[..., AodProcess]) -> Iterator[AodProcess]:
    with tmux_server() as tmux:
        yield idle_sessions_aod(make_aod(), tmux, SESSIONS)


def test_64_clients_while_ticks_run_get_every_answer(loaded_aod: AodProcess) -> None:
    aod = loaded_aod
    wait_for(lambda: (t := aod.result("daemon.status")["last_tick"]) and t["count"] >= 3, 30, "three ticks")
    before = aod.result("daemon.status")["last_tick"]
    assert before["sessions"] == SESSIONS  # every session is looked at, each tick

    load = flood(aod, CLIENTS, REQUESTS, SESSIONS)

    assert load.stuck == 0
    assert load.errors == [], load.errors[:10]
    assert len(load.latencies) == CLIENTS * REQUESTS
    assert aod.proc is not None and aod.proc.poll() is None
    during = aod.result("daemon.status")["last_tick"]
    # Once the load is gone the cadence is back: ten ticks in a row without a skipped slot.
    base = dict(during)

    def ten_on_time() -> bool:
        now = aod.result("daemon.status")["last_tick"]
        if now["skipped"] != base["skipped"]:
            base.update(now)  # a skip right after the load: count again from here
            return False
        return now["count"] >= base["count"] + 10

    wait_for(ten_on_time, 20, "ten ticks on time after the load")
    # The tick never starved: overrun ticks are skipped (not stacked), but one always starts
    # soon. Read after the load, so that the gap a tick running at its end opened is counted.
    after = aod.result("daemon.status")["last_tick"]
    print(
        f"{len(load.latencies)} requests in {load.elapsed:.2f} s, p99 {load.percentile(0.99) * 1000:.1f} ms; "
        f"{during['count'] - before['count']} ticks during the load, longest gap between tick starts "
        f"{after['longest_gap_ms']:.0f} ms"
    )
    assert after["longest_gap_ms"] <= MAX_TICK_GAP * 1000, after
    assert "Traceback" not in aod.log()
