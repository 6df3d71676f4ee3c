"""Sessions and the project's real git remote (a bare repository on disk): new sessions start
from the remote's base branch, fetched once per spawn batch; `push: auto` pushes their work.

aod and aoctl are processes, git is real, tmux is real, the scripted agent stands in for a model."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text, git, make_repo
from tests.support.github_emulator import GithubEmulator
from tests.support.tmux import tmux_server


def bare_remote(tmp_path: Path, project: Path) -> Path:
    """A bare repository `project` pushes to as `origin`, holding its main; fetches from it are
    counted (each runs its upload-pack through a wrapper that notes the call)."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(project, "remote", "add", "origin", str(bare))
    git(project, "push", "-q", "origin", "main")
    counter = tmp_path / "upload-pack"
    counter.write_text(f'#!/bin/sh\necho fetch >> "{tmp_path / "fetches"}"\nexec git-upload-pack "$@"\n')
    counter.chmod(0o755)
    git(project, "config", "remote.origin.uploadpack", str(counter))
    return bare


def fetches(tmp_path: Path) -> int:
    counted = tmp_path / "fetches"
    return len(counted.read_text().splitlines()) if counted.exists() else 0


def commit_elsewhere(tmp_path: Path, bare: Path, name: str) -> str:
    """Someone else's commit lands on the remote's main (a PR merged on the forge)."""
    other = tmp_path / f"other-{name}"
    if not other.exists():
        git(tmp_path, "clone", "-q", str(bare), str(other))
        git(other, "config", "user.email", "o@example.com")
        git(other, "config", "user.name", "Other")
    (other / f"{name}.txt").write_text(name + "\n")
    git(other, "add", f"{name}.txt")
    git(other, "commit", "-q", "-m", f"merged: {name}")
    git(other, "push", "-q", "origin", "main")
    return git(other, "rev-parse", "HEAD").strip()


@pytest.fixture
def fleet(make_aod: Callable[..., AodProcess], tmp_path: Path) -> Iterator[Fleet]:
    with tmux_server() as tmux:
        aod = make_aod()
        records = aod.root / "records"
        records.mkdir()
        aod.write_config(config_text(tmux, records))
        aod.start()
        yield Fleet(aod, tmux, make_repo(tmp_path / "demo"))


def _base_of(session: dict[str, object]) -> str:
    return git(Path(str(session["workspace"])), "rev-parse", "HEAD").strip()


def test_a_new_session_starts_from_the_remotes_base_fetched_once_per_batch(fleet: Fleet, tmp_path: Path) -> None:
    bare = bare_remote(tmp_path, fleet.repo)
    fleet.ok("project", "add", str(fleet.repo))
    local_main = git(fleet.repo, "rev-parse", "main").strip()

    merged = commit_elsewhere(tmp_path, bare, "first")
    session = fleet.ok("spawn", "--task", "after a merge")
    assert _base_of(session) == merged != local_main
    assert fetches(tmp_path) == 1
    assert git(fleet.repo, "rev-parse", "main").strip() == local_main  # the user's branch is left alone

    for n in (1, 2, 3):
        fleet.ok("issue", "add", "--title", f"Issue {n}")
    merged_again = commit_elsewhere(tmp_path, bare, "second")
    batch = fleet.ok("batch-spawn", "1", "2", "3")
    assert len(batch["spawned"]) == 3
    assert {_base_of(s) for s in batch["spawned"]} == {merged_again}
    assert fetches(tmp_path) == 2  # one for the batch


def test_a_clone_workspace_starts_from_the_remotes_base_too(
    make_aod: Callable[..., AodProcess], tmp_path: Path
) -> None:
    with tmux_server() as tmux:
        aod = make_aod()
        records = aod.root / "records"
        records.mkdir()
        aod.write_config(config_text(tmux, records, "projects:\n  demo: {workspace: clone}\n"))
        aod.start()
        fleet = Fleet(aod, tmux, make_repo(tmp_path / "demo"))
        bare = bare_remote(tmp_path, fleet.repo)
        fleet.ok("project", "add", str(fleet.repo))
        merged = commit_elsewhere(tmp_path, bare, "first")
        session = fleet.ok("spawn", "--task", "in a clone")
        assert _base_of(session) == merged
        assert (Path(str(session["workspace"])) / "first.txt").read_text() == "first\n"


