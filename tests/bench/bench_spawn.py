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

All of it twice: on an empty fleet, and beside 1,000 existing sessions (`--fleet`) of the same
project, each with its git worktree registered in the repo (`git worktree add`), its live tmux
pane (an agent at its prompt) on the same tmux server and its record on disk: what spawn does must
not grow with the fleet (P5: <= 250 ms for one, <= 2.5 s for the batch, at both sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from tests.bench._common import fmt, md_table, median, p95, wait_ticks
from tests.support.aod_process import AodProcess, short_tempdir, wait_for
from tests.support.fleet import Fleet, config_text, git, make_repo
from tests.support.seed import make_idle_panes, seed_sessions
from tests.support.tmux import kill_tmux_server, tmux_socket_name


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


ONE_TARGET_MS = 250.0
BATCH_TARGET_S = 2.5


def seed_fleet(aod: AodProcess, tmux: str, repo: Path, size: int) -> None:
    """`size` sessions of project `demo`, as a fleet that has been running a while leaves them:
    a registered worktree on its own branch, a live pane, a record (aod stopped meanwhile)."""
    worktrees = repo.parent / "worktrees"
    for n in range(1, size + 1):
        git(repo, "worktree", "add", "-q", "--no-checkout", "-b", f"ao/demo-{n}", str(worktrees / f"demo-{n}"))
    names = [f"demo-{n}" for n in range(1, size + 1)]
    panes = make_idle_panes(tmux, names)
    seed_sessions(aod.state_dir, size, project="demo", panes=panes, tmux_socket=tmux,
                  workspaces={name: str(worktrees / name) for name in names})


def run(spawns: int, batch: int, fleet_size: int) -> tuple[list[list[object]], list[list[object]]]:
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
        if fleet_size:
            aod.stop()
            seed_fleet(aod, tmux, fleet.repo, fleet_size)
            aod.start()
            # Timed once the fleet is steady, as a fleet that has been running is: the first
            # ticks after a start record each seeded session's state as observed (a write each).
            wait_ticks(aod, 3, timeout=300)
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
        numbers = [str(fleet.ok("issue", "add", "--title", f"Benchmark issue {n + 1}", "--body", "Do the thing.")["id"]) for n in range(batch)]
        started = time.perf_counter()
        result = aod.aoctl("--json", "batch-spawn", *numbers, timeout=600)
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
    label = f"beside {fleet_size} sessions" if fleet_size else "empty fleet"
    one = median(returned) * 1000
    rows = [
        [f"`aoctl spawn` returned (agent running), {label}", len(returned), fmt(one, 0), fmt(p95(returned) * 1000, 0),
         fmt(max(returned) * 1000, 0), "met" if one <= ONE_TARGET_MS else "**missed**"],
        [f"first prompt received by the agent, {label}", len(received), fmt(median(received) * 1000, 0),
         fmt(p95(received) * 1000, 0), fmt(max(received) * 1000, 0), ""],
    ]
    batch_rows = [[
        f"`aoctl batch-spawn` of {batch} issues, {label}", batch, fmt(batch_returned, 2), fmt(batch_all, 2),
        fmt(batch_returned * 1000 / batch, 0), "met" if batch_returned <= BATCH_TARGET_S else "**missed**",
    ]]
    return rows, batch_rows


def report(spawns: int, batch: int, fleets: list[int]) -> str:
    rows: list[list[object]] = []
    batch_rows: list[list[object]] = []
    for size in fleets:
        one, many = run(spawns, batch, size)
        rows += one
        batch_rows += many
    out = [
        "### P5: spawn latency",
        "",
        "A real aod (5 s ticks), tmux, git worktrees and the scripted agent; times from just before "
        "`aoctl` starts. Beside a fleet: its sessions have registered worktrees, live panes on the same "
        f"tmux server and records, and aod ticks over all of them meanwhile. Targets: one spawn <= {ONE_TARGET_MS:.0f} ms, "
        f"a batch of 20 <= {BATCH_TARGET_S} s, at every fleet size.",
        "",
        md_table(["one spawn at a time", "n", "median ms", "p95 ms", "max ms", "target"], rows),
        "",
        md_table(
            ["batch-spawn", "sessions", "aoctl returned s", "all first prompts received s", "per session ms", "target"],
            batch_rows,
        ),
    ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spawns", type=int, default=10)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--fleet", default="0,1000", help="existing sessions beside the spawns, comma-separated sizes")
    parser.add_argument("--markdown", action="store_true", help="(the output is always markdown)")
    args = parser.parse_args()
    print(report(args.spawns, args.batch, [int(n) for n in args.fleet.split(",")]))


if __name__ == "__main__":
    main()
