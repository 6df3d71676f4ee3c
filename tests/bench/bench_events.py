"""P8: how soon `aoctl events --follow` prints a change aod made.

    python -m tests.bench.bench_events [--events 30] [--sessions 100]

A real aod (with `--sessions` session records on disk, ticking every 5 s) and one
`aoctl events --follow --json` as a whole process, its stdout read line by line. Each round asks
aod for a change on a fresh connection (`issue.add` on the local forge: recorded, then published
as `issue.added`) and waits for the follower to print that event. *latency*: from sending the
request to the follower's line arriving (an upper bound: it includes aod doing the change);
*after the event*: from the event's own timestamp (set when aod published it) to the line.

Target: <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import subprocess
import time
from datetime import datetime

from tests.bench._common import Bench, fmt, md_table, median, p95, seed_sessions
from tests.bench.bench_status import aoctl_argv

TARGET_MS = 50.0


def request(path: str, method: str, params: dict) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    answer = json.loads(reply)
    if "error" in answer:
        raise RuntimeError(f"{method} failed: {answer['error']}")
    return answer["result"]


class Follower:
    """`aoctl events --follow --json`, read line by line without blocking forever."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)
        self.buffer = b""

    def event_for(self, issue: str, timeout: float = 10.0) -> tuple[dict, float]:
        """The `issue.added` event of issue `issue`, and when its line arrived (perf_counter)."""
        deadline = time.perf_counter() + timeout
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                event = json.loads(line)
                if event.get("kind") == "issue.added" and (event.get("data") or {}).get("id") == issue:
                    return event, time.perf_counter()
            left = deadline - time.perf_counter()
            if left <= 0:
                raise RuntimeError(f"no issue.added event for issue {issue} within {timeout}s")
            if self.selector.select(left):
                assert self.proc.stdout is not None
                chunk = self.proc.stdout.read(65536)
                if not chunk:
                    raise RuntimeError("aoctl events --follow exited")
                self.buffer += chunk

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def run(events: int, sessions: int) -> str:
    latencies: list[float] = []
    after_event: list[float] = []
    with Bench(poll_interval="5s") as bench:
        seed_sessions(bench.aod.state_dir, sessions)
        bench.start()
        path = str(bench.aod.socket_path)
        follower = Follower([*aoctl_argv(), "events", "--follow", "--json", "--kind", "issue", "--limit", "1"], bench.aod.env())
        try:
            # The first event proves the subscription is live; it is not counted.
            follower.event_for(request(path, "issue.add", {"project": "bench", "title": "warm-up"})["id"], timeout=30)
            for n in range(events):
                sent = time.perf_counter()
                issue = request(path, "issue.add", {"project": "bench", "title": f"bench event {n}"})["id"]
                event, arrived = follower.event_for(issue)
                now = time.time() - (time.perf_counter() - arrived)
                latencies.append((arrived - sent) * 1000)
                stamp = event.get("time")
                if isinstance(stamp, str):
                    published = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                    after_event.append((now - published) * 1000)
        finally:
            follower.close()
    med = median(latencies)
    rows = [
        [f"{sessions}", len(latencies), fmt(med), fmt(p95(latencies)), fmt(max(latencies)),
         fmt(median(after_event)), fmt(p95(after_event)), "met" if med <= TARGET_MS else "**missed**"],
    ]
    return "\n".join([
        "### P8: `aoctl events --follow` latency",
        "",
        "A real aod and one `aoctl events --follow --json` process; each round adds an issue (`issue.add` on a "
        "fresh connection) and waits for the follower to print its `issue.added` event. *latency*: from the "
        "request sent to the line read (includes aod recording the issue); *after the event*: from the event's "
        f"timestamp to the line. Target: <= {TARGET_MS:.0f} ms.",
        "",
        md_table(["sessions on disk", "events", "median ms", "p95 ms", "max ms", "after the event, median ms",
                  "after the event, p95 ms", "target"], rows),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--sessions", type=int, default=100)
    args = parser.parse_args()
    print(run(args.events, args.sessions))


if __name__ == "__main__":
    main()
