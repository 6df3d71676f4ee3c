"""P2, P2b, P4 and P7: what the tick costs with live tmux sessions of three kinds of agent, at
100 and at 1,000 sessions; what aod weighs; how long a cold start takes to serve.

    python -m tests.bench.bench_tick [--plan prompt:100,silent:100,busy:100,prompt:1000] [--window 30]

Each entry of the plan: a private tmux server (`tmux -L aob-...`) with one session per agent, its
pane running the program of its kind (`tests/support/seed.py` PANE_PROGRAMS: *prompt* shows `> `
and waits, *silent* prints nothing at all, *busy* prints a line every second), and a session
record per pane written straight into the state dir (kind tmux, name = the tmux session, its
pane id and pid); then a real aod on that state dir, ticking every 5 s (the default poll_interval).

P7: from starting the aod process to its first answer to `daemon.ping`, polled every 2 ms on
fresh connections (the records already on disk, the panes live).

P2/P2b: the first tick after start (every pane is captured once) and the steady ticks after the
second, from `daemon.status` `last_tick` (duration_ms, subprocesses, captures), polled once a
second; and aod's CPU share over the window (twice as long at 1,000 sessions): utime+stime from
/proc/<pid>/stat, alone and with its children (the tmux clients it ran and waited for).

P4: aod's VmRSS (and VmHWM, the peak) from /proc/<pid>/status after the window, also with no
sessions at all.
"""

from __future__ import annotations

import argparse
import socket
import time
from dataclasses import dataclass, field

from tests.bench._common import (
    Bench,
    cpu_seconds,
    fmt,
    make_idle_panes,
    md_table,
    median,
    p95,
    seed_sessions,
    status_kb,
    wait_ticks,
)

TICK_TARGET_MS = {100: 100.0, 1000: 600.0}
CPU_TARGET = {1000: 0.05}
RSS_TARGET_MB = {1000: 90.0}
START_TARGET_MS = {1000: 400.0}
DEFAULT_PLAN = "prompt:0,prompt:100,silent:100,busy:100,prompt:1000"


@dataclass
class Result:
    kind: str
    sessions: int
    start_ms: float = float("nan")
    first_ms: float = float("nan")
    first_captures: int = 0
    first_subprocesses: int = 0
    steady_ms: list[float] = field(default_factory=list)
    steady_subprocesses: list[int] = field(default_factory=list)
    steady_captures: list[int] = field(default_factory=list)
    skipped: int = 0
    window_s: float = 0.0
    cpu_share: float = float("nan")
    cpu_share_children: float = float("nan")
    rss_mb: float = float("nan")
    hwm_mb: float = float("nan")
    setup_s: float = 0.0


def cold_start(bench: Bench) -> float:
    """Start aod and return the seconds until it first answers `daemon.ping`."""
    started = time.perf_counter()
    bench.aod.proc = bench.aod.spawn()
    path = str(bench.aod.socket_path)
    while True:
        if bench.aod.proc.poll() is not None:
            raise RuntimeError(f"aod exited:\n{bench.aod.log()[-3000:]}")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(path)
                sock.sendall(b'{"jsonrpc":"2.0","id":1,"method":"daemon.ping"}\n')
                if b'"result"' in sock.recv(65536):
                    return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.002)  # polling period of the measurement, not a wait for a tick


def measure(kind: str, sessions: int, window: float) -> Result:
    result = Result(kind, sessions)
    started = time.monotonic()
    with Bench(poll_interval="5s") as bench:
        names = [f"bench-{n}" for n in range(1, sessions + 1)]
        panes = make_idle_panes(bench.tmux, names, kind=kind) if sessions else {}
        seed_sessions(bench.aod.state_dir, sessions, panes=panes, tmux_socket=bench.tmux, workspace=str(bench.repo))
        result.setup_s = time.monotonic() - started
        result.start_ms = cold_start(bench) * 1000
        if sessions:
            first = wait_ticks(bench.aod, 1, timeout=300)
            result.first_ms = first["duration_ms"]
            result.first_captures = first.get("captures", 0)
            result.first_subprocesses = first.get("subprocesses", 0)
            # The second tick captures the panes again: they were made less than a second before
            # the first look (tmux stamps activity in whole seconds). The window starts after it.
            second = wait_ticks(bench.aod, 2, timeout=300)
            seen, skipped0 = second["count"], second["skipped"]
        cpu0, cpu0_all, t0 = cpu_seconds(bench.pid), cpu_seconds(bench.pid, children=True), time.monotonic()
        deadline = t0 + window
        while sessions and time.monotonic() < deadline:
            tick = bench.aod.result("daemon.status")["last_tick"]
            if tick["count"] > seen:
                seen = tick["count"]
                result.steady_ms.append(tick["duration_ms"])
                result.steady_subprocesses.append(tick.get("subprocesses", 0))
                result.steady_captures.append(tick.get("captures", 0))
                result.skipped = tick["skipped"] - skipped0
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))  # sampling period, not a wait
        elapsed = max(time.monotonic() - t0, 1e-9)
        result.window_s = elapsed
        result.cpu_share = (cpu_seconds(bench.pid) - cpu0) / elapsed
        result.cpu_share_children = (cpu_seconds(bench.pid, children=True) - cpu0_all) / elapsed
        result.rss_mb = status_kb(bench.pid, "VmRSS") / 1024
        result.hwm_mb = status_kb(bench.pid, "VmHWM") / 1024
    return result


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else "met" if ok else "**missed**"


