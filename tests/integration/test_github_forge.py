"""The GitHub forge plugin against a stateful GitHub emulator on loopback.

The plugin runs unmodified with `github.api_url` pointed at the emulator (as for GitHub
Enterprise). Requests are counted on the emulator's side. Waiting out rate limits uses a fake
clock for the plugin, moved together with the emulator's own clock; retries of 5xx answers
use the real clock with millisecond backoffs.
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aod.config import Config
from aod.plugins.forge import (
    ForgeError,
    ForgeUnavailable,
    MergeRefused,
    NoSuchIssue,
    RepoTarget,
    TrackedBranch,
)
from aod.plugins.forge.github import GithubForge, graphql_url, parse_remote, web_host
from tests.support.github_emulator import GithubEmulator

REPO = "acme/shop"

FAILING_LOG = "\r\n".join(
    f"2024-05-01T10:00:{i % 60:02d}.{i:07d}Z {line}"
    for i, line in enumerate(
        [
            "##[group]Run actions/checkout@v4",
            "with:",
            "##[endgroup]",
            "Syncing repository: acme/shop",
            "##[group]Run npm ci",
            "npm ci",
            "##[endgroup]",
            *[f"added package {i}" for i in range(50)],
            "##[group]Run npm test",
            "npm test",
            "shell: /usr/bin/bash -e {0}",
            "##[endgroup]",
            "> shop@1.0.0 test",
            "> jest",
            "PASS src/price.test.js",
            "FAIL src/cart.test.js",
            "  ● cart › totals the items",
            "    expect(received).toBe(expected) // Object.is equality",
            "    Expected: 4",
            "    Received: 3",
            *[f"      at Object.<anonymous> (src/cart.test.js:{i}:5)" for i in range(80)],
            "Tests:       1 failed, 41 passed, 42 total",
            "##[error]Process completed with exit code 1.",
            "Post job cleanup.",
            "Cleaning up orphan processes",
        ]
    )
)


class FakeClock:
    """The plugin's monotonic clock: moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def emulator() -> Iterator[GithubEmulator]:
    emu = GithubEmulator()
    emu.create_repo(REPO)
    yield emu
    emu.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def advance(emulator: GithubEmulator, clock: FakeClock, seconds: float) -> None:
    emulator.advance(seconds)
    clock.now += seconds


def settle(emulator: GithubEmulator) -> None:
    """A few seconds pass on GitHub's side: what was just changed is no longer "just now"
    (updated_at has one-second resolution, so the plugin reads a PR changed in the second it
    looked once more)."""
    emulator.advance(3)


def config(emulator: GithubEmulator, **github: Any) -> Config:
    settings = {"api_url": emulator.api_url, "retry_backoff": 0.005, "timeout": 5, **github}
    return Config.model_validate({"github": settings})


@pytest.fixture
async def make_forge(emulator: GithubEmulator, clock: FakeClock) -> AsyncIterator[Callable[..., GithubForge]]:
    forges: list[GithubForge] = []

    def make(env: dict[str, str] | None = None, **github: Any) -> GithubForge:
        cfg = config(emulator, **github)
        forge = GithubForge(lambda: cfg, env={"GH_TOKEN": emulator.token} if env is None else env, clock=clock)
        forges.append(forge)
        return forge

    yield make
    for forge in forges:
        await forge.aclose()


@pytest.fixture
def forge(make_forge: Callable[..., GithubForge]) -> GithubForge:
    return make_forge()


def target(emulator: GithubEmulator, full_name: str = REPO) -> RepoTarget:
    return RepoTarget(project="shop", path="/nonexistent", default_branch="main", remote_url=emulator.remote_url(full_name))


def track(*branches: str) -> list[TrackedBranch]:
    return [TrackedBranch(session=f"s-{b.replace('/', '-')}", branch=b, base="main") for b in branches]


def session(branch: str) -> str:
    return f"s-{branch.replace('/', '-')}"


# --- issues -----------------------------------------------------------------------------------


async def test_get_issue_with_its_comments(emulator: GithubEmulator, forge: GithubForge) -> None:
    number = emulator.create_issue(REPO, "Cart total is off by one", body="Steps: add two items", labels=["bug"],
                                   assignees=["mona"], milestone="v1.0", author="octocat")
    emulator.comment_issue(REPO, number, "Seen on staging too", author="hubot")

    issue = await forge.get_issue(target(emulator), str(number))

    assert issue.id == str(number)
    assert (issue.title, issue.body, issue.state) == ("Cart total is off by one", "Steps: add two items", "open")
    assert issue.labels == ("bug",) and issue.assignees == ("mona",) and issue.milestone == "v1.0"
    assert issue.author == "octocat"
    assert issue.url == f"{emulator.base_url}/{REPO}/issues/{number}"
    assert [(c.author, c.body) for c in issue.comments] == [("hubot", "Seen on staging too")]


async def test_get_issue_refuses_prs_missing_numbers_and_words(emulator: GithubEmulator, forge: GithubForge) -> None:
    pr = emulator.create_pr(REPO, "ao/one")

    with pytest.raises(NoSuchIssue, match="is a pull request"):
        await forge.get_issue(target(emulator), str(pr))
    with pytest.raises(NoSuchIssue, match="has no issue #99"):
        await forge.get_issue(target(emulator), "99")
    before = emulator.mark()
    with pytest.raises(NoSuchIssue, match="not a number"):
        await forge.get_issue(target(emulator), "fix-the-cart")
    assert emulator.requests(before) == []


