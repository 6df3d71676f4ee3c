"""Shared pieces of the benchmarks: statistics, seeding a state dir with session records, a
private tmux server full of idle panes, reading a process's CPU time and memory from /proc.

Nothing here is used by the test suite; `python -m tests.bench` runs the benchmarks.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from tests.support.aod_process import AodProcess, short_tempdir, wait_for
from tests.support.fleet import make_repo
from tests.support.seed import make_idle_panes, seed_sessions  # noqa: F401 - re-exported for the benchmarks
from tests.support.tmux import kill_tmux_server, tmux_socket_name

CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- statistics -------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p95(values: Sequence[float]) -> float:
    """The 95th percentile (nearest rank): with 10 samples, the largest but none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-95 * len(ordered) // 100))  # ceil(0.95 n)
    return ordered[rank - 1]


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# -- /proc ------------------------------------------------------------------------------------


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of `pid` (with `children`: plus its waited-for children's), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name (field 2) may hold spaces; the fields after its ')' are fixed.
        fields = f.read().rsplit(")", 1)[1].split()
    # After the name: state is fields[0], so utime (field 14) is fields[11].
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def status_kb(pid: int, key: str) -> int:
    """A `kB` line of /proc/<pid>/status (VmRSS, VmHWM, ...)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


# -- machine ----------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip() or "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=False
    ).stdout.strip()
    tmux = subprocess.run(["tmux", "-V"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "python": sys.version.split()[0],
        "tmux": tmux or "none",
    }


class Bench:
    """One aod on a temp root with a project `bench` (a real git repo) declared in config."""

    def __init__(self, poll_interval: str = "5s", tmux: str | None = None) -> None:
        self.root = short_tempdir()
        self.aod = AodProcess(self.root)
        self.repo = make_repo(self.root / "repo")
        self.tmux = tmux or tmux_socket_name()
        agent = [sys.executable, "-c", "pass"]
        self.aod.write_config(
            f"poll_interval: {poll_interval}\n"
            "log: {level: warning}\n"
            f"runtime: {{tmux_socket: {self.tmux}}}\n"
            "defaults: {agent: fake}\n"
            f"agents:\n  fake: {{command: {json.dumps(agent)}, prompt: paste}}\n"
            + f"projects:\n  bench: {{path: {self.repo}}}\n"
        )

    def start(self) -> AodProcess:
        return self.aod.start()

    @property
    def pid(self) -> int:
        assert self.aod.proc is not None
        return self.aod.proc.pid

    def close(self) -> None:
        self.aod.stop()
        kill_tmux_server(self.tmux)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_ticks(aod: AodProcess, count: int, timeout: float = 120.0) -> dict:
    """Wait until aod has run `count` ticks in total; return the last tick's info."""
    def enough() -> dict | None:
        tick = aod.result("daemon.status")["last_tick"]
        return tick if tick and tick["count"] >= count else None

    return wait_for(enough, timeout, f"{count} ticks")


def timed(argv: Sequence[str], env: dict[str, str] | None = None, cwd: str | None = None) -> tuple[float, int, int]:
    """Run argv to completion: (wall seconds, max RSS in kB, exit status), from the child's own
    rusage (os.wait4), so no other child's peak is mixed in."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {err.read().decode(errors='replace')}")
    return elapsed, usage.ru_maxrss, proc.returncode