def run(plan: list[tuple[str, int]], window: float) -> str:
    windows = {n: window * (2 if n >= 1000 else 1) if n else 2.0 for _k, n in plan}
    results = [measure(kind, n, windows[n]) for kind, n in plan]
    tick_rows = []
    for r in results:
        if not r.sessions:
            continue
        med = median(r.steady_ms)
        subs = max(r.steady_subprocesses) if r.steady_subprocesses else 0
        caps = max(r.steady_captures) if r.steady_captures else 0
        target = TICK_TARGET_MS.get(r.sessions)
        ok = None
        if target is not None:
            ok = med <= target and subs <= 2 + caps and r.skipped == 0
            if r.sessions in CPU_TARGET:
                ok = ok and r.cpu_share_children <= CPU_TARGET[r.sessions]
        tick_rows.append([
            r.kind, r.sessions,
            fmt(r.first_ms), r.first_subprocesses, r.first_captures,
            len(r.steady_ms), fmt(med), fmt(p95(r.steady_ms)), fmt(max(r.steady_ms) if r.steady_ms else float("nan")),
            subs, caps, r.skipped,
            fmt(100 * r.cpu_share, 2), fmt(100 * r.cpu_share_children, 2), _verdict(ok),
        ])
    rss_rows = []
    for r in results:
        target = RSS_TARGET_MB.get(r.sessions)
        start_target = START_TARGET_MS.get(r.sessions)
        rss_rows.append([
            r.kind if r.sessions else "-", r.sessions, fmt(r.rss_mb), fmt(r.hwm_mb), _verdict(None if target is None else r.rss_mb <= target),
            fmt(r.start_ms), _verdict(None if start_target is None else r.start_ms <= start_target),
        ])
    out = [
        "### P2, P2b: one tick with live tmux sessions",
        "",
        "One tmux session per agent on a private server, one session record each, a real aod ticking every 5 s; "
        f"steady ticks sampled over {window:.0f} s ({2 * window:.0f} s at 1,000 sessions) after the first two. "
        "Agents: *prompt* shows `> ` and waits, *silent* prints nothing, *busy* prints a line every second "
        "(its pane moves between every two ticks). *first*: the first tick after start (every pane captured once). "
        "*subprocs*/*captures*: the largest count in a steady tick (captures count panes, which share tmux clients). "
        "CPU: aod's utime+stime over the window, alone and with the children it waited for (tmux clients). "
        "Targets: <= 100 ms at 100 sessions of each kind with <= 2 + changed panes subprocesses; at 1,000 "
        "<= 600 ms, no skipped tick, <= 5 % of a core (with children).",
        "",
        md_table(
            ["agents", "sessions", "first ms", "first subprocs", "first captures", "steady ticks", "median ms", "p95 ms",
             "max ms", "subprocs", "captures", "skipped", "CPU %", "CPU % (+children)", "target"],
            tick_rows,
        ),
        "",
        "### P4, P7: aod's memory and cold start",
        "",
        "VmRSS (and VmHWM, the peak) after the window; *start*: from starting the aod process to its first "
        "answer to `daemon.ping` (every record on disk, every pane live). Targets at 1,000 sessions: <= 90 MB, "
        "<= 400 ms.",
        "",
        md_table(["agents", "sessions", "VmRSS MB", "VmHWM MB", "target", "start ms", "target"], rss_rows),
    ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", default=DEFAULT_PLAN, help="kind:sessions, comma-separated")
    parser.add_argument("--window", type=float, default=30.0, help="seconds of steady ticks (twice at 1,000 sessions)")
    parser.add_argument("--markdown", action="store_true", help="(the output is always markdown)")
    args = parser.parse_args()
    plan = [(item.split(":")[0], int(item.split(":")[1])) for item in args.plan.split(",") if item]
    print(run(plan, args.window))


if __name__ == "__main__":
    main()