def test_an_unreachable_remote_falls_back_to_the_local_base_with_one_warning(fleet: Fleet, tmp_path: Path) -> None:
    git(fleet.repo, "remote", "add", "origin", str(tmp_path / "gone.git"))
    fleet.ok("project", "add", str(fleet.repo))
    for n in (1, 2):
        fleet.ok("issue", "add", "--title", f"Issue {n}")
    batch = fleet.ok("batch-spawn", "1", "2")
    assert {_base_of(s) for s in batch["spawned"]} == {git(fleet.repo, "rev-parse", "main").strip()}
    warnings = [json.loads(line) for line in fleet.aod.log().splitlines() if "could not fetch the base branch" in line]
    assert len(warnings) == 1 and warnings[0]["remote"] == "origin" and warnings[0]["level"] == "warning"


# -- open_pr: auto and push: auto against the GitHub emulator, backed by the bare remote ---------

SHOP = "acme/shop"
WORK = "/fake write feature.txt done\n/fake commit add the feature"


@pytest.fixture
def github(tmp_path: Path) -> Iterator[tuple[GithubEmulator, Path]]:
    """The emulator's acme/shop is a bare repository on disk: what is pushed there is on "GitHub"."""
    bare = tmp_path / "shop.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    emulator = GithubEmulator()
    yield emulator, bare
    emulator.close()


def _github_fleet(make_aod: Callable[..., AodProcess], tmux: str, tmp_path: Path, github: tuple[GithubEmulator, Path], settings: str) -> Fleet:
    emulator, bare = github
    repo = make_repo(tmp_path / "shop")
    # Fetches and the PR API go to "GitHub"; pushes land in the bare repository behind it.
    git(repo, "remote", "add", "origin", emulator.remote_url(SHOP))
    git(repo, "config", "remote.origin.pushurl", str(bare))
    git(repo, "push", "-q", "origin", "main")
    emulator.create_repo(SHOP, git_dir=str(bare))
    aod = make_aod(extra_env={"GH_TOKEN": emulator.token})
    records = aod.root / "records"
    records.mkdir()
    extra = f"github: {{api_url: '{emulator.api_url}', retry_backoff: 10ms}}\nprojects:\n  shop: {{forge: github, {settings}}}\n"
    aod.write_config(config_text(tmux, records, extra))
    aod.start()
    fleet = Fleet(aod, tmux, repo)
    fleet.ok("project", "add", str(repo))
    return fleet


def _pull_requests_asked(emulator: GithubEmulator) -> list[int]:
    return [r.status for r in emulator.requests() if r.method == "POST" and r.path.endswith("/pulls")]


def _ticks(fleet: Fleet) -> int:
    return int(fleet.aod.result("daemon.status")["last_tick"]["count"])


def _journal(fleet: Fleet, sid: str, kind: str) -> list[dict[str, object]]:
    return [e for e in fleet.ok("history", sid)["entries"] if e.get("kind") == kind]


