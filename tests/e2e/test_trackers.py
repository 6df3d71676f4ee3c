"""Issues from Linear and Jira, code on GitHub (issue 20): the real tracker plugin and the real
GitHub plugin inside a real aod process, each against its loopback emulator, driven with aoctl,
the scripted agent in real tmux.

The issue (by its key, ENG-1 / PROJ-1) becomes the prompt; with `issue_sync` it moves to "In
Progress" when the session starts, and once the PR merged it is linked from the issue and moved
to "Done", once. The tracker is asked only when issues are listed, shown, spawned or synced:
never by the tick."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text, git, make_repo
from tests.support.github_emulator import GithubEmulator
from tests.support.jira_emulator import JiraEmulator
from tests.support.linear_emulator import LinearEmulator
from tests.support.tmux import tmux_server

REPO = "acme/shop"


@pytest.fixture
def github() -> Iterator[GithubEmulator]:
    emu = GithubEmulator()
    emu.create_repo(REPO)
    yield emu
    emu.close()


@pytest.fixture
def linear() -> Iterator[LinearEmulator]:
    emu = LinearEmulator()
    emu.create_team("ENG")
    yield emu
    emu.close()


@pytest.fixture
def jira() -> Iterator[JiraEmulator]:
    emu = JiraEmulator()
    emu.create_project("PROJ")
    yield emu
    emu.close()


def ticks(fleet: Fleet) -> int:
    last = fleet.aod.result("daemon.status")["last_tick"]
    return last["count"] if last else 0


def wait_ticks(fleet: Fleet, n: int) -> None:
    start = ticks(fleet)
    wait_for(lambda: ticks(fleet) >= start + n, 30, f"{n} more ticks")


def start(make_aod: Callable[..., AodProcess], tmp_path: Path, tmux: str, github: GithubEmulator, env: dict[str, str], extra: str) -> Fleet:
    aod = make_aod(extra_env={"GH_TOKEN": github.token, **env})
    records = aod.root / "records"
    records.mkdir()
    aod.write_config(config_text(tmux, records, f"github: {{api_url: '{github.api_url}', retry_backoff: 10ms, refresh: 1s}}\n" + extra))
    aod.start()
    repo = make_repo(tmp_path / "demo")
    git(repo, "remote", "add", "origin", github.remote_url(REPO))
    fleet = Fleet(aod, tmux, repo)
    fleet.ok("project", "add", str(repo))
    return fleet


def merge_on_github(fleet: Fleet, github: GithubEmulator, sid: str) -> int:
    """The agent's PR on GitHub, green and approved: aod merges it (auto_merge)."""
    pr = github.create_pr(REPO, f"ao/{sid}", title="Fix the empty cart")
    github.check_run(REPO, github.head_sha(REPO, pr), "pytest", conclusion="success")
    github.review(REPO, pr, "APPROVED")
    github.set_mergeable(REPO, pr, "MERGEABLE")
    fleet.wait_state(sid, lambda s: s["state"] == "merged", "merged", 40)
    return pr


def test_a_linear_issue_on_a_github_project_moves_to_done_on_merge(
    make_aod: Callable[..., AodProcess], tmp_path: Path, github: GithubEmulator, linear: LinearEmulator
) -> None:
    key = linear.create_issue("ENG", "Empty cart crashes", description="Open the cart with nothing in it.", labels=["bug"])
    linear.comment(key, "It happens on mobile too.")
    other = linear.create_issue("ENG", "Dark mode", labels=["feature"])
    with tmux_server() as tmux:
        fleet = start(
            make_aod, tmp_path, tmux, github, {"LINEAR_API_KEY": linear.token},
            f"linear: {{api_url: '{linear.api_url}', retry_backoff: 10ms}}\n"
            "projects:\n  demo: {scm: github, tracker: linear, linear: {team: ENG}, issue_sync: {}, auto_merge: true}\n",
        )
        listed = fleet.ok("issue", "list", "-l", "bug")
        assert [(i["id"], i["title"]) for i in listed["issues"]] == [(key, "Empty cart crashes")]
        assert {i["id"] for i in fleet.ok("issue", "list")["issues"]} == {key, other}

        sid = fleet.ok("spawn", key)["id"]
        wait_for(lambda: any("Empty cart crashes" in m for m in fleet.received(sid)), 30, "the first prompt")
        prompt = fleet.received(sid)[0]
        assert "Open the cart with nothing in it." in prompt and "It happens on mobile too." in prompt
        wait_for(lambda: linear.issue(key).state.name == "In Progress", 20, "the issue in progress")

        # Working, ticking: Linear is not asked.
        asked = len(linear.requests())
        wait_ticks(fleet, 10)
        assert len(linear.requests()) == asked

        pr = merge_on_github(fleet, github, sid)
        wait_for(lambda: linear.issue(key).state.name == "Done", 30, "the issue done")
        url = fleet.session(sid)["pr_url"]
        assert url.endswith(f"/pull/{pr}")
        linked = [c.body for c in linear.issue(key).comments if url in c.body] + [a.url for a in linear.issue(key).attachments if a.url == url]
        assert len(linked) == 1
        wait_for(
            lambda: any(
                e.get("kind") == "reaction.done" and e.get("action") == "sync-issue" and e.get("state") == "done"
                for e in fleet.ok("history", sid)["entries"]
            ),
            20, "the sync-issue intent done in the history",
        )
        assert linear.issue(other).state.name != "Done"


def test_a_jira_issue_on_a_github_project_moves_to_done_on_merge(
    make_aod: Callable[..., AodProcess], tmp_path: Path, github: GithubEmulator, jira: JiraEmulator
) -> None:
    adf = {
        "type": "doc", "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Open the cart with nothing in it."}]}],
    }
    key = jira.create_issue("PROJ", "Empty cart crashes", description=adf, labels=["bug"])
    with tmux_server() as tmux:
        fleet = start(
            make_aod, tmp_path, tmux, github, {"JIRA_API_TOKEN": jira.token},
            f"jira: {{base_url: '{jira.base_url}', email: {jira.email}, retry_backoff: 10ms}}\n"
            "projects:\n  demo: {scm: github, tracker: jira, jira: {project: PROJ}, issue_sync: {}, auto_merge: true}\n",
        )
        listed = fleet.ok("issue", "list")
        assert [(i["id"], i["title"]) for i in listed["issues"]] == [(key, "Empty cart crashes")]
        shown = fleet.aod.aoctl("issue", "show", key)
        assert shown.returncode == 0 and "Open the cart with nothing in it." in shown.stdout, shown.stderr

        sid = fleet.ok("spawn", key)["id"]
        wait_for(lambda: any("Empty cart crashes" in m for m in fleet.received(sid)), 30, "the first prompt")
        assert "Open the cart with nothing in it." in fleet.received(sid)[0]
        wait_for(lambda: jira.status_of(key) == "In Progress", 20, "the issue in progress")

        asked = len(jira.requests())
        wait_ticks(fleet, 10)
        assert len(jira.requests()) == asked

        merge_on_github(fleet, github, sid)
        wait_for(lambda: jira.status_of(key) == "Done", 30, "the issue done")
        url = fleet.session(sid)["pr_url"]
        assert [link["object"]["url"] for link in jira.remote_links(key)] == [url]
