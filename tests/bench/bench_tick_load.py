"""R2 load: the tick's cadence while 64 clients flood aod with requests.

    python -m tests.bench.bench_tick_load [--clients 64] [--requests 300] [--sessions 33]

The load of the reliability test R2 (tests/support/load.py), longer: 33 live sessions (a tmux
pane at a prompt each) and a tick asked for every 100 ms, while 64 clients, each on its own
connection, send `session.list` (three in four) and `daemon.ping` back to back. Reported: the
requests' throughput and latency, and what aod says of its tick (`daemon.status` `last_tick`):
ticks run during the load, the longest gap between two tick starts, and the tick's duration as
sampled once a second. Target (docs/reliability.md R2): <= 2 s between two tick starts.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading

from tests.bench._common import fmt, md_table, median
from tests.support.aod_process import AodProcess, short_tempdir, wait_for
from tests.support.load import flood, idle_sessions_aod
from tests.support.tmux import tmux_server

TARGET_GAP_MS = 2000.0


def sample_ticks(aod: AodProcess, durations: list[float], done: threading.Event) -> None:
    seen = None
    while not done.wait(1.0):  # the sampling period, not a wait for a tick
        tick = aod.result("daemon.status")["last_tick"]
        if tick["count"] != seen:
            seen = tick["count"]
            durations.append(tick["duration_ms"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--sessions", type=int, default=33)
    args = parser.parse_args()
    aod = AodProcess(short_tempdir())
    try:
        with tmux_server() as tmux:
            idle_sessions_aod(aod, tmux, args.sessions)
            wait_for(lambda: (t := aod.result("daemon.status")["last_tick"]) and t["count"] >= 3, 60, "three ticks")
            before = aod.result("daemon.status")["last_tick"]
            durations: list[float] = []
            done = threading.Event()
            sampler = threading.Thread(target=sample_ticks, args=(aod, durations, done))
            sampler.start()
            load = flood(aod, args.clients, args.requests, args.sessions)
            done.set()
            sampler.join(30)
            during = aod.result("daemon.status")["last_tick"]
            # One tick after the load, so the gap the last loaded tick opened is counted.
            wait_for(lambda: aod.result("daemon.status")["last_tick"]["count"] > during["count"], 60, "a tick after the load")
            after = aod.result("daemon.status")["last_tick"]
    finally:
        aod.stop()
        shutil.rmtree(aod.root, ignore_errors=True)
    if load.errors or load.stuck:
        print(f"errors: {load.errors[:5]}, stuck clients: {load.stuck}", file=sys.stderr)
        return 1
    requests = len(load.latencies)
    ticks = during["count"] - before["count"]
    gap = after["longest_gap_ms"]
    print("### R2 load: the tick under request load\n")
    print(
        f"{args.sessions} live sessions (idle panes), a 100 ms tick, {args.clients} clients x {args.requests} "
        "requests (`session.list` three in four, `daemon.ping`), each client on its own connection. "
        f"Target: <= {TARGET_GAP_MS / 1000:.0f} s between two tick starts (R2).\n"
    )
    print(md_table(
        ["requests", "seconds", "requests/s", "p50 ms", "p99 ms", "ticks in the load", "ticks/s",
         "tick median ms", "tick max ms", "longest gap ms", "target"],
        [[requests, fmt(load.elapsed), fmt(requests / load.elapsed, 0), fmt(load.percentile(0.5) * 1000),
          fmt(load.percentile(0.99) * 1000), ticks, fmt(ticks / load.elapsed, 2), fmt(median(durations)),
          fmt(max(durations) if durations else float("nan")), fmt(gap, 0),
          "met" if gap <= TARGET_GAP_MS else "**missed**"]],
    ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