def test_open_pr_auto_asks_once_per_head_when_the_commits_were_never_pushed(
    make_aod: Callable[..., AodProcess], tmp_path: Path, github: tuple[GithubEmulator, Path]
) -> None:
    emulator, bare = github
    with tmux_server() as tmux:
        fleet = _github_fleet(make_aod, tmux, tmp_path, github, "open_pr: auto")
        sid = fleet.ok("spawn", "--task", WORK)["id"]
        workspace = Path(fleet.session(sid)["workspace"])
        wait_for(lambda: "add the feature" in git(workspace, "log", "--oneline"), 30, "the agent's commit")
        wait_for(lambda: _pull_requests_asked(emulator), 30, "aod to ask GitHub for the PR")
        seen = _ticks(fleet)
        wait_for(lambda: _ticks(fleet) >= seen + 15, 30, "15 more ticks")
        assert _pull_requests_asked(emulator) == [422]  # refused (GitHub has no such branch): once
        [asked] = _journal(fleet, sid, "pr.auto")
        assert asked["ok"] is False and asked["failures"] == 1
        assert git(bare, "branch", "--list", f"ao/{sid}").strip() == ""  # push: agent: aod never pushed

        # A new head is a new question.
        fleet.ok("send", sid, "/fake write more.txt more\n/fake commit more work")
        wait_for(lambda: len(_pull_requests_asked(emulator)) == 2, 30, "a second ask, for the new head")
        seen = _ticks(fleet)
        wait_for(lambda: _ticks(fleet) >= seen + 10, 30, "10 more ticks")
        assert _pull_requests_asked(emulator) == [422, 422]


def test_push_auto_pushes_the_agents_commits_and_the_pr_opens_once(
    make_aod: Callable[..., AodProcess], tmp_path: Path, github: tuple[GithubEmulator, Path]
) -> None:
    emulator, bare = github
    with tmux_server() as tmux:
        fleet = _github_fleet(make_aod, tmux, tmp_path, github, "open_pr: auto, push: auto")
        sid = fleet.ok("spawn", "--task", WORK)["id"]
        workspace = Path(fleet.session(sid)["workspace"])
        wait_for(lambda: "add the feature" in git(workspace, "log", "--oneline"), 30, "the agent's commit")
        head = git(workspace, "rev-parse", "HEAD").strip()
        pr = fleet.wait_state(sid, lambda s: s["pr_number"] is not None, "the PR", 30)
        assert git(bare, "rev-parse", f"refs/heads/ao/{sid}").strip() == head  # pushed by aod
        assert emulator.pr(SHOP, int(pr["pr_number"])).head == f"ao/{sid}"
        seen = _ticks(fleet)
        wait_for(lambda: _ticks(fleet) >= seen + 10, 30, "10 more ticks")
        assert _pull_requests_asked(emulator) == [201]
        assert [e["ok"] for e in _journal(fleet, sid, "push.auto")] == [True]


def test_push_auto_never_forces_over_a_branch_that_diverged_on_the_remote(
    make_aod: Callable[..., AodProcess], tmp_path: Path, github: tuple[GithubEmulator, Path]
) -> None:
    emulator, bare = github
    with tmux_server() as tmux:
        fleet = _github_fleet(make_aod, tmux, tmp_path, github, "open_pr: auto, push: auto")
        sid = fleet.ok("spawn", "--task", "wait for it")["id"]
        # Someone else's commit is on the remote's copy of the session branch.
        other = tmp_path / "someone"
        git(tmp_path, "clone", "-q", str(bare), str(other))
        git(other, "-c", "user.email=s@example.com", "-c", "user.name=S", "commit", "-q", "--allow-empty", "-m", "theirs")
        git(other, "push", "-q", "origin", f"HEAD:refs/heads/ao/{sid}")
        theirs = git(other, "rev-parse", "HEAD").strip()

        fleet.ok("send", sid, WORK)
        wait_for(lambda: _journal(fleet, sid, "push.auto"), 30, "aod to try the push")
        [refused] = _journal(fleet, sid, "push.auto")
        assert refused["ok"] is False and "rejected" in str(refused["outcome"])
        assert git(bare, "rev-parse", f"refs/heads/ao/{sid}").strip() == theirs  # not forced
        seen = _ticks(fleet)
        wait_for(lambda: _ticks(fleet) >= seen + 10, 30, "10 more ticks")
        assert len(_journal(fleet, sid, "push.auto")) == 1  # backing off, not pushing each tick
        assert _pull_requests_asked(emulator) == []  # a head the remote lacks is not offered as a PR
