"""Issue 21, remote hosts: a local aod federating 3 other aods on this machine, each reached through
`hosts.NAME.command` (the stdio bridge, `aoctl rpc --stdio`; no ssh, so the figures are aod's own).

    python -m tests.bench.bench_hosts [--sessions 100] [--ticks 20] [--spawns 5]

Measured:
- requests the local aod sends each host per tick (target ≤ 1: the events push the rest), over
  `--ticks` ticks, quiet and with every host's sessions reporting (busy);
- the local tick's duration (target ≤ 250 ms), median and p95 over those ticks;
- a remote session's change (`session.report` on its own aod) seen by a local subscriber of
  `events.subscribe` (what `aoctl events --follow` reads) (target ≤ 1 s + one tick);
- `session.spawn` through the local aod onto a host against the same spawn on that host directly
  (target: overhead ≤ 1.5 s), medians of `--spawns`;
- `aoctl status --json` listing 1,000 sessions across the hosts (target ≤ 150 ms), median of 15.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tests.bench._common import fmt, md_table, median, p95, seed_sessions, timed
from tests.support.aod_process import AodProcess, RawConnection, short_tempdir, wait_for
from tests.support.fleet import make_repo
from tests.support.tmux import FAKE_AGENT, kill_tmux_server, tmux_socket_name

HOSTS = ("h1", "h2", "h3")
POLL = 0.5


class Federation:
    def __init__(self, sessions: int, host_poll: float = POLL) -> None:
        self.tmux = tmux_socket_name()
        self.remotes: dict[str, AodProcess] = {}
        agent = [sys.executable, str(FAKE_AGENT), "--style", "plain"]
        for name in HOSTS:
            aod = AodProcess(short_tempdir())
            repo = make_repo(aod.root / "bench")
            aod.write_config(
                f"poll_interval: {host_poll}s\nlog: {{level: warning}}\nruntime: {{tmux_socket: {self.tmux}-{name}}}\n"
                f"defaults: {{agent: fake}}\nagents:\n  fake: {{command: {json.dumps(agent)}, prompt: paste}}\n"
                f"projects:\n  bench: {{path: {repo}}}\n"
            )
            seed_sessions(aod.state_dir, sessions, project="bench")
            self.remotes[name] = aod.start()
        self.local = AodProcess(short_tempdir())
        hosts = "".join(
            f"  {name}: {{command: {json.dumps([sys.executable, '-m', 'aoctl', '--socket', str(aod.socket_path), 'rpc', '--stdio'])}}}\n"
            for name, aod in self.remotes.items()
        )
        self.local.write_config(f"poll_interval: {POLL}s\nlog: {{level: warning}}\nruntime: {{tmux_socket: {self.tmux}-local}}\nhosts:\n{hosts}")
        self.local.start()
        wait_for(lambda: all(h["reachable"] for h in self.hosts()), 60, "every host reachable")

    def hosts(self) -> list[dict]:
        return self.local.result("hosts.list")["hosts"]

    def close(self) -> None:
        self.local.stop()
        for name, aod in self.remotes.items():
            aod.stop()
            kill_tmux_server(f"{self.tmux}-{name}")
        kill_tmux_server(f"{self.tmux}-local")


def tick_count(aod: AodProcess) -> tuple[int, float]:
    tick = aod.result("daemon.status")["last_tick"] or {"count": 0, "duration_ms": 0.0}
    return tick["count"], tick["duration_ms"]


def requests_per_tick(fed: Federation, ticks: int, busy: bool) -> tuple[float, list[float]]:
    """The most requests any host got per local tick, and each tick's duration."""
    start_count, _ = tick_count(fed.local)
    start = {h["name"]: h["requests"] for h in fed.hosts()}
    durations, seen, n = [], start_count, 0
    while seen < start_count + ticks:
        if busy:  # every host's sessions report in turn: events, and the listing they cost
            for aod in fed.remotes.values():
                aod.call("session.report", {"id": f"bench-{n % 50 + 1}", "status": "working", "message": f"step {n}"})
            n += 1
        count, duration = tick_count(fed.local)
        if count > seen:
            durations.append(duration)
            seen = count
        time.sleep(0.02)
    end_count, _ = tick_count(fed.local)
    per_host = [(h["requests"] - start[h["name"]]) / (end_count - start_count) for h in fed.hosts()]
    return max(per_host), durations


