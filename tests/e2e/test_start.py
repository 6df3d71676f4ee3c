"""`aoctl start` and `aoctl stop` end to end, on a fresh HOME with no config file: aoctl and the
aod it starts as real processes, a real git repository, the scripted agent standing in for
Claude Code (`claude` on PATH), real tmux on a server of the test's own (TMUX_TMPDIR).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import git, make_repo
from tests.support.tmux import FAKE_AGENT


class Fresh:
    def __init__(self, aod: AodProcess, repo: Path, env: dict[str, str]) -> None:
        self.aod, self.repo, self.env = aod, repo, env

    def aoctl(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "aoctl", *args], env=self.env, cwd=cwd or self.repo,
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)

    def ok(self, *args: str) -> dict:
        done = self.aoctl("--json", *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture
def fresh(make_aod: Callable[..., AodProcess], tmp_path: Path) -> Iterator[Fresh]:
    aod = make_aod()
    bin_dir = aod.root / "bin"
    bin_dir.mkdir()
    claude = bin_dir / "claude"  # the scripted agent, drawing Claude Code's screens
    claude.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE_AGENT} --style claude \"$@\"\n")
    claude.chmod(claude.stat().st_mode | stat.S_IXUSR)
    tmux_dir = aod.root / "tmux"
    tmux_dir.mkdir(mode=0o700)
    env = {k: v for k, v in aod.env().items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    env |= {"PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", "TMUX_TMPDIR": str(tmux_dir)}
    repo = make_repo(tmp_path / "shop")
    git(repo, "remote", "add", "origin", "https://github.com/acme/shop.git")
    yield Fresh(aod, repo, env)
    subprocess.run([sys.executable, "-m", "aoctl", "stop", "--all"], env=env, capture_output=True, timeout=60)
    subprocess.run(["tmux", "-L", "ao", "kill-server"], env=env, capture_output=True, timeout=30)


def test_start_on_a_fresh_machine_brings_everything_up_and_a_second_run_changes_nothing(fresh: Fresh) -> None:
    assert not fresh.aod.config_path.exists()
    first = fresh.aoctl("start")
    assert first.returncode == 0, first.stderr + first.stdout
    text = first.stdout
    assert f"config   {fresh.aod.config_path} (written; agent claude-code)" in text
    assert "aod      started in the background" in text
    assert "project  shop added (local forge, base main)" in text
    # A GitHub remote without a token: the local forge, and a line saying why and what to do.
    assert "origin is on GitHub but no token was found" in text and "gh auth login" in text
    assert "doctor   all" in text
    assert "dashboard http://127.0.0.1:" in text and "#token=" in text

    config = fresh.aod.config_path.read_text()
    assert "agent: claude-code" in config and config.startswith("# aod's configuration")
    assert stat.S_IMODE(fresh.aod.config_path.stat().st_mode) == 0o600
    checked = fresh.aoctl("config", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr  # what it wrote is valid

    again = fresh.ok("start")
    assert again["changed"] is False
    assert again["config"]["written"] is False and again["daemon"]["how"] == "running"
    assert again["project"] == {**again["project"], "name": "shop", "added": False}
    assert fresh.aod.config_path.read_text() == config  # never overwritten
    assert [p["name"] for p in fresh.ok("project", "list")["projects"]] == ["shop"]
    human = fresh.aoctl("start")
    assert "Nothing to change" in human.stdout and "(kept as it is)" in human.stdout

    # From a subdirectory, or a linked worktree of the same repository: the same project.
    (fresh.repo / "src").mkdir()
    assert fresh.ok("start", str(fresh.repo / "src"))["project"]["name"] == "shop"
    git(fresh.repo, "worktree", "add", "-q", "-b", "side", str(fresh.repo.parent / "shop-side"))
    assert fresh.ok("start", str(fresh.repo.parent / "shop-side"))["project"]["name"] == "shop"


def test_start_refuses_what_is_not_a_repository_and_says_what_to_do(fresh: Fresh, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    refused = fresh.aoctl("start", str(plain))
    assert refused.returncode == 1 and "is not inside a git repository: run `git init` there" in refused.stderr
    assert "Traceback" not in refused.stderr
    unknown = fresh.aoctl("start", "--project", "nope")
    assert unknown.returncode == 1 and "no project 'nope'" in unknown.stderr


def test_stop_leaves_the_agents_running_and_start_picks_them_up_or_restores_them(fresh: Fresh) -> None:
    orchestrator = fresh.ok("start")["orchestrator"]["id"]
    sid = fresh.ok("spawn", "--task", "keep going")["id"]
    wait_for(lambda: fresh.ok("status")[0]["state"] == "working", 30, "the session working")

    stopped = fresh.ok("stop")
    assert stopped["stopped"] is True and stopped["killed"] == []
    assert subprocess.run(["tmux", "-L", "ao", "has-session", "-t", f"={sid}"], env=fresh.env).returncode == 0
    back = fresh.ok("start")
    assert back["daemon"]["how"] == "background" and back["restore"]["sessions"] == []
    assert back["orchestrator"] == {**back["orchestrator"], "id": orchestrator, "started": False}
    assert fresh.ok("status")[0]["state"] == "working"  # readopted, not restarted

    # The machine restarted: tmux and every agent are gone. The next start offers to restore them.
    fresh.ok("stop")
    subprocess.run(["tmux", "-L", "ao", "kill-server"], env=fresh.env, capture_output=True, timeout=30)
    fresh.ok("daemon", "start")
    wait_for(lambda: {s["state"] for s in fresh.ok("status", "--all")} == {"errored"}, 30, "the lost agents noticed")
    offered = fresh.aoctl("start", "--no-orchestrator")
    assert f"2 session(s) lost their agent ({orchestrator}, {sid})" in offered.stdout
    assert "aoctl start --restore" in offered.stdout
    restored = fresh.ok("start", "--restore")
    assert restored["restore"]["restored"] == [orchestrator, sid] and restored["changed"] is True
    assert restored["orchestrator"] == {**restored["orchestrator"], "id": orchestrator, "started": False}
    wait_for(lambda: fresh.ok("status")[0]["state"] == "working", 30, "the restored session working")

    everything = fresh.ok("stop", "--all")
    assert sorted(everything["killed"]) == sorted([orchestrator, sid])
    assert fresh.aoctl("ping").returncode == 3
    assert fresh.ok("stop") == {"stopped": False, "pid": None, "killed": []}