async def test_list_issues_with_filters_skipping_prs(emulator: GithubEmulator, forge: GithubForge) -> None:
    bug = emulator.create_issue(REPO, "bug one", labels=["bug", "ui"], assignees=["mona"], milestone="v1.0")
    emulator.create_issue(REPO, "bug two", labels=["bug"], milestone="v2.0")
    emulator.create_issue(REPO, "chore", labels=["chore"], assignees=["mona"])
    closed = emulator.create_issue(REPO, "old bug", labels=["bug"], state="closed")
    emulator.create_pr(REPO, "ao/pr-is-not-an-issue")
    repo = target(emulator)

    assert [i.title for i in await forge.list_issues(repo)] == ["bug one", "bug two", "chore"]
    assert [i.title for i in await forge.list_issues(repo, labels=["bug"])] == ["bug one", "bug two"]
    assert [i.title for i in await forge.list_issues(repo, labels=["bug", "ui"])] == ["bug one"]
    assert [i.title for i in await forge.list_issues(repo, assignee="mona")] == ["bug one", "chore"]
    assert [i.id for i in await forge.list_issues(repo, milestone="v1.0")] == [str(bug)]
    assert [i.id for i in await forge.list_issues(repo, state="closed")] == [str(closed)]
    assert len(await forge.list_issues(repo, state="all")) == 4
    with pytest.raises(ForgeError, match="no milestone 'v9'.*v1.0, v2.0"):
        await forge.list_issues(repo, milestone="v9")


async def test_list_issues_follows_pages_up_to_the_limit(emulator: GithubEmulator, forge: GithubForge) -> None:
    for i in range(230):
        emulator.create_issue(REPO, f"issue {i}")
    before = emulator.mark()

    issues = await forge.list_issues(target(emulator), limit=150)

    assert [i.title for i in issues] == [f"issue {i}" for i in range(150)]
    assert len(emulator.requests(before)) == 2  # pages of 100; the third is never asked for


# --- PR facts ---------------------------------------------------------------------------------


async def test_a_branch_with_a_pr_and_one_without(emulator: GithubEmulator, forge: GithubForge) -> None:
    number = emulator.create_pr(REPO, "ao/one", draft=True)
    sha = emulator.head_sha(REPO, number)
    emulator.check_run(REPO, sha, "tests", conclusion="success")

    report = await forge.pull_requests(target(emulator), track("ao/one", "ao/no-pr-yet"))

    facts = report.prs[session("ao/one")]
    assert facts is not None
    assert facts.number == str(number)
    assert facts.url == f"{emulator.base_url}/{REPO}/pull/{number}"
    assert (facts.state, facts.draft, facts.head_sha, facts.base) == ("open", True, sha, "main")
    assert facts.base_sha == emulator.repo(REPO).branches["main"]
    assert (facts.checks, facts.review, facts.mergeable) == ("passing", "none", "blocked")  # a draft
    assert report.prs[session("ao/no-pr-yet")] is None
    assert report.requests == 2
    assert [r.kind for r in emulator.requests()] == ["rest", "graphql"]


async def test_the_newest_pr_of_a_branch_counts_and_merged_closed_are_told(emulator: GithubEmulator, forge: GithubForge) -> None:
    first = emulator.create_pr(REPO, "ao/one")
    emulator.close_pr(REPO, first)
    emulator.advance(5)
    second = emulator.create_pr(REPO, "ao/one")
    merged = emulator.create_pr(REPO, "ao/two")
    emulator.merge_pr(REPO, merged)

    report = await forge.pull_requests(target(emulator), track("ao/one", "ao/two"))

    one, two = report.prs[session("ao/one")], report.prs[session("ao/two")]
    assert one is not None and (one.number, one.state) == (str(second), "open")
    assert two is not None and two.state == "merged"


async def test_a_forge_that_is_down_reports_nothing_not_no_pr(emulator: GithubEmulator, forge: GithubForge, clock: FakeClock) -> None:
    emulator.create_pr(REPO, "ao/one")
    emulator.fail(502, times=100)

    with pytest.raises(ForgeUnavailable, match="502"):
        await forge.pull_requests(target(emulator), track("ao/one"))
    assert len(emulator.requests()) == 3  # the first try and two retries, then it gives up
    # Right after, the outage is waited out: nothing is sent.
    with pytest.raises(ForgeUnavailable):
        await forge.pull_requests(target(emulator), track("ao/one"))
    assert len(emulator.requests()) == 3


async def test_a_5xx_is_retried_then_succeeds(emulator: GithubEmulator, forge: GithubForge) -> None:
    emulator.create_pr(REPO, "ao/one")
    emulator.fail(502, times=2, kind="rest")

    report = await forge.pull_requests(target(emulator), track("ao/one"))

    assert report.prs[session("ao/one")] is not None
    assert [r.status for r in emulator.requests(kind="rest")] == [502, 502, 200]
    assert report.requests == 4


async def test_a_slow_github_is_given_up_on_within_the_timeout(emulator: GithubEmulator, make_forge: Callable[..., GithubForge]) -> None:
    forge = make_forge(timeout=0.3)
    emulator.slow(3.0)

    with pytest.raises(ForgeUnavailable, match="within 0.3s"):
        await forge.pull_requests(target(emulator), track("ao/one"))


