"""What a tick costs the GitHub forge: requests per tick for 1, 10 and 100 open PRs in one
repository, quiet and busy, counted on the emulator's side (tests/support/github_emulator.py).

    python -m tests.bench.bench_forge_requests [--ticks N]

quiet: nothing changes between ticks (every PR green, reviewed or not, mergeable).
busy:  every tick a tenth of the PRs (at least one) gets a new push whose CI runs for a tick
       and then passes (every third fails, with a job log), and one PR gets a review comment.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import trio

from aod.config import Config
from aod.plugins.forge import RepoTarget, TrackedBranch
from aod.plugins.forge.github import GithubForge
from tests.support.github_emulator import GithubEmulator

REPO = "acme/shop"
TICK = 5.0  # seconds between ticks, as aod's default poll_interval
FAILED_LOG = "\n".join(
    ["2024-05-01T10:00:00.0000000Z ##[group]Run pytest", "2024-05-01T10:00:00.0000000Z ##[endgroup]"]
    + [f"2024-05-01T10:00:01.0000000Z test line {i}" for i in range(500)]
    + ["2024-05-01T10:00:02.0000000Z FAILED tests/test_x.py::test_y", "2024-05-01T10:00:02.0000000Z ##[error]Process completed with exit code 1."]
)


@dataclass
class Row:
    prs: int
    scenario: str
    ticks: int
    requests: float
    not_modified: float
    graphql: float
    rest_200: float
    logs: float
    ms: float


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def measure(prs: int, scenario: str, ticks: int) -> Row:
    emulator = GithubEmulator(rate_limit=1_000_000, graphql_limit=1_000_000)
    clock = Clock()
    cfg = Config.model_validate({"github": {"api_url": emulator.api_url}})
    forge = GithubForge(lambda: cfg, env={"GH_TOKEN": emulator.token}, clock=clock)
    try:
        emulator.create_repo(REPO)
        branches = [TrackedBranch(session=f"s-{i}", branch=f"ao/s-{i}", base="main") for i in range(prs)]
        pending: list[int] = []
        for branch in branches:
            number = emulator.create_pr(REPO, branch.branch)
            emulator.check_run(REPO, emulator.head_sha(REPO, number), "tests")
        repo = RepoTarget(project="shop", path="/x", default_branch="main", remote_url=emulator.remote_url(REPO))

        def step() -> None:
            emulator.advance(TICK)
            clock.now += TICK

        step()
        await forge.pull_requests(repo, branches)  # the first look reads everything
        step()
        await forge.pull_requests(repo, branches)
        mark = emulator.mark()
        started = time.perf_counter()
        for tick in range(ticks):
            step()
            if scenario == "busy":
                for n, run in enumerate(pending):
                    if (tick + n) % 3:
                        emulator.update_check_run(REPO, run, conclusion="success")
                    else:
                        emulator.update_check_run(REPO, run, conclusion="failure", log=FAILED_LOG)
                pending.clear()
                for i in range(max(1, prs // 10)):
                    branch = branches[(tick * max(1, prs // 10) + i) % prs].branch
                    sha = emulator.push(REPO, branch)
                    pending.append(emulator.check_run(REPO, sha, "tests", status="in_progress"))
                number = 1 + tick % prs
                emulator.thread(REPO, number, f"comment {tick}")
            await forge.pull_requests(repo, branches)
        elapsed = time.perf_counter() - started
        sent = emulator.requests(mark)
        return Row(
            prs=prs, scenario=scenario, ticks=ticks,
            requests=len(sent) / ticks,
            not_modified=sum(r.status == 304 for r in sent) / ticks,
            graphql=sum(r.kind == "graphql" for r in sent) / ticks,
            rest_200=sum(r.kind == "rest" and r.status == 200 for r in sent) / ticks,
            logs=sum(r.path.endswith("/logs") or r.kind == "blob" for r in sent) / ticks,  # redirect + download
            ms=elapsed * 1000 / ticks,
        )
    finally:
        await forge.aclose()
        emulator.close()


async def main(ticks: int) -> None:
    rows = [await measure(prs, scenario, ticks) for prs in (1, 10, 100) for scenario in ("quiet", "busy")]
    print(f"GitHub forge: requests per tick ({ticks} ticks each, one repository)")
    print("(requests = all HTTP requests; a 304 costs no rate limit; logs = job-log redirect + download)\n")
    print(f"{'PRs':>4}  {'scenario':<8} {'requests':>9} {'of them 304':>12} {'GraphQL':>8} {'REST 200':>9} {'logs':>5} {'ms/tick':>8}")
    for row in rows:
        print(
            f"{row.prs:>4}  {row.scenario:<8} {row.requests:>9.2f} {row.not_modified:>12.2f} "
            f"{row.graphql:>8.2f} {row.rest_200:>9.2f} {row.logs:>5.2f} {row.ms:>8.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticks", type=int, default=20)
    trio.run(main, parser.parse_args().ticks)
