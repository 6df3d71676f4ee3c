"""Sessions and the project's real git remote (a bare repository on disk): new sessions start
from the remote's base branch, fetched once per spawn batch; `push: auto` pushes their work.

aod and aoctl are processes, git is real, tmux is real, the scripted agent stands in for a model."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text, git, make_repo
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


def test_an_unreachable_remote_falls_back_to_the_local_base_with_one_warning(fleet: Fleet, tmp_path: Path) -> None:
    git(fleet.repo, "remote", "add", "origin", str(tmp_path / "gone.git"))
    fleet.ok("project", "add", str(fleet.repo))
    for n in (1, 2):
        fleet.ok("issue", "add", "--title", f"Issue {n}")
    batch = fleet.ok("batch-spawn", "1", "2")
    assert {_base_of(s) for s in batch["spawned"]} == {git(fleet.repo, "rev-parse", "main").strip()}
    warnings = [json.loads(line) for line in fleet.aod.log().splitlines() if "could not fetch the base branch" in line]
    assert len(warnings) == 1 and warnings[0]["remote"] == "origin" and warnings[0]["level"] == "warning"