# --- CI -----------------------------------------------------------------------------------------


async def test_red_ci_brings_the_failing_step_and_errors_of_the_job_log(emulator: GithubEmulator, make_forge: Callable[..., GithubForge], clock: FakeClock) -> None:
    forge = make_forge(log_excerpt_chars=1500)
    number = emulator.create_pr(REPO, "ao/one")
    sha = emulator.head_sha(REPO, number)
    emulator.check_run(REPO, sha, "lint", conclusion="success")
    job = emulator.check_run(REPO, sha, "test (node 20)", conclusion="failure", log=FAILING_LOG,
                             title="1 test failed", summary="cart › totals the items")

    report = await forge.pull_requests(target(emulator), track("ao/one"))

    facts = report.prs[session("ao/one")]
    assert facts is not None and facts.checks == "failing"
    [check] = facts.failing
    assert (check.name, check.conclusion) == ("test (node 20)", "failure")
    assert check.url.endswith(f"/actions/runs/{job}/job/{job}")
    assert check.summary == "1 test failed — cart › totals the items"
    assert len(check.log_excerpt) <= 1500
    assert check.log_excerpt.startswith("Failing step: Run npm test")
    for line in ("FAIL src/cart.test.js", "Expected: 4", "Received: 3", "##[error]Process completed with exit code 1."):
        assert line in check.log_excerpt
    assert "added package" not in check.log_excerpt and "2024-05-01T" not in check.log_excerpt
    # The log came from the redirect target, which refuses any request carrying the token.
    blob = emulator.requests(kind="blob")
    assert [r.status for r in blob] == [200] and "authorization" not in blob[0].headers

    # Once per (head SHA, job): later ticks and refreshes of the same head do not fetch it again.
    advance(emulator, clock, 3600)
    again = await forge.pull_requests(target(emulator), track("ao/one"))
    assert again.prs[session("ao/one")] == facts
    assert len(emulator.requests(kind="blob")) == 1
    assert len([r for r in emulator.requests() if r.path.endswith("/logs")]) == 1


async def test_other_ci_providers_and_statuses_give_name_url_and_summary(emulator: GithubEmulator, forge: GithubForge) -> None:
    number = emulator.create_pr(REPO, "ao/one")
    sha = emulator.head_sha(REPO, number)
    emulator.check_run(REPO, sha, "circleci: build", conclusion="timed_out", app="circleci")
    emulator.commit_status(REPO, sha, "ci/jenkins", "pending")
    emulator.commit_status(REPO, sha, "ci/jenkins", "error", target_url="https://jenkins.example.com/7", description="Build broke")

    report = await forge.pull_requests(target(emulator), track("ao/one"))

    facts = report.prs[session("ao/one")]
    assert facts is not None and facts.checks == "failing"
    by_name = {c.name: c for c in facts.failing}
    assert by_name["circleci: build"].conclusion == "timed_out" and by_name["circleci: build"].log_excerpt == ""
    assert (by_name["ci/jenkins"].url, by_name["ci/jenkins"].summary) == ("https://jenkins.example.com/7", "Build broke")
    assert not [r for r in emulator.requests() if r.path.endswith("/logs")]


async def test_running_checks_are_watched_every_tick_until_they_finish(emulator: GithubEmulator, forge: GithubForge) -> None:
    number = emulator.create_pr(REPO, "ao/one")
    run = emulator.check_run(REPO, emulator.head_sha(REPO, number), "tests", status="in_progress")
    repo, branches = target(emulator), track("ao/one")
    settle(emulator)

    first = await forge.pull_requests(repo, branches)
    assert first.prs[session("ao/one")].checks == "pending"  # type: ignore[union-attr]

    # A check finishing does not change the PR's updated_at: the listing says 304, and the
    # pending PR is read anyway.
    mark = emulator.mark()
    still = await forge.pull_requests(repo, branches)
    assert [(r.kind, r.status) for r in emulator.requests(mark)] == [("rest", 304), ("graphql", 200)]
    assert still.prs[session("ao/one")].checks == "pending"  # type: ignore[union-attr]

    emulator.update_check_run(REPO, run, conclusion="success")
    done = await forge.pull_requests(repo, branches)
    assert done.prs[session("ao/one")].checks == "passing"  # type: ignore[union-attr]

    mark = emulator.mark()
    await forge.pull_requests(repo, branches)
    assert [(r.kind, r.status) for r in emulator.requests(mark)] == [("rest", 304)]


# --- reviews ------------------------------------------------------------------------------------


