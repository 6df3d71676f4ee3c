"""Overlap warnings (issue 19): what the tick's overlap step adds, at 100 live worktrees.

    python -m tests.bench.bench_overlap [--sessions 100] [--ticks 50]

A real repository with `--sessions` linked worktrees, each with some work of its own (a commit,
an untracked file; one file shared by every pair of neighbours, so there are overlaps to keep).
Timed, in process: the step's own work per tick — the changed paths (aod/changed_paths.py: stat
calls, and git only for worktrees that moved) and the pure rule (aod/overlap.py) over all of
them — with the subprocesses counted by aod's own counter (aod.proc.COUNTER). Cases: every
worktree quiet; N of them with an unstaged edit their agent made (moved); N with a new commit.
Record writes happen only when a pair starts or stops overlapping, which no quiet tick does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import trio

from aod import overlap
from aod.changed_paths import ChangedPaths, WorktreeLook
from aod.proc import COUNTER
from tests.bench._common import fmt, md_table, median, p95


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_fleet(root: Path, count: int) -> list[Path]:
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "b@example.com")
    git(repo, "config", "user.name", "Bench")
    for n in range(200):
        (repo / f"src{n:03}.py").write_text(f"x = {n}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    paths = []
    for n in range(count):
        path = root / f"wt{n:03}"
        git(repo, "worktree", "add", "-q", "-b", f"ao/s{n}", str(path), "main")
        (path / f"own{n}.py").write_text("mine\n")
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", "own")
        (path / f"src{n // 2:03}.py").write_text("shared by a pair\n")  # pairs of neighbours overlap
        (path / f"untracked{n}.txt").write_text("u\n")
        paths.append(path)
    return paths


async def run(count: int, ticks: int) -> str:
    with tempfile.TemporaryDirectory(prefix="aod-bench-overlap-") as tmp:
        worktrees = make_fleet(Path(tmp), count)
        ids = [f"s-{n}" for n in range(count)]
        created = [f"2026-01-01T00:00:{n % 60:02}.{n:03}Z" for n in range(count)]
        paths = ChangedPaths()
        records: dict[str, list] = {}

        async def tick(moved: set[str] = frozenset()) -> tuple[float, int]:  # type: ignore[assignment]
            started, forks = time.perf_counter(), COUNTER.started
            looks = [WorktreeLook(i, str(p), ("refs/heads/main",), i in moved) for i, p in zip(ids, worktrees, strict=True)]
            seen = await paths.look(looks)
            changes = [overlap.Changes(i, c, seen.get(i)) for i, c in zip(ids, created, strict=True)]
            wanted = overlap.next_overlaps(records, changes, "2026-01-01T01:00:00Z")
            for session_id, entries in wanted.items():
                if entries != records.get(session_id, []):
                    records[session_id] = entries
            return (time.perf_counter() - started) * 1000, COUNTER.started - forks

        first_ms, first_forks = await tick()
        pairs = sum(len(v) for v in records.values()) // 2
        quiet = [await tick() for _ in range(ticks)]
        rows = [
            ["first look (cache empty, e.g. after a restart)", fmt(first_ms), "-", first_forks],
            [f"{count} quiet", fmt(median([q[0] for q in quiet]), 2), fmt(p95([q[0] for q in quiet]), 2), max(q[1] for q in quiet)],
        ]
        for changed in (1, 10, count):
            edited = ids[:changed]
            for n in range(changed):
                (worktrees[n] / f"edit{time.time_ns()}.txt").write_text("e\n")
            ms, forks = await tick(set(edited))
            rows.append([f"{changed} with an unstaged edit (agent moved)", fmt(ms, 2), "-", forks])
        for changed in (1, 10):
            for n in range(changed):
                git(worktrees[n], "commit", "-q", "--allow-empty", "-m", "more")
            ms, forks = await tick()
            rows.append([f"{changed} with a new commit", fmt(ms, 2), "-", forks])
        table = md_table(["worktrees", "ms per tick (median)", "p95", "subprocesses"], rows)
        return (
            "### Overlap warnings (issue 19): the tick's overlap step\n\n"
            f"Overlap step at {count} live worktrees ({pairs} overlapping pairs kept), {ticks} quiet ticks; "
            f"{os.cpu_count()} CPUs.\n\n{table}\n"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--ticks", type=int, default=50)
    args = parser.parse_args()
    print(trio.run(run, args.sessions, args.ticks))


if __name__ == "__main__":
    main()
