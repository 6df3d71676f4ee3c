"""The local forge against a real git repository and a real state dir: issues, PRs, CI in a
throwaway checkout, reviews, conflicts seen without touching a working tree, and merges."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trio

from aod.plugins.forge import ForgeError, MergeRefused, NoSuchIssue, RepoTarget, TrackedBranch
from aod.plugins.forge.local import LocalForge
from aod.store import Store


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=dev@example.com", "-c", "user.name=Dev", *args],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "demo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "app.txt").write_text("one\ntwo\nthree\n")
    # CI: passes unless app.txt contains BUG; prints where it ran so a test can check.
    (path / "ci.py").write_text(
        "import os, sys\n"
        "print('ci in', os.getcwd())\n"
        "text = open('app.txt').read()\n"
        "if 'BUG' in text:\n"
        "    print('FAILED test_app: found BUG', file=sys.stderr)\n"
        "    sys.exit(1)\n"
        "print('all good')\n"
    )
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "first")
    return path


@pytest.fixture
def forge(tmp_path: Path) -> LocalForge:
    store = Store(tmp_path / "state")
    store.prepare()
    return LocalForge(store)


def target(repo: Path, ci: bool = True) -> RepoTarget:
    return RepoTarget(
        project="demo", path=str(repo), default_branch="main",
        ci=(sys.executable, "ci.py") if ci else None, ci_timeout=30.0,
    )


def branch_with(repo: Path, name: str, content: str, message: str = "work") -> str:
    worktree = repo.parent / f"wt-{name.replace('/', '-')}"
    if not worktree.exists():
        git(repo, "worktree", "add", "-q", str(worktree), "-b", name, "main")
    (worktree / "app.txt").write_text(content)
    git(worktree, "commit", "-q", "-am", message)
    return git(worktree, "rev-parse", "HEAD")


TRACKED = TrackedBranch(session="demo-1", branch="ao/demo-1", base="main")


async def test_a_failing_ci_sends_its_error_not_only_its_teardown(forge: LocalForge, repo: Path) -> None:
    # The error comes first, then 400 lines of clean-up: the excerpt keeps the error.
    (repo / "ci.py").write_text(
        "import sys\n"
        "print('FAILED tests/test_app.py::test_three - AssertionError: three != 3', flush=True)\n"
        "for i in range(400):\n"
        "    print(f'teardown: stopping service {i}')\n"
        "sys.exit(1)\n"
    )
    git(repo, "commit", "-q", "-am", "a noisy CI")
    tgt = target(repo)
    head = branch_with(repo, "ao/demo-1", "one\ntwo\n3\n")
    await forge.open_pr(tgt, TRACKED, title="t", body="")
    await forge.run_pending_ci_inline(tgt, 1, head)
    facts = (await forge.pull_requests(tgt, [TRACKED])).prs["demo-1"]
    assert facts is not None and facts.checks == "failing"
    (check,) = facts.failing
    assert "FAILED tests/test_app.py::test_three - AssertionError: three != 3" in check.log_excerpt
    assert "teardown: stopping service 399" in check.log_excerpt
    assert "teardown: stopping service 200" not in check.log_excerpt and len(check.log_excerpt) <= 4000
    # The whole output is kept on disk.
    assert "stopping service 200" in forge.store.ci_log_path("demo", head).read_text()


async def test_issues_are_numbered_per_project_and_listed(forge: LocalForge, repo: Path) -> None:
    first = await forge.add_issue("demo", "Fix `rm -rf /`; $(x)", "body\nline", labels=["bug"])
    second = await forge.add_issue("demo", "Second")
    assert (first.number, second.number) == (1, 2)
    issue = await forge.get_issue(target(repo), "#1")
    assert (issue.title, issue.body, issue.labels) == ("Fix `rm -rf /`; $(x)", "body\nline", ("bug",))
    assert [i.id for i in await forge.list_issues(target(repo), labels=["bug"])] == ["1"]
    await forge.close_issue("demo", 2)
    assert [i.id for i in await forge.list_issues(target(repo))] == ["1"]
    assert [i.id for i in await forge.list_issues(target(repo), state="closed")] == ["2"]
    with pytest.raises(NoSuchIssue, match="aoctl issue list"):
        await forge.get_issue(target(repo), "9")


async def test_ci_runs_once_per_head_in_a_throwaway_checkout(forge: LocalForge, repo: Path) -> None:
    tgt = target(repo)
    assert (await forge.pull_requests(tgt, [TRACKED])).prs == {"demo-1": None}
    head = branch_with(repo, "ao/demo-1", "one\nBUG\nthree\n")
    with pytest.raises(ForgeError, match="does not exist"):
        await forge.open_pr(tgt, TrackedBranch(session="x", branch="nope", base="main"), title="t", body="")
    opened = await forge.open_pr(tgt, TRACKED, title="Fix it", body="Closes #1")
    assert (opened.number, opened.state, opened.head_sha, opened.checks) == ("1", "open", head, "pending")

    await forge.run_pending_ci_inline(tgt, 1, head)
    facts = (await forge.pull_requests(tgt, [TRACKED])).prs["demo-1"]
    assert facts is not None and facts.checks == "failing" and facts.mergeable == "mergeable"
    (check,) = facts.failing
    assert "FAILED test_app: found BUG" in check.log_excerpt
    ran_in = check.log_excerpt.split("ci in ", 1)[1].split("\n", 1)[0]
    assert ran_in != str(repo.parent / "wt-ao-demo-1") and "ao-ci-" in ran_in
    assert not Path(ran_in).exists()  # the checkout is gone
    assert "demo/worktrees" not in git(repo, "worktree", "list")
    log_file = forge.store.ci_log_path("demo", head)
    assert "FAILED test_app" in log_file.read_text()

    # Same head again: no new run (the record says failing). A fixed head runs again.
    assert forge._ci_running == set()
    fixed = branch_with(repo, "ao/demo-1", "one\nfixed\nthree\n", "fix")
    facts = (await forge.pull_requests(tgt, [TRACKED])).prs["demo-1"]
    assert facts is not None and (facts.head_sha, facts.checks) == (fixed, "pending")
    await forge.run_pending_ci_inline(tgt, 1, fixed)
    facts = (await forge.pull_requests(tgt, [TRACKED])).prs["demo-1"]
    assert facts is not None and facts.checks == "passing"


async def test_reviews_and_comments_have_ids_and_decide_the_review(forge: LocalForge, repo: Path) -> None:
    tgt = target(repo, ci=False)
    branch_with(repo, "ao/demo-1", "one\ntwo\nthree\nfour\n")
    await forge.open_pr(tgt, TRACKED, title="Add four", body="")
    await forge.review("demo", 1, state="commented", body="typo here", author="ana", path="app.txt", line=4)
    await forge.review("demo", 1, state="changes_requested", body="Please add five too.", author="ana")
    facts = (await forge.pull_requests(tgt, [TRACKED])).prs["demo-1"]
    assert facts is not None and facts.review == "changes_requested" and facts.checks == "none"
    assert [(c.id, c.path, c.line) for c in facts.comments] == [("c1", "app.txt", 4), ("review-r2", "", None)]
    await forge.review("demo", 1, state="approved", body="", author="ana")
    facts = (await forge.pull_requests(tgt, [TRACKED])).prs["demo-1"]
    assert facts is not None and (facts.review, facts.review_id) == ("approved", "r3")


async def test_conflicts_are_seen_without_touching_any_working_tree(forge: LocalForge, repo: Path) -> None:
    tgt = target(repo, ci=False)
    head = branch_with(repo, "ao/demo-1", "one\nmine\nthree\n")
    (repo / "app.txt").write_text("one\ntheirs\nthree\n")
    git(repo, "commit", "-q", "-am", "base moves")
    (repo / "scratch.txt").write_text("uncommitted user work\n")
    status_before = git(repo, "status", "--porcelain")
    facts = await forge.open_pr(tgt, TRACKED, title="t", body="")
    assert facts.mergeable == "conflicting"
    assert git(repo, "status", "--porcelain") == status_before
    with pytest.raises(MergeRefused, match="conflicts"):
        await forge.merge(tgt, "1", expected_head=head, method="merge")


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
async def test_merge_updates_the_base_and_closes_the_issue(forge: LocalForge, repo: Path, method: str) -> None:
    tgt = target(repo, ci=False)
    await forge.add_issue("demo", "Add four")
    head = branch_with(repo, "ao/demo-1", "one\ntwo\nthree\nfour\n")
    await forge.open_pr(tgt, TRACKED, title="Add four", body="Closes #1")
    with pytest.raises(MergeRefused, match="head moved"):
        await forge.merge(tgt, "2", expected_head="0" * 40, method=method)  # type: ignore[arg-type]
    merged = await forge.merge(tgt, "2", expected_head=head, method=method)  # type: ignore[arg-type]
    assert git(repo, "rev-parse", "main") == merged
    assert (repo / "app.txt").read_text() == "one\ntwo\nthree\nfour\n"  # the checked-out base moved too
    parents = git(repo, "log", "-1", "--format=%P", merged).split()
    assert len(parents) == (2 if method == "merge" else 1)
    facts = (await forge.pull_requests(tgt, [TRACKED])).prs["demo-1"]
    assert facts is not None and facts.state == "merged"
    assert [i.state for i in await forge.list_issues(tgt, state="all")] == ["closed"]


async def test_merge_refuses_when_the_checked_out_base_is_dirty(forge: LocalForge, repo: Path) -> None:
    tgt = target(repo, ci=False)
    head = branch_with(repo, "ao/demo-1", "one\ntwo\nthree\nfour\n")
    await forge.open_pr(tgt, TRACKED, title="t", body="")
    (repo / "ci.py").write_text("# the user's unsaved edit\n")
    with pytest.raises(MergeRefused, match="uncommitted changes"):
        await forge.merge(tgt, "1", expected_head=head, method="merge")
    assert (repo / "ci.py").read_text() == "# the user's unsaved edit\n"
    assert git(repo, "log", "-1", "--format=%s", "main") == "first"


async def test_merge_moves_a_base_that_is_not_checked_out_by_compare_and_swap(forge: LocalForge, repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    tgt = target(repo, ci=False)
    head = branch_with(repo, "ao/demo-1", "one\ntwo\nthree\nfour\n")
    await forge.open_pr(tgt, TRACKED, title="t", body="")
    merged = await forge.merge(tgt, "1", expected_head=head, method="squash")
    assert git(repo, "rev-parse", "main") == merged


async def test_ci_runs_in_the_background_with_a_nursery(forge: LocalForge, repo: Path) -> None:
    tgt = target(repo)
    head = branch_with(repo, "ao/demo-1", "one\ntwo\n")
    done = trio.Event()
    forge.on_ci_done = lambda project, number, check: done.set()
    async with trio.open_nursery() as nursery:
        forge.nursery = nursery
        facts = await forge.open_pr(tgt, TRACKED, title="t", body="")
        assert facts.checks == "pending"
        with trio.fail_after(30):
            await done.wait()
    facts = (await forge.pull_requests(tgt, [TRACKED])).prs["demo-1"]
    assert facts is not None and (facts.head_sha, facts.checks) == (head, "passing")


async def test_rebase_merge_of_a_diverged_branch_keeps_authors(forge: LocalForge, repo: Path) -> None:
    tgt = target(repo, ci=False)
    head = branch_with(repo, "ao/demo-1", "one\ntwo\nthree\nfour\n")
    (repo / "other.txt").write_text("base moved\n")
    git(repo, "add", "other.txt")
    git(repo, "commit", "-q", "-m", "base moves")
    await forge.open_pr(tgt, TRACKED, title="t", body="")
    merged = await forge.merge(tgt, "1", expected_head=head, method="rebase")
    assert git(repo, "log", "--format=%s", "-3", merged).splitlines() == ["work", "base moves", "first"]
    assert git(repo, "log", "-1", "--format=%an <%ae> / %cn", merged) == "Dev <dev@example.com> / aod"
    assert (repo / "app.txt").read_text().endswith("four\n") and (repo / "other.txt").exists()
