"""P5: spawn latency, one at a time and in a batch of 20.

    python -m tests.bench.bench_spawn [--spawns 10] [--batch 20] [--markdown]

A real aod (ticking every 5 s) with a private tmux server, a git repo as project `demo` and the
scripted agent (tests/support/fake_agent.py) as the agent, prompt pasted. For each
`aoctl --json spawn --task ...`, measured from just before aoctl starts:

- *returned*: aoctl exits 0 (the worktree, branch and tmux session exist, the agent is launched);
  the pane's pid is checked alive right then (the agent process is running);
- *prompt received*: the agent's `--record` file holds the first prompt (aod waited for the
  agent's prompt, pasted, pressed Enter and verified).

Then 20 issues are added with `aoctl issue add`, and one `aoctl batch-spawn 1..20`: its wall time,
and the time until all 20 agents have their first prompt.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time

from tests.bench._common import fmt, md_table, median, p95
from tests.support.aod_process import AodProcess, short_tempdir, wait_for
from tests.support.fleet import Fleet, config_text, make_repo
from tests.support.tmux import kill_tmux_server, tmux_socket_name


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def run(spawns: int, batch: int) -> str:
    root = short_tempdir()
    tmux = tmux_socket_name()
    aod = AodProcess(root)
    try:
        records = root / "records"
        records.mkdir()
        aod.write_config(config_text(tmux, records).replace("poll_interval: 200ms", "poll_interval: 5s"))
        aod.start()
        fleet = Fleet(aod, tmux, make_repo(root / "demo"))
        fleet.ok("project", "add", str(fleet.repo))
        returned: list[float] = []
        received: list[float] = []
        for n in range(spawns):
            started = time.perf_counter()
            result = aod.aoctl("--json", "spawn", "--task", f"benchmark spawn {n}")
            took = time.perf_counter() - started
            if result.returncode != 0:
                raise RuntimeError(f"spawn failed: {result.stderr}\n{aod.log()[-2000:]}")
            session = json.loads(result.stdout)
            assert session["runtime"] and pid_alive(session["runtime"]["pid"]), session
            returned.append(took)
            record = records / f"{session['id']}.jsonl"
            wait_for(lambda: record.exists() and record.stat().st_size > 0, 60, "the first prompt")
            received.append(time.perf_counter() - started)
        for n in range(batch):
            fleet.ok("issue", "add", "--title", f"Benchmark issue {n + 1}", "--body", "Do the thing.")
        started = time.perf_counter()
        result = aod.aoctl("--json", "batch-spawn", *[str(n + 1) for n in range(batch)], timeout=600)
        batch_returned = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(f"batch-spawn failed: {result.stderr}")
        spawned = json.loads(result.stdout)["spawned"]
        assert len(spawned) == batch, result.stdout
        files = [records / f"{s['id']}.jsonl" for s in spawned]
        wait_for(lambda: all(f.exists() and f.stat().st_size > 0 for f in files), 300, "every batch prompt")
        batch_all = time.perf_counter() - started
    finally:
        aod.stop()
        kill_tmux_server(tmux)
        shutil.rmtree(root, ignore_errors=True)
    rows = [
        ["`aoctl spawn` returned (agent running)", len(returned), fmt(median(returned) * 1000, 0), fmt(p95(returned) * 1000, 0), fmt(max(returned) * 1000, 0)],
        ["first prompt received by the agent", len(received), fmt(median(received) * 1000, 0), fmt(p95(received) * 1000, 0), fmt(max(received) * 1000, 0)],
    ]
    out = [
        "### P5: spawn latency",
        "",
        "A real aod (5 s ticks), tmux, git worktrees and the scripted agent; times from just before "
        "`aoctl` starts.",
        "",
        md_table(["one spawn at a time", "n", "median ms", "p95 ms", "max ms"], rows),
        "",
        md_table(
            ["batch-spawn", "sessions", "aoctl returned s", "all first prompts received s", "per session ms"],
            [[f"`aoctl batch-spawn 1..{batch}`", batch, fmt(batch_returned, 2), fmt(batch_all, 2), fmt(batch_returned * 1000 / batch, 0)]],
        ),
    ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spawns", type=int, default=10)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--markdown", action="store_true", help="(the output is always markdown)")
    args = parser.parse_args()
    print(run(args.spawns, args.batch))


if __name__ == "__main__":
    main()