async def test_review_comments_of_unresolved_threads_and_the_changes_requested_body(emulator: GithubEmulator, forge: GithubForge, clock: FakeClock) -> None:
    number = emulator.create_pr(REPO, "ao/one")
    emulator.review(REPO, number, "APPROVED", author="bob")
    review = emulator.review(REPO, number, "CHANGES_REQUESTED", body="Please handle empty carts.", author="alice")
    emulator.review(REPO, number, "COMMENTED", body="(just a note)", author="carol")
    open_thread, first = emulator.thread(REPO, number, "This loop is off by one.", path="src/cart.js", line=12)
    reply = emulator.reply(REPO, number, open_thread, "Also rename `n`.", author="alice")
    done_thread, _ = emulator.thread(REPO, number, "Typo here.", path="README.md", line=3)
    emulator.resolve(REPO, number, done_thread)
    _, bot_comment = emulator.thread(REPO, number, "Coverage dropped by 2%.", path="src/cart.js", line=30, author="codecov", bot=True)
    emulator.check_run(REPO, emulator.head_sha(REPO, number), "tests")
    repo, branches = target(emulator), track("ao/one")
    settle(emulator)

    report = await forge.pull_requests(repo, branches)

    facts = report.prs[session("ao/one")]
    assert facts is not None
    assert (facts.review, facts.review_id) == ("changes_requested", review)
    assert [(c.id, c.author, c.body, c.path, c.line, c.bot) for c in facts.comments] == [
        (review, "alice", "Please handle empty carts.", "", None, False),
        (first, "alice", "This loop is off by one.", "src/cart.js", 12, False),
        (reply, "alice", "Also rename `n`.", "src/cart.js", 12, False),
        (bot_comment, "codecov", "Coverage dropped by 2%.", "src/cart.js", 30, True),
    ]
    assert "Typo here." not in [c.body for c in facts.comments]

    # Ids are stable: the same facts on the next tick (from the cache, 304).
    again = await forge.pull_requests(repo, branches)
    assert again.prs[session("ao/one")] == facts

    # Resolving a thread leaves updated_at alone: the periodic refresh picks it up.
    emulator.resolve(REPO, number, open_thread)
    assert (await forge.pull_requests(repo, branches)).prs[session("ao/one")] == facts
    advance(emulator, clock, 301)
    refreshed = (await forge.pull_requests(repo, branches)).prs[session("ao/one")]
    assert refreshed is not None and [c.id for c in refreshed.comments] == [review, bot_comment]

    # A new request for changes is a new review id.
    emulator.review(REPO, number, "CHANGES_REQUESTED", body="Still empty carts.", author="alice")
    newer = (await forge.pull_requests(repo, branches)).prs[session("ao/one")]
    assert newer is not None and newer.review_id not in ("", review)


async def test_required_reviews_block_until_approved(emulator: GithubEmulator, forge: GithubForge) -> None:
    emulator.create_repo("acme/strict", required_reviews=True)
    number = emulator.create_pr("acme/strict", "ao/one")
    emulator.check_run("acme/strict", emulator.head_sha("acme/strict", number), "tests")
    repo, branches = target(emulator, "acme/strict"), track("ao/one")

    waiting = (await forge.pull_requests(repo, branches)).prs[session("ao/one")]
    assert waiting is not None and (waiting.review, waiting.mergeable) == ("review_required", "blocked")

    approval = emulator.review("acme/strict", number, "APPROVED", author="bob")
    approved = (await forge.pull_requests(repo, branches)).prs[session("ao/one")]
    assert approved is not None
    assert (approved.review, approved.review_id, approved.mergeable, approved.checks) == ("approved", approval, "mergeable", "passing")


async def test_conflicts_are_reported(emulator: GithubEmulator, forge: GithubForge) -> None:
    number = emulator.create_pr(REPO, "ao/one")
    emulator.set_mergeable(REPO, number, "CONFLICTING")

    facts = (await forge.pull_requests(target(emulator), track("ao/one"))).prs[session("ao/one")]

    assert facts is not None and facts.mergeable == "conflicting"


async def test_an_enterprise_without_merge_state_is_asked_without_it(emulator: GithubEmulator, make_forge: Callable[..., GithubForge]) -> None:
    emulator.merge_state_available = False
    forge = make_forge(api_url=emulator.enterprise_api_url)
    emulator.create_pr(REPO, "ao/one")

    facts = (await forge.pull_requests(target(emulator), track("ao/one"))).prs[session("ao/one")]

    assert facts is not None and facts.mergeable == "mergeable"
    assert [(r.kind, r.prefix or r.path) for r in emulator.requests()] == [("rest", "/api/v3"), ("graphql", "/api/graphql"), ("graphql", "/api/graphql")]
    mark = emulator.mark()
    await forge.pull_requests(target(emulator), track("ao/one", "ao/two"))
    assert len(emulator.requests(mark, kind="graphql")) == 1  # remembered: asked without it at once


# --- commands -------------------------------------------------------------------------------------


async def test_approved_and_green_merges_the_expected_head_with_the_method(emulator: GithubEmulator, forge: GithubForge) -> None:
    number = emulator.create_pr(REPO, "ao/one")
    sha = emulator.head_sha(REPO, number)
    emulator.check_run(REPO, sha, "tests")
    emulator.review(REPO, number, "APPROVED")
    repo, branches = target(emulator), track("ao/one")
    facts = (await forge.pull_requests(repo, branches)).prs[session("ao/one")]
    assert facts is not None and (facts.review, facts.checks, facts.mergeable) == ("approved", "passing", "mergeable")

    merge_sha = await forge.merge(repo, facts.number, expected_head=facts.head_sha, method="squash")

    [put] = [r for r in emulator.requests() if r.method == "PUT"]
    assert put.path == f"/repos/{REPO}/pulls/{number}/merge"
    assert put.body == {"sha": sha, "merge_method": "squash"}
    assert merge_sha == emulator.repo(REPO).branches["main"]
    merged = (await forge.pull_requests(repo, branches)).prs[session("ao/one")]
    assert merged is not None and merged.state == "merged"


