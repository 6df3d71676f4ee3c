"""What a tick costs the GitLab plugin: requests per tick for 1, 10 and 100 open merge requests
in one project, quiet and busy, counted on the emulator's side (tests/support/gitlab_emulator.py).

    python -m tests.bench.bench_gitlab_requests [--ticks N]

quiet: nothing changes between ticks (every MR's pipeline green).
busy:  every tick a tenth of the MRs (at least one) gets a new push whose pipeline runs for a
       tick and then passes (every third fails, with a job log), and one MR gets a thread.
Target (issue 20): at most 2 requests a tick at 100 open MRs besides job logs; 1 when quiet.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import trio

from aod.config import Config
from aod.plugins.forge import RepoTarget, TrackedBranch
from aod.plugins.forge.gitlab import GitlabForge
from tests.support.gitlab_emulator import GitlabEmulator

PROJECT = "acme/web/shop"
TICK = 5.0
FAILED_LOG = "\n".join([f"test line {i}" for i in range(500)] + ["FAILED tests/test_x.py::test_y", "ERROR: Job failed: exit code 1"])


@dataclass
class Row:
    mrs: int
    scenario: str
    ticks: int
    requests: float
    graphql: float
    traces: float
    worst: int
    """The most requests of one tick, job logs left out."""
    ms: float


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def measure(mrs: int, scenario: str, ticks: int) -> Row:
    emulator = GitlabEmulator(rate_limit=1_000_000)
    clock = Clock()
    cfg = Config.model_validate({"gitlab": {"base_url": emulator.base_url}})
    forge = GitlabForge(lambda: cfg, env={"GITLAB_TOKEN": emulator.token}, clock=clock)
    try:
        emulator.create_project(PROJECT)
        branches = [TrackedBranch(session=f"s-{i}", branch=f"ao/s-{i}", base="main") for i in range(mrs)]
        for branch in branches:
            iid = emulator.create_mr(PROJECT, branch.branch)
            emulator.set_pipeline(PROJECT, emulator.head_sha(PROJECT, iid), "success", [("test", "success")])
        repo = RepoTarget(project="shop", path="/x", default_branch="main", remote_url=emulator.remote_url(PROJECT))
        running: list[int] = []

        def step() -> None:
            emulator.advance(TICK)
            clock.now += TICK

        step()
        await forge.pull_requests(repo, branches)
        worst = 0
        sent_total = []
        started = time.perf_counter()
        for tick in range(ticks):
            step()
            if scenario == "busy":
                for n, pipeline in enumerate(running):
                    if (tick + n) % 3:
                        emulator.update_pipeline(PROJECT, pipeline, "success", {"test": ("success", "")})
                    else:
                        emulator.update_pipeline(PROJECT, pipeline, "failed", {"test": ("failed", FAILED_LOG)})
                running.clear()
                share = max(1, mrs // 10)
                for i in range(share):
                    branch = branches[(tick * share + i) % mrs].branch
                    sha = emulator.push(PROJECT, branch)
                    running.append(emulator.set_pipeline(PROJECT, sha, "running", [("test", "running")]).id)
                emulator.add_discussion(PROJECT, 1 + tick % mrs, f"comment {tick}")
            mark = emulator.mark()
            report = await forge.pull_requests(repo, branches)
            assert len(report.prs) == mrs, "every session known"
            sent = emulator.requests(mark)
            sent_total.extend(sent)
            worst = max(worst, sum(not r.path.endswith("/trace") for r in sent))
        elapsed = time.perf_counter() - started
        return Row(
            mrs=mrs, scenario=scenario, ticks=ticks,
            requests=len(sent_total) / ticks,
            graphql=sum(r.kind == "graphql" for r in sent_total) / ticks,
            traces=sum(r.path.endswith("/trace") for r in sent_total) / ticks,
            worst=worst,
            ms=elapsed * 1000 / ticks,
        )
    finally:
        await forge.aclose()
        emulator.close()


async def main(ticks: int) -> int:
    rows = [await measure(mrs, scenario, ticks) for mrs in (1, 10, 100) for scenario in ("quiet", "busy")]
    print("### GitLab plugin: requests per tick (issue 20)\n")
    print(f"{ticks} ticks each, one project; counted on the emulator's side. *worst*: the most requests of one tick")
    print("besides job logs (target: <= 2 at 100 MRs, 1 when quiet); *logs*: `/jobs/:id/trace`, once per head and job.\n")
    print("| MRs | scenario | requests/tick | GraphQL/tick | logs/tick | worst | ms/tick |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    failed = False
    for row in rows:
        print(f"| {row.mrs} | {row.scenario} | {row.requests:.2f} | {row.graphql:.2f} | {row.traces:.2f} | {row.worst} | {row.ms:.1f} |")
        failed |= row.worst > 2 or (row.scenario == "quiet" and row.requests > 1)
    if failed:
        print("\n**Target missed.**")
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticks", type=int, default=20)
    sys.exit(trio.run(main, parser.parse_args().ticks))