def event_latency(fed: Federation, samples: int = 10) -> list[float]:
    """A remote report until the local subscriber has its event, in ms."""
    out = []
    with RawConnection(fed.local.socket_path, 30) as conn:
        conn.send_json({"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": {"kinds": ["session.reported"]}})
        conn.receive_json()
        for n in range(samples):
            sid = f"bench-{n + 60}"
            started = time.perf_counter()
            fed.remotes["h2"].call("session.report", {"id": sid, "status": "working", "message": f"latency {n}"})
            while True:
                message = conn.receive_json()
                if message.get("params", {}).get("session") == f"h2/{sid}":
                    out.append((time.perf_counter() - started) * 1000)
                    break
    return out


def spawn_overhead(fed: Federation, spawns: int) -> tuple[list[float], list[float]]:
    through, direct = [], []
    for n in range(spawns):
        started = time.perf_counter()
        reply = fed.local.call("session.spawn", {"host": "h1", "project": "bench", "task": f"through {n}"}, timeout=120)
        through.append((time.perf_counter() - started) * 1000)
        assert "result" in reply, reply
        started = time.perf_counter()
        reply = fed.remotes["h1"].call("session.spawn", {"project": "bench", "task": f"direct {n}"}, timeout=120)
        direct.append((time.perf_counter() - started) * 1000)
        assert "result" in reply, reply
    return through, direct


def status_json(fed: Federation, runs: int = 15) -> tuple[list[float], list[float], list[float], int]:
    """`aoctl --json status` as a process, the floor (`python -c "import click, msgspec"`) in the
    same run, interleaved, and the `session.list` call alone (one connection, ms)."""
    script = Path(sys.executable).parent / "aoctl"
    argv = [str(script), "--json", "status"]
    floor = [sys.executable, "-c", "import click, msgspec"]
    listed = len(fed.local.result("session.list")["sessions"])
    status, base, call = [], [], []
    for _ in range(runs):
        status.append(timed(argv, env=fed.local.env())[0] * 1000)
        base.append(timed(floor, env=fed.local.env())[0] * 1000)
        started = time.perf_counter()
        fed.local.call("session.list")
        call.append((time.perf_counter() - started) * 1000)
    return status, base, call, listed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--spawns", type=int, default=5)
    args = parser.parse_args()
    rows = []
    fed = Federation(args.sessions)
    try:
        quiet, quiet_ticks = requests_per_tick(fed, args.ticks, busy=False)
        busy, busy_ticks = requests_per_tick(fed, args.ticks, busy=True)
        latency = event_latency(fed)
        through, direct = spawn_overhead(fed, args.spawns)
        ticks = quiet_ticks + busy_ticks
        rows += [
            [f"requests per host per tick, quiet ({len(HOSTS)} × {args.sessions} sessions)", fmt(quiet, 2), "≤ 1"],
            ["requests per host per tick, busy (every host's sessions reporting)", fmt(busy, 2), "≤ 1"],
            ["local tick, median / p95 (ms)", f"{fmt(median(ticks))} / {fmt(p95(ticks))}", "≤ 250"],
            ["remote change → local subscriber, median / p95 (ms)", f"{fmt(median(latency))} / {fmt(p95(latency))}", f"≤ 1000 + one tick ({POLL * 1000:.0f})"],
            ["spawn through the local aod / on the host directly, median (ms)", f"{fmt(median(through))} / {fmt(median(direct))}", ""],
            ["spawn overhead of the host's link, median (ms)", fmt(median(through) - median(direct)), "≤ 1500"],
        ]
    finally:
        fed.close()
    # The hosts tick at the default 5 s here: their own work on 334 sessions each is not the
    # listing's cost (it shares this machine's 2 cores with the aoctl measured).
    fed = Federation(334, host_poll=5.0)
    try:
        times, floor, call, listed = status_json(fed)
        rows += [
            [f"`aoctl status --json`, {listed} sessions across {len(HOSTS)} hosts, median / p95 (ms)", f"{fmt(median(times))} / {fmt(p95(times))}", "≤ 150"],
            ["… the floor, `python -c \"import click, msgspec\"`, same run, median (ms)", fmt(median(floor)), ""],
            ["… the `session.list` call alone (merged from the hosts' caches), median (ms)", fmt(median(call)), ""],
        ]
    finally:
        fed.close()
    print("### Remote hosts (issue 21)\n")
    print(f"A local aod and {len(HOSTS)} host aods on this machine, linked by `aoctl rpc --stdio` (hosts.NAME.command), poll_interval {POLL}s.\n")
    print(md_table(["measure", "figure", "target"], rows))


if __name__ == "__main__":
    main()