async def test_closing_a_pr_an_attempt_not_picked_opened(emulator: GithubEmulator, forge: GithubForge) -> None:
    # issue 19: `aoctl pick` closes the other attempts' PRs (PATCH state=closed), not merged.
    number = emulator.create_pr(REPO, "ao/one")
    repo, branches = target(emulator), track("ao/one")

    assert await forge.close_pr(repo, str(number)) == "closed"

    [patch] = [r for r in emulator.requests() if r.method == "PATCH"]
    assert patch.path == f"/repos/{REPO}/pulls/{number}" and patch.body == {"state": "closed"}
    facts = (await forge.pull_requests(repo, branches)).prs[session("ao/one")]
    assert facts is not None and facts.state == "closed"
    assert emulator.pr(REPO, number).merged_at is None
    with pytest.raises(ForgeError, match="has no PR #99"):
        await forge.close_pr(repo, "99")


async def test_a_moved_head_is_not_merged(emulator: GithubEmulator, forge: GithubForge) -> None:
    number = emulator.create_pr(REPO, "ao/one")
    judged = emulator.head_sha(REPO, number)
    emulator.push(REPO, "ao/one")  # the agent pushed again after aod judged the PR

    with pytest.raises(MergeRefused, match=f"no longer {judged[:12]}.*Head branch was modified"):
        await forge.merge(target(emulator), str(number), expected_head=judged, method="merge")
    assert emulator.pr(REPO, number).merged_at is None
    assert len([r for r in emulator.requests() if r.method == "PUT"]) == 1  # never retried


async def test_github_refusing_a_merge_says_why(emulator: GithubEmulator, forge: GithubForge) -> None:
    number = emulator.create_pr(REPO, "ao/one")
    emulator.set_mergeable(REPO, number, "CONFLICTING")

    with pytest.raises(MergeRefused, match="Pull Request is not mergeable"):
        await forge.merge(target(emulator), str(number), expected_head=emulator.head_sha(REPO, number), method="merge")


async def test_open_pr_and_the_one_already_open(emulator: GithubEmulator, forge: GithubForge) -> None:
    emulator.push(REPO, "ao/one")
    branch = TrackedBranch(session="s-1", branch="ao/one", base="main")
    repo = target(emulator)

    opened = await forge.open_pr(repo, branch, title="Fix the cart", body="Closes #1")

    pr = emulator.pr(REPO, int(opened.number))
    assert (pr.title, pr.body, pr.head, pr.base) == ("Fix the cart", "Closes #1", "ao/one", "main")
    assert (opened.state, opened.head_sha, opened.base) == ("open", emulator.head_sha(REPO, pr.number), "main")

    again = await forge.open_pr(repo, branch, title="Fix the cart", body="Closes #1")
    assert again.number == opened.number and again.url == opened.url

    emulator.push(REPO, "ao/empty", emulator.repo(REPO).branches["main"])
    with pytest.raises(ForgeError, match="no commits beyond main"):
        await forge.open_pr(repo, TrackedBranch(session="s-2", branch="ao/empty", base="main"), title="t", body="")


async def test_comment(emulator: GithubEmulator, forge: GithubForge) -> None:
    number = emulator.create_pr(REPO, "ao/one")

    await forge.comment(target(emulator), str(number), "aod: CI is green again.")

    assert [c.body for c in emulator.pr(REPO, number).comments] == ["aod: CI is green again."]
    with pytest.raises(ForgeError, match="no issue or PR #77"):
        await forge.comment(target(emulator), "77", "hello")


# --- rate limits ---------------------------------------------------------------------------------


async def test_primary_rate_limit_waits_for_the_reset_sending_nothing(emulator: GithubEmulator, forge: GithubForge, clock: FakeClock) -> None:
    emulator.create_pr(REPO, "ao/one")
    repo, branches = target(emulator), track("ao/one")
    emulator.exhaust("core", reset_in=60)

    with pytest.raises(ForgeUnavailable) as caught:
        await forge.pull_requests(repo, branches)
    assert caught.value.retry_after is not None and 59 <= caught.value.retry_after <= 62
    assert [(r.kind, r.status) for r in emulator.requests()] == [("rest", 403)]
    status = forge.status()
    assert status["backing_off_until"] is not None
    assert status["rate_limit"]["core"]["remaining"] == 0  # type: ignore[index]

    # Meanwhile: every call fails at once, and nothing reaches GitHub, commands included.
    advance(emulator, clock, 30)
    for _ in range(5):
        with pytest.raises(ForgeUnavailable):
            await forge.pull_requests(repo, branches)
    with pytest.raises(ForgeUnavailable):
        await forge.comment(repo, "1", "hello")
    assert len(emulator.requests()) == 1

    # After the reset (and the jitter), asking resumes.
    advance(emulator, clock, 40)
    report = await forge.pull_requests(repo, branches)
    assert report.prs[session("ao/one")] is not None


async def test_a_spent_graphql_budget_backs_off_graphql(emulator: GithubEmulator, forge: GithubForge, clock: FakeClock) -> None:
    emulator.create_pr(REPO, "ao/one")
    emulator.exhaust("graphql", reset_in=120)

    with pytest.raises(ForgeUnavailable) as caught:
        await forge.pull_requests(target(emulator), track("ao/one"))
    assert caught.value.retry_after is not None and caught.value.retry_after >= 119
    assert [(r.kind, r.status) for r in emulator.requests()] == [("rest", 200), ("graphql", 200)]
    # Meanwhile the free conditional listing still runs; the PR it cannot read is left out
    # (unknown), and the query is never sent.
    mark = emulator.mark()
    report = await forge.pull_requests(target(emulator), track("ao/one"))
    assert report.prs == {}
    assert [(r.kind, r.status) for r in emulator.requests(mark)] == [("rest", 304)]
    advance(emulator, clock, 135)
    assert session("ao/one") in (await forge.pull_requests(target(emulator), track("ao/one"))).prs


