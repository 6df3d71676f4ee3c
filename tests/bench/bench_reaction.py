"""P6 reaction latency: from a CI failure becoming visible on the forge to the message being in
the agent's pane (the scripted agent records it the moment it is submitted).

    python -m tests.bench.bench_reaction [--samples 5] [--poll 5s]

A real aod with the default 5 s tick, a real tmux server, the scripted agent, and the loopback
GitHub emulator: each sample opens a PR for a fresh session's branch, marks a check failed at t0,
and waits for the ci-failed message to arrive. Target: one tick + 1 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.bench._common import fmt, md_table, median, p95
from tests.support.aod_process import AodProcess, short_tempdir, wait_for
from tests.support.fleet import Fleet, config_text, git, make_repo
from tests.support.github_emulator import GithubEmulator
from tests.support.tmux import tmux_server

REPO = "acme/bench"


def run(samples: int, poll: str) -> list[float]:
    emulator = GithubEmulator()
    emulator.create_repo(REPO)
    work = Path(tempfile.mkdtemp(prefix="ao-bench-"))
    aod = AodProcess(short_tempdir(), extra_env={"GH_TOKEN": emulator.token})
    latencies: list[float] = []
    try:
        with tmux_server() as tmux:
            records = aod.root / "records"
            records.mkdir()
            extra = (
                f"github: {{api_url: '{emulator.api_url}', refresh: 1m}}\n"
                "projects:\n  demo: {forge: github}\n"
            )
            aod.write_config(config_text(tmux, records, extra).replace("poll_interval: 200ms", f"poll_interval: {poll}"))
            aod.start()
            repo = make_repo(work / "demo")
            git(repo, "remote", "add", "origin", emulator.remote_url(REPO))
            fleet = Fleet(aod, tmux, repo)
            fleet.ok("project", "add", str(repo))
            for _ in range(samples):
                sid = fleet.ok("spawn", "--task", "wait for CI")["id"]
                wait_for(lambda: fleet.received(sid), 60, "the first prompt")
                pr = emulator.create_pr(REPO, f"ao/{sid}")
                head = emulator.head_sha(REPO, pr)
                emulator.check_run(REPO, head, "ci", status="in_progress", conclusion=None)
                fleet.wait_state(sid, lambda s: s["state"] == "pr_open", "the PR to be seen", 60)
                time.sleep(1.3)  # start the failure at a random-ish point of the tick cycle
                emulator.check_run(REPO, head, "tests", conclusion="failure", log="##[error]boom\n")
                t0 = time.monotonic()
                wait_for(lambda: any("CI failed" in m for m in fleet.received(sid)), 60, "the CI message")
                latencies.append(time.monotonic() - t0)
                fleet.ok("kill", sid)
    finally:
        aod.stop()
        emulator.close()
        shutil.rmtree(aod.root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--poll", default="5s")
    args = parser.parse_args()
    latencies = run(args.samples, args.poll)
    print("### P6: reaction latency (CI failure on the forge → message in the agent's pane)\n")
    print(md_table(
        ["tick", "samples", "median s", "p95 s", "max s", "target s"],
        [[args.poll, len(latencies), fmt(median(latencies), 2), fmt(p95(latencies), 2), fmt(max(latencies), 2), "tick + 1"]],
    ))
    print(json.dumps({"latencies_s": [round(x, 3) for x in latencies]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
