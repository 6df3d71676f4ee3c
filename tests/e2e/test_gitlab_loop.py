"""aod with a `forge: gitlab` project, end to end against the loopback GitLab emulator (issue 20):
the real plugin inside a real aod process, driven with aoctl, the scripted agent in real tmux.

A GitLab issue becomes the prompt; the MR GitLab has for the session's branch is found; a
failing job's log excerpt reaches the agent once; an unresolved thread reaches it once; an
approved MR with a green pipeline is merged through the API with the head SHA; the issue is
closed and the MR noted on it (issue_sync)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text, git, make_repo
from tests.support.gitlab_emulator import GitlabEmulator
from tests.support.tmux import tmux_server

PROJECT = "acme/web/shop"
JOB_LOG = (
    "\x1b[0KRunning with gitlab-runner 17.0.0\n"
    "$ pytest -q\n"
    "collected 3 items\n"
    "FAILED tests/test_cart.py::test_empty_cart - AssertionError: 0 != 1\n"
    "ERROR: Job failed: exit code 1\n"
)


@pytest.fixture
def gitlab() -> Iterator[GitlabEmulator]:
    emu = GitlabEmulator()
    emu.create_project(PROJECT)
    yield emu
    emu.close()


def test_gitlab_issue_to_merge_through_the_api(make_aod: Callable[..., AodProcess], tmp_path: Path, gitlab: GitlabEmulator) -> None:
    with tmux_server() as tmux:
        aod = make_aod(extra_env={"GITLAB_TOKEN": gitlab.token})
        records = aod.root / "records"
        records.mkdir()
        extra = (
            f"gitlab: {{base_url: '{gitlab.base_url}', retry_backoff: 10ms, refresh: 1s}}\n"
            "projects:\n  demo: {forge: gitlab, auto_merge: true, merge_method: squash, issue_sync: {}}\n"
        )
        aod.write_config(config_text(tmux, records, extra))
        aod.start()
        repo = make_repo(tmp_path / "demo")
        git(repo, "remote", "add", "origin", gitlab.remote_url(PROJECT))
        fleet = Fleet(aod, tmux, repo)
        fleet.ok("project", "add", str(repo))

        number = gitlab.create_issue(PROJECT, "Empty cart crashes", description="Open the cart with nothing in it.", labels=["bug"])
        listed = fleet.ok("issue", "list", "-l", "bug")
        assert [(i["id"], i["title"]) for i in listed["issues"]] == [(str(number), "Empty cart crashes")]
        sid = fleet.ok("spawn", str(number))["id"]
        wait_for(lambda: any("Empty cart crashes" in m for m in fleet.received(sid)), 30, "the first prompt")
        prompt = fleet.received(sid)[0]
        assert "Open the cart with nothing in it." in prompt and "aoctl pr open" in prompt

        # The agent's MR for its branch; the pipeline fails on its head.
        mr = gitlab.create_mr(PROJECT, f"ao/{sid}", title="Fix the empty cart")
        head = gitlab.head_sha(PROJECT, mr)
        gitlab.set_pipeline(PROJECT, head, "failed", jobs=[("pytest", "failed", JOB_LOG), ("lint", "success")])
        fleet.wait_state(sid, lambda s: s["state"] == "ci_failed", "ci_failed", 30)
        assert fleet.session(sid)["pr_number"] == str(mr)
        try:
            wait_for(lambda: any("test_empty_cart" in m for m in fleet.received(sid)), 30, "the CI message")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{fleet.received(sid)}\n{fleet.ok('history', sid)}\n{aod.log()[-3000:]}") from None
        message = next(m for m in fleet.received(sid) if "test_empty_cart" in m)
        assert "AssertionError: 0 != 1" in message and "pytest" in message

        # Green again; an unresolved thread reaches the agent once.
        new_head = gitlab.push(PROJECT, f"ao/{sid}")
        gitlab.set_pipeline(PROJECT, new_head, "success", jobs=[("pytest", "success"), ("lint", "success")])
        gitlab.add_discussion(PROJECT, mr, "Please name this `is_empty`.", file="cart.py", line=3)
        wait_for(lambda: any("is_empty" in m for m in fleet.received(sid)), 30, "the review message")
        review = next(m for m in fleet.received(sid) if "is_empty" in m)
        assert "cart.py:3" in review

        # Approved, green, mergeable: aod merges through the API with the head SHA (squash).
        gitlab.approve(PROJECT, mr)
        fleet.wait_state(sid, lambda s: s["state"] == "merged", "merged", 40)
        merges = [r for r in gitlab.requests() if r.method == "PUT" and r.path.endswith(f"/merge_requests/{mr}/merge")]
        assert len(merges) == 1
        assert merges[0].body["sha"] == new_head and merges[0].body.get("squash") is True
        assert sum("test_empty_cart" in m for m in fleet.received(sid)) == 1
        assert sum("is_empty" in m for m in fleet.received(sid)) == 1
        wait_for(lambda: gitlab.issue(PROJECT, number).state == "closed", 20, "the issue closed")
        url = fleet.session(sid)["pr_url"]
        assert sum(url in n.body for n in gitlab.issue(PROJECT, number).notes) == 1

        status = fleet.aod.result("daemon.status")
        assert status["forges"]["gitlab"]["token_source"] == "GITLAB_TOKEN"
        doctor = subprocess.run(fleet.aod.aoctl("--json", "doctor").args, env=aod.env(), capture_output=True, text=True)
        assert "GitLab token from GITLAB_TOKEN" in doctor.stdout