async def test_secondary_rate_limit_honours_retry_after(emulator: GithubEmulator, forge: GithubForge, clock: FakeClock) -> None:
    emulator.create_pr(REPO, "ao/one")
    emulator.fail(secondary=True, retry_after=30)
    repo, branches = target(emulator), track("ao/one")

    with pytest.raises(ForgeUnavailable, match="secondary rate limit") as caught:
        await forge.pull_requests(repo, branches)
    assert caught.value.retry_after == 30

    advance(emulator, clock, 25)
    with pytest.raises(ForgeUnavailable):
        await forge.merge(repo, "1", expected_head="abc", method="merge")
    assert len(emulator.requests()) == 1

    advance(emulator, clock, 10)  # 30s and the most jitter (10% of 30s) are over
    assert (await forge.pull_requests(repo, branches)).prs[session("ao/one")] is not None


async def test_429_honours_retry_after(emulator: GithubEmulator, forge: GithubForge, clock: FakeClock) -> None:
    emulator.fail(429, retry_after=12, kind="rest")

    with pytest.raises(ForgeUnavailable) as caught:
        await forge.list_issues(target(emulator))
    assert caught.value.retry_after == 12
    advance(emulator, clock, 5)
    with pytest.raises(ForgeUnavailable):
        await forge.list_issues(target(emulator))
    assert len(emulator.requests()) == 1
    advance(emulator, clock, 9)
    assert await forge.list_issues(target(emulator)) == []


async def test_a_low_budget_spreads_polling_out_and_keeps_a_reserve(emulator: GithubEmulator, forge: GithubForge, clock: FakeClock) -> None:
    number = emulator.create_pr(REPO, "ao/one")
    repo, branches = target(emulator), track("ao/one")
    emulator.set_rate("core", remaining=500, reset_in=3600)  # 10% left for an hour
    await forge.pull_requests(repo, branches)
    emulator.push(REPO, "ao/one")  # busy: each poll costs budget

    # Below 20%: at most half of what is left is spent before the reset (3600s / 250 ≈ 14s apart).
    advance(emulator, clock, 5)
    mark = emulator.mark()
    skipped = await forge.pull_requests(repo, branches)
    assert skipped.prs == {} and emulator.requests(mark) == []  # left out: unknown, never "no PR"
    advance(emulator, clock, 10)
    assert session("ao/one") in (await forge.pull_requests(repo, branches)).prs

    # Below 5%: no polling until the reset; commands still go through.
    emulator.set_rate("core", remaining=100)
    emulator.push(REPO, "ao/one")
    advance(emulator, clock, 20)
    await forge.pull_requests(repo, branches)  # learns the budget from this answer
    mark = emulator.mark()
    for _ in range(3):
        advance(emulator, clock, 60)
        assert (await forge.pull_requests(repo, branches)).prs == {}
    assert emulator.requests(mark) == []
    await forge.comment(repo, str(number), "a command is not polling")
    assert [r.method for r in emulator.requests(mark)] == ["POST"]


# --- what a tick costs ----------------------------------------------------------------------------


async def test_a_quiet_repository_with_100_prs_costs_at_most_2_requests_a_tick(emulator: GithubEmulator, forge: GithubForge) -> None:
    branches = track(*(f"ao/s-{i}" for i in range(100)))
    for branch in branches:
        number = emulator.create_pr(REPO, branch.branch)
        emulator.check_run(REPO, emulator.head_sha(REPO, number), "tests")
    repo = target(emulator)
    settle(emulator)

    first = await forge.pull_requests(repo, branches)
    assert len(first.prs) == 100 and all(f is not None and f.checks == "passing" for f in first.prs.values())
    assert first.requests == 3  # the listing, and two queries of 50 branches

    core_left = emulator.rate("core").remaining
    for _ in range(10):
        mark = emulator.mark()
        report = await forge.pull_requests(repo, branches)
        assert report.prs == first.prs
        assert len(emulator.requests(mark)) <= 2 and report.requests == len(emulator.requests(mark))
    assert emulator.rate("core").remaining == core_left  # 304s cost no budget
    status = forge.status()
    assert status["not_modified"] == 10 and status["requests"] == 13


async def test_a_busy_tick_reads_only_the_prs_that_changed(emulator: GithubEmulator, forge: GithubForge) -> None:
    branches = track(*(f"ao/s-{i}" for i in range(30)))
    for branch in branches:
        number = emulator.create_pr(REPO, branch.branch)
        emulator.check_run(REPO, emulator.head_sha(REPO, number), "tests")
    repo = target(emulator)
    settle(emulator)
    await forge.pull_requests(repo, branches)

    emulator.advance(2)
    new_head = emulator.push(REPO, "ao/s-7")
    emulator.check_run(REPO, new_head, "tests")
    mark = emulator.mark()
    report = await forge.pull_requests(repo, branches)

    sent = emulator.requests(mark)
    assert [(r.kind, r.status) for r in sent] == [("rest", 200), ("graphql", 200)]
    assert {k: v for k, v in sent[1].body["variables"].items() if k.startswith("b")} == {"b0": "ao/s-7"}
    assert report.prs[session("ao/s-7")].head_sha == new_head  # type: ignore[union-attr]
    assert len(report.prs) == 30


