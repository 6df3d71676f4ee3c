"""Many clients flooding a real aod over its socket, each on its own connection: the load of the
reliability test R2 (tests/reliability/test_load.py) and of the benchmark
tests/bench/bench_tick_load.py."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.aod_process import AodProcess, RawConnection
from tests.support.fleet import make_repo
from tests.support.seed import make_idle_panes, seed_sessions

METHODS = ("session.list", "session.list", "session.list", "daemon.ping")
"""What each client asks, in turn: mostly the heaviest read (every record from disk)."""


@dataclass
class LoadResult:
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    stuck: int = 0
    """Client threads still running when the wait for them ended."""

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def idle_sessions_aod(aod: AodProcess, tmux: str, sessions: int, poll_interval: str = "100ms") -> AodProcess:
    """Configure `aod` (not started) with `sessions` live sessions of project `bench`, each a
    tmux pane at a prompt on server `tmux`, ticking every `poll_interval`; then start it."""
    repo = make_repo(aod.root / "repo")
    aod.write_config(
        f"poll_interval: {poll_interval}\n"
        "log: {level: warning}\n"
        f"runtime: {{tmux_socket: {tmux}}}\n"
        "defaults: {agent: fake}\n"
        "agents:\n  fake: {command: [sh], prompt: paste}\n"
        f"projects:\n  bench: {{path: {repo}}}\n"
    )
    names = [f"bench-{n}" for n in range(1, sessions + 1)]
    seed_sessions(aod.state_dir, sessions, panes=make_idle_panes(tmux, names), tmux_socket=tmux, workspace=str(repo))
    return aod.start()


def _client(socket: Path, n: int, requests: int, sessions: int, result: LoadResult, go: threading.Event) -> None:
    try:
        with RawConnection(socket, timeout=60) as conn:
            go.wait(60)
            for i in range(requests):
                method = METHODS[i % len(METHODS)]
                request_id = n * 100_000 + i
                started = time.perf_counter()
                conn.send_json({"jsonrpc": "2.0", "id": request_id, "method": method})
                reply: dict[str, Any] = conn.receive_json()
                result.latencies.append(time.perf_counter() - started)
                if reply.get("jsonrpc") != "2.0" or reply.get("id") != request_id or "result" not in reply:
                    result.errors.append(f"client {n} request {i} ({method}): {reply}")
                elif method == "session.list" and len(reply["result"]["sessions"]) != sessions:
                    result.errors.append(f"client {n} request {i}: {len(reply['result']['sessions'])} sessions")
    except Exception as exc:  # noqa: BLE001 - every failure is a finding
        result.errors.append(f"client {n}: {type(exc).__name__}: {exc}")


def flood(aod: AodProcess, clients: int, requests: int, sessions: int) -> LoadResult:
    """`clients` threads, each on its own connection, `requests` back-to-back requests each;
    returns when all are done (or after 300 s)."""
    result = LoadResult()
    go = threading.Event()
    threads = [
        threading.Thread(target=_client, args=(aod.socket_path, n, requests, sessions, result, go)) for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    go.set()
    for thread in threads:
        thread.join(300)
    result.elapsed = time.monotonic() - started
    result.stuck = sum(t.is_alive() for t in threads)
    return result
