"""R2: 64 concurrent clients, each on its own connection, sending `daemon.ping` and
`session.list` back to back over the real socket while the tick runs every 100 ms over 20
sessions: every request gets its own correct answer, and the tick keeps its cadence.

Normal mode: 64 x 50 requests; `AOD_SOAK=1`: 64 x 500.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from tests.reliability.conftest import soak
from tests.support.aod_process import AodProcess, RawConnection, wait_for
from tests.support.seed import seed_sessions

CLIENTS = 64
REQUESTS = soak(50, 500)
SESSIONS = 20
MAX_TICK_GAP = 2.0
"""Seconds between two tick starts, at most, under the load (5 s ticks are the default; here
every 100 ms is asked for, and a 2-core machine saturated by 64 clients skips most slots)."""


def client(aod: AodProcess, n: int, errors: list[str], latencies: list[float], go: threading.Event) -> None:
    try:
        with RawConnection(aod.socket_path, timeout=30) as conn:
            go.wait(30)
            for i in range(REQUESTS):
                method = "daemon.ping" if i % 2 == 0 else "session.list"
                request_id = n * 100_000 + i
                started = time.perf_counter()
                conn.send_json({"jsonrpc": "2.0", "id": request_id, "method": method})
                reply: dict[str, Any] = conn.receive_json()
                latencies.append(time.perf_counter() - started)
                if reply.get("jsonrpc") != "2.0" or reply.get("id") != request_id or "result" not in reply:
                    errors.append(f"client {n} request {i} ({method}): {reply}")
                elif method == "session.list" and len(reply["result"]["sessions"]) != SESSIONS:
                    errors.append(f"client {n} request {i}: {len(reply['result']['sessions'])} sessions")
    except Exception as exc:  # noqa: BLE001 - every failure is a finding
        errors.append(f"client {n}: {type(exc).__name__}: {exc}")


def tick_starts(aod: AodProcess, starts: list[float], done: threading.Event) -> None:
    """Sample daemon.status until `done`; note when each new tick was seen (monotonic)."""
    seen = None
    while not done.is_set():
        tick = aod.result("daemon.status")["last_tick"]
        if tick["count"] != seen:
            seen = tick["count"]
            starts.append(time.monotonic())
        done.wait(0.02)  # the sampling period


def test_64_clients_while_ticks_run_get_every_answer(make_aod: Callable[..., AodProcess]) -> None:
    aod = make_aod()
    aod.write_config("poll_interval: 100ms\n")
    seed_sessions(aod.state_dir, SESSIONS)
    aod.start()
    wait_for(lambda: (t := aod.result("daemon.status")["last_tick"]) and t["count"] >= 3, 20, "three ticks")
    errors: list[str] = []
    latencies: list[float] = []
    starts: list[float] = []
    go, done = threading.Event(), threading.Event()
    threads = [threading.Thread(target=client, args=(aod, n, errors, latencies, go)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    sampler = threading.Thread(target=tick_starts, args=(aod, starts, done))
    sampler.start()
    started = time.monotonic()
    go.set()
    for thread in threads:
        thread.join(300)
    elapsed = time.monotonic() - started
    done.set()
    sampler.join(30)
    assert not any(t.is_alive() for t in threads)
    assert errors == [], errors[:10]
    assert len(latencies) == CLIENTS * REQUESTS
    assert aod.proc is not None and aod.proc.poll() is None
    # The tick never starved: overrun ticks are skipped (not stacked), but one always runs soon.
    gaps = [b - a for a, b in zip([started, *starts], [*starts, time.monotonic()], strict=True)]
    p99 = sorted(latencies)[int(0.99 * len(latencies))]
    print(f"{len(latencies)} requests in {elapsed:.2f} s, p99 {p99 * 1000:.1f} ms; {len(starts)} ticks, longest gap {max(gaps):.2f} s")
    assert len(starts) >= elapsed / MAX_TICK_GAP - 1, (len(starts), elapsed)
    assert max(gaps) <= MAX_TICK_GAP, (max(gaps), elapsed)
    # Once the load is gone the cadence is back: ten ticks in a row without a skipped slot.
    base = aod.result("daemon.status")["last_tick"]

    def ten_on_time() -> bool:
        now = aod.result("daemon.status")["last_tick"]
        if now["skipped"] != base["skipped"]:
            base.update(now)  # a skip right after the load: count again from here
            return False
        return now["count"] >= base["count"] + 10

    wait_for(ten_on_time, 20, "ten ticks on time after the load")
    assert "Traceback" not in aod.log()