async def test_a_merge_into_the_base_rereads_the_prs_on_that_base(emulator: GithubEmulator, forge: GithubForge) -> None:
    for branch in ("ao/a", "ao/b"):
        number = emulator.create_pr(REPO, branch)
        emulator.check_run(REPO, emulator.head_sha(REPO, number), "tests")
    repo, branches = target(emulator), track("ao/a", "ao/b")
    settle(emulator)
    await forge.pull_requests(repo, branches)

    emulator.advance(2)
    emulator.merge_pr(REPO, 1)
    emulator.set_mergeable(REPO, 2, "CONFLICTING")  # main moved under ao/b
    report = await forge.pull_requests(repo, branches)

    assert report.prs[session("ao/a")].state == "merged"  # type: ignore[union-attr]
    assert report.prs[session("ao/b")].mergeable == "conflicting"  # type: ignore[union-attr]


# --- tokens and remotes ---------------------------------------------------------------------------


def fake_gh(tmp_path: Path, script: str) -> dict[str, str]:
    """A `gh` first on PATH (the only stand-in here: gh cannot log in without a network)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text("#!/bin/sh\n" + f'echo "$@" >> "{tmp_path / "gh-calls"}"\n' + script)
    gh.chmod(gh.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


async def test_token_from_gh_token_or_github_token(emulator: GithubEmulator, make_forge: Callable[..., GithubForge]) -> None:
    for name in ("GH_TOKEN", "GITHUB_TOKEN"):
        forge = make_forge(env={name: emulator.token, "PATH": "/nonexistent"})
        assert forge.token_source() == name
        await forge.list_issues(target(emulator))
        assert emulator.requests()[-1].headers["authorization"] == f"Bearer {emulator.token}"
        assert emulator.token not in str(forge.status())
    both = make_forge(env={"GH_TOKEN": emulator.token, "GITHUB_TOKEN": "other"})
    assert both.token_source() == "GH_TOKEN"


async def test_token_from_gh_auth_token_runs_gh_once(emulator: GithubEmulator, make_forge: Callable[..., GithubForge], tmp_path: Path) -> None:
    env = fake_gh(tmp_path, f'[ "$1 $2" = "auth token" ] || exit 2\necho "{emulator.token}"\n')
    forge = make_forge(env=env)
    assert forge.token_source() is None  # not asked yet

    await forge.list_issues(target(emulator))
    await forge.pull_requests(target(emulator), track("ao/one"))

    assert forge.token_source() == "gh auth token"
    # Not github.com: gh is asked for that host's token, as for GitHub Enterprise.
    assert (tmp_path / "gh-calls").read_text().splitlines() == ["auth token --hostname 127.0.0.1"]
    assert all(r.headers["authorization"] == f"Bearer {emulator.token}" for r in emulator.requests())


async def test_no_token_at_all_says_what_to_do_and_sends_nothing(emulator: GithubEmulator, make_forge: Callable[..., GithubForge], tmp_path: Path) -> None:
    env = fake_gh(tmp_path, 'echo "You are not logged into any GitHub hosts. To log in, run: gh auth login" >&2\nexit 1\n')
    forge = make_forge(env=env)

    with pytest.raises(ForgeError, match="GH_TOKEN and GITHUB_TOKEN are unset.*not logged into.*gh auth login"):
        await forge.pull_requests(target(emulator), track("ao/one"))
    assert await forge.token_problem() is not None
    assert (tmp_path / "gh-calls").read_text().count("auth token") == 1  # a failure is remembered a while
    assert emulator.requests() == []

    missing = make_forge(env={"PATH": str(tmp_path / "empty")})
    with pytest.raises(ForgeError, match="gh is not installed"):
        await missing.list_issues(target(emulator))


async def test_a_rejected_token_is_a_clear_error(emulator: GithubEmulator, make_forge: Callable[..., GithubForge]) -> None:
    forge = make_forge(env={"GH_TOKEN": "ghp_wrong"})

    with pytest.raises(ForgeError, match="refused the token.*Bad credentials.*GH_TOKEN") as caught:
        await forge.list_issues(target(emulator))
    assert "ghp_wrong" not in str(caught.value)


@pytest.mark.parametrize(
    "remote",
    [
        "https://github.com/acme/shop",
        "https://github.com/acme/shop.git",
        "https://github.com/acme/shop/",
        "https://x-access-token:ghs_secret@github.com/acme/shop.git",
        "git@github.com:acme/shop.git",
        "ssh://git@github.com/acme/shop.git",
        "ssh://git@ssh.github.com:443/acme/shop.git",
    ],
)
def test_remotes_that_name_a_github_repository(remote: str) -> None:
    assert parse_remote(remote, "github.com") == ("acme", "shop")


@pytest.mark.parametrize(
    ("remote", "message"),
    [
        ("https://gitlab.com/acme/shop.git", "not a repository on github.com"),
        ("git@bitbucket.org:acme/shop.git", "not a repository on github.com"),
        ("https://github.com/acme", "does not name one repository"),
        ("/srv/git/shop.git", "not a GitHub remote"),
        ("file:///srv/git/shop.git", "not a GitHub remote"),
        (None, "no remote URL"),
    ],
)
def test_remotes_that_do_not(remote: str | None, message: str) -> None:
    with pytest.raises(ForgeError, match=message):
        parse_remote(remote, "github.com")


def test_a_credential_in_a_remote_is_never_echoed() -> None:
    with pytest.raises(ForgeError) as caught:
        parse_remote("https://user:hunter2@gitlab.com/acme/shop.git", "github.com")
    assert "hunter2" not in str(caught.value)


async def test_a_non_github_remote_fails_before_any_request(emulator: GithubEmulator, forge: GithubForge) -> None:
    repo = RepoTarget(project="shop", path="/x", default_branch="main", remote_url="https://gitlab.com/acme/shop.git")

    with pytest.raises(ForgeError, match="github.api_url"):
        await forge.pull_requests(repo, track("ao/one"))
    assert emulator.requests() == []


def test_enterprise_urls_are_derived() -> None:
    def github(**settings: Any) -> Any:
        return Config.model_validate({"github": settings}).github

    assert graphql_url(github()) == "https://api.github.com/graphql"
    assert web_host(github()) == "github.com"
    assert graphql_url(github(api_url="https://ghe.example.com/api/v3/")) == "https://ghe.example.com/api/graphql"
    assert web_host(github(api_url="https://ghe.example.com/api/v3")) == "ghe.example.com"
    assert web_host(github(api_url="https://api.octo.ghe.com")) == "octo.ghe.com"
    assert graphql_url(github(graphql_url="https://gql.example.com/q")) == "https://gql.example.com/q"


async def test_asking_about_one_session_keeps_the_others_known(emulator: GithubEmulator, forge: GithubForge) -> None:
    for branch in ("ao/a", "ao/b", "ao/c"):
        number = emulator.create_pr(REPO, branch)
        emulator.check_run(REPO, emulator.head_sha(REPO, number), "tests")
    repo, branches = target(emulator), track("ao/a", "ao/b", "ao/c")
    settle(emulator)
    await forge.pull_requests(repo, branches)

    await forge.pull_requests(repo, track("ao/b"))  # `aoctl pr show` for one session
    mark = emulator.mark()
    report = await forge.pull_requests(repo, branches)

    assert len(report.prs) == 3
    assert [(r.kind, r.status) for r in emulator.requests(mark)] == [("rest", 304)]


async def test_an_error_never_makes_the_next_look_more_expensive(emulator: GithubEmulator, forge: GithubForge, clock: FakeClock) -> None:
    for i in range(60):
        number = emulator.create_pr(REPO, f"ao/s-{i}")
        emulator.check_run(REPO, emulator.head_sha(REPO, number), "tests")
    repo, branches = target(emulator), track(*(f"ao/s-{i}" for i in range(60)))
    settle(emulator)
    await forge.pull_requests(repo, branches)

    for fail in (
        lambda: emulator.fail(502, times=3),
        lambda: emulator.fail(secondary=True, retry_after=10),
        lambda: emulator.exhaust("core", reset_in=20),
        lambda: emulator.fail(429),
    ):
        fail()
        with pytest.raises(ForgeUnavailable) as caught:
            await forge.pull_requests(repo, branches)
        advance(emulator, clock, (caught.value.retry_after or 0) * 1.2 + 1)
        mark = emulator.mark()
        report = await forge.pull_requests(repo, branches)
        assert len(report.prs) == 60
        assert [(r.kind, r.status) for r in emulator.requests(mark)] == [("rest", 304)]


def test_github_forge_has_the_forge_slot_s_methods_and_signatures() -> None:
    import inspect

    from aod.plugins.forge import Forge

    assert GithubForge.kind == "github"
    for name, member in vars(Forge).items():
        if name.startswith("_") or not callable(member):
            continue
        ours = getattr(GithubForge, name)
        assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(member), name
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(member).parameters), name


async def test_issue_sync_closes_the_issue_and_links_the_pr_once(emulator: GithubEmulator, forge: GithubForge) -> None:
    """issue 20: GitHub as the tracker of a project whose PRs are elsewhere (issue_sync)."""
    from aod.plugins.tracker import NoSuchState

    number = emulator.create_issue(REPO, "Cart total is off by one")
    with pytest.raises(NoSuchState, match="open or closed"):
        await forge.move_issue(target(emulator), str(number), "In Progress")
    assert await forge.move_issue(target(emulator), str(number), "open") == "open"
    patches = [r for r in emulator.requests() if r.method == "PATCH"]
    assert patches == []  # already open: nothing written
    url = "https://gitlab.example.com/acme/shop/-/merge_requests/7"
    await forge.link_pr(target(emulator), str(number), url=url, title="MR !7: fix the total")
    await forge.link_pr(target(emulator), str(number), url=url, title="MR !7: fix the total")
    issue = await forge.get_issue(target(emulator), str(number))
    assert [c.body for c in issue.comments] == [f"MR !7: fix the total\n\n{url}"]
    assert await forge.move_issue(target(emulator), str(number), "Closed") == "closed"
    assert (await forge.get_issue(target(emulator), str(number))).state == "closed"
    assert len([r for r in emulator.requests() if r.method == "PATCH"]) == 1
