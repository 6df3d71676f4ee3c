"""aod with a `forge: github` project, end to end against the loopback GitHub emulator: the real
plugin inside a real aod process, driven with aoctl, the scripted agent in real tmux.

A GitHub issue becomes the prompt; the PR GitHub has for the session's branch is found; a
failing Actions job's log excerpt reaches the agent once; review comments reach it once; an
approved, green PR is merged through the API with the head SHA; the budget shows in doctor and
daemon.status."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text, git, make_repo
from tests.support.github_emulator import GithubEmulator
from tests.support.tmux import tmux_server

REPO = "acme/shop"
JOB_LOG = (
    "2026-12-02T10:00:00.0000000Z ##[group]Run pytest\n"
    "2026-12-02T10:00:01.0000000Z collected 3 items\n"
    "2026-12-02T10:00:02.0000000Z FAILED tests/test_cart.py::test_empty_cart - AssertionError: 0 != 1\n"
    "2026-12-02T10:00:02.1000000Z ##[error]Process completed with exit code 1.\n"
)


@pytest.fixture
def emulator() -> Iterator[GithubEmulator]:
    emu = GithubEmulator()
    emu.create_repo(REPO)
    yield emu
    emu.close()


def test_github_issue_to_merge_through_the_api(
    make_aod: Callable[..., AodProcess], tmp_path: Path, emulator: GithubEmulator
) -> None:
    with tmux_server() as tmux:
        aod = make_aod(extra_env={"GH_TOKEN": emulator.token})
        records = aod.root / "records"
        records.mkdir()
        extra = (
            f"github: {{api_url: '{emulator.api_url}', retry_backoff: 10ms, refresh: 1s}}\n"
            "projects:\n  demo: {forge: github, auto_merge: true, merge_method: squash}\n"
        )
        aod.write_config(config_text(tmux, records, extra))
        aod.start()
        repo = make_repo(tmp_path / "demo")
        git(repo, "remote", "add", "origin", emulator.remote_url(REPO))
        fleet = Fleet(aod, tmux, repo)
        fleet.ok("project", "add", str(repo))

        number = emulator.create_issue(REPO, "Empty cart crashes", body="Open the cart with nothing in it.", labels=["bug"])
        listed = fleet.ok("issue", "list", "-l", "bug")
        assert [(i["id"], i["title"]) for i in listed["issues"]] == [(str(number), "Empty cart crashes")]
        sid = fleet.ok("spawn", str(number))["id"]
        wait_for(lambda: any("Empty cart crashes" in m for m in fleet.received(sid)), 30, "the first prompt")
        prompt = fleet.received(sid)[0]
        assert "Open the cart with nothing in it." in prompt and "gh pr create" in prompt

        # The agent (on GitHub) opens a PR for its branch; Actions fails on its head.
        pr = emulator.create_pr(REPO, f"ao/{sid}", title="Fix the empty cart", body=f"Fixes #{number}")
        head = emulator.head_sha(REPO, pr)
        emulator.check_run(REPO, head, "pytest", conclusion="failure", log=JOB_LOG)
        fleet.wait_state(sid, lambda s: s["state"] == "ci_failed", "ci_failed", 30)
        assert fleet.session(sid)["pr_number"] == str(pr)
        # What the tick saw of the PR is on the record: `status --pr` shows it without asking GitHub.
        shown = aod.aoctl("status", "--pr")
        assert shown.returncode == 0, shown.stderr
        header, row = shown.stdout.splitlines()
        assert header.split() == ["ID", "STATE", "PR", "PR", "STATE", "CHECKS", "REVIEW", "MERGEABLE", "URL"]
        assert row.split()[:5] == [sid, "ci_failed", f"#{pr}", "open", "failing"]
        assert row.split()[-1] == fleet.session(sid)["pr_url"] and "/pull/" in row.split()[-1]
        listed = fleet.ok("status", "--pr")[0]
        assert (listed["pr_state"], listed["pr_checks"], listed["pr_review"]) == ("open", "failing", "none")
        try:
            wait_for(lambda: any("test_empty_cart" in m for m in fleet.received(sid)), 30, "the CI message")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{fleet.received(sid)}\n{fleet.ok('history', sid)}\n{aod.log()[-3000:]}") from None
        message = next(m for m in fleet.received(sid) if "test_empty_cart" in m)
        assert "AssertionError: 0 != 1" in message and "pytest" in message

        # A review comment reaches the agent once.
        new_head = emulator.push(REPO, f"ao/{sid}")
        emulator.check_run(REPO, new_head, "pytest", conclusion="success")
        emulator.thread(REPO, pr, "Please name this `is_empty`.", path="cart.py", line=3)
        emulator.review(REPO, pr, "CHANGES_REQUESTED", body="A rename, then good to go.")
        wait_for(lambda: any("is_empty" in m for m in fleet.received(sid)), 30, "the review message")
        review = next(m for m in fleet.received(sid) if "is_empty" in m)
        assert "A rename, then good to go." in review and "cart.py:3" in review

        # Approved and green: aod merges through the API with the head SHA (squash).
        emulator.review(REPO, pr, "APPROVED")
        emulator.set_mergeable(REPO, pr, "MERGEABLE")
        fleet.wait_state(sid, lambda s: s["state"] in ("merged",), "merged", 40)
        merges = [r for r in emulator.requests() if r.method == "PUT" and r.path.endswith(f"/pulls/{pr}/merge")]
        assert len(merges) == 1
        assert merges[0].body["sha"] == new_head and merges[0].body["merge_method"] == "squash"
        assert sum("test_empty_cart" in m for m in fleet.received(sid)) == 1
        assert sum("is_empty" in m for m in fleet.received(sid)) == 1

        status = fleet.aod.result("daemon.status")
        assert status["forges"]["github"]["token_source"] == "GH_TOKEN"
        assert status["last_tick"]["forge_requests"] >= 0
        doctor = subprocess.run(fleet.aod.aoctl("--json", "doctor").args, env=aod.env(), capture_output=True, text=True)
        assert "GitHub token from GH_TOKEN" in doctor.stdout


def test_a_github_project_only_in_config_finds_its_remote(
    make_aod: Callable[..., AodProcess], tmp_path: Path, emulator: GithubEmulator
) -> None:
    repo = make_repo(tmp_path / "shop")
    git(repo, "remote", "add", "origin", emulator.remote_url(REPO))
    aod = make_aod(extra_env={"GH_TOKEN": emulator.token})
    aod.write_config(
        f"github: {{api_url: '{emulator.api_url}', retry_backoff: 10ms}}\n"
        f"projects:\n  shop: {{path: {repo}, forge: github}}\n"  # never `aoctl project add`ed
    )
    aod.start()
    number = emulator.create_issue(REPO, "Checkout button is grey")
    listed = aod.aoctl("--json", "issue", "list", "-p", "shop")
    assert listed.returncode == 0, listed.stderr
    assert [i["id"] for i in json.loads(listed.stdout)["issues"]] == [str(number)]
    projects = json.loads(aod.aoctl("--json", "project", "list").stdout)["projects"]
    assert [(p["name"], p["remote"], p["remote_url"]) for p in projects] == [("shop", "origin", emulator.remote_url(REPO))]
